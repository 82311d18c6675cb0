/**
 * Registry verbs: pull and push through the daemon (JSON progress rendered
 * per layer), login/logout (credentials checked by the daemon, stored in
 * ~/.docker/config.json by the CLI, as docker does), and `registry serve|gc`,
 * which run in this process: the registry server needs no daemon.
 */
import { connect, readBody } from '../client';
import { ExitError, out } from '../util';
import { familiarString, fullString, parseReference, withDefaultTag } from '../../image/reference';
import { encodeRegistryAuth, loadCredentials, normalizeServer, removeCredentials, saveCredentials } from '../../registry/credentials';

interface JsonMessage {
  id?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Digest?: string };
}

/** Renders Docker's JSON progress: on a terminal one redrawn line per layer, else one line per status change. */
class ProgressRenderer {
  private order: string[] = [];
  private lines = new Map<string, string>();
  private readonly tty = !!process.stdout.isTTY && !process.env.BERTH_NO_TTY;

  handle(m: JsonMessage): void {
    if (m.error || m.errorDetail) throw new ExitError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
    if (m.aux || m.status === undefined) return;
    if (m.id === undefined) {
      out(`${m.status}\n`);
      return;
    }
    const text = `${m.id}: ${m.status}${m.progress ? ` ${m.progress}` : ''}`;
    if (!this.tty) {
      if (m.progress) return;
      out(`${text}\n`);
      return;
    }
    if (!this.lines.has(m.id)) {
      this.order.push(m.id);
      this.lines.set(m.id, text);
      out(`${text}\n`);
      return;
    }
    this.lines.set(m.id, text);
    const up = this.order.length - this.order.indexOf(m.id);
    out(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  }
}

async function streamProgress(res: import('node:http').IncomingMessage, quiet: boolean): Promise<void> {
  if ((res.statusCode ?? 500) >= 400) {
    const body = (await readBody(res)).toString('utf8');
    let msg = body;
    try {
      msg = (JSON.parse(body) as { message: string }).message;
    } catch {
      // plain text
    }
    throw new ExitError(`Error response from daemon: ${msg}`, 1);
  }
  const r = new ProgressRenderer();
  let buf = '';
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      const m = JSON.parse(line) as JsonMessage;
      if (quiet && !m.error && !m.errorDetail) continue;
      r.handle(m);
    }
  }
}

async function authHeader(domain: string): Promise<string> {
  return encodeRegistryAuth(await loadCredentials(domain), domain);
}

export async function pull(name: string, f: { platform?: string; quiet?: boolean }): Promise<void> {
  const ref = withDefaultTag(parseReference(name));
  const client = await connect();
  const fromImage = familiarString({ domain: ref.domain, path: ref.path });
  const tag = ref.digest ?? ref.tag;
  const res = await client.raw('POST', '/images/create', { query: { fromImage, tag, platform: f.platform }, headers: { 'X-Registry-Auth': await authHeader(ref.domain) } });
  await streamProgress(res, !!f.quiet);
  if (f.quiet) out(`${familiarString(ref)}\n`);
  else out(`${fullString(ref)}\n`);
}

export async function push(name: string, f: { quiet?: boolean }): Promise<void> {
  const ref = withDefaultTag(parseReference(name));
  const client = await connect();
  const repo = familiarString({ domain: ref.domain, path: ref.path });
  const res = await client.raw('POST', `/images/${repo}/push`, { query: { tag: ref.tag }, headers: { 'X-Registry-Auth': await authHeader(ref.domain) } });
  await streamProgress(res, !!f.quiet);
  if (f.quiet) out(`${familiarString(ref)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function login(server: string | undefined, f: { username?: string; password?: string; passwordStdin?: boolean }): Promise<void> {
  const domain = normalizeServer(server);
  let password = f.password;
  if (f.passwordStdin) {
    if (f.password) throw new ExitError('--password and --password-stdin are mutually exclusive', 1);
    if (!f.username) throw new ExitError('Must provide --username with --password-stdin', 1);
    password = await readStdin();
  }
  if (!f.username || password === undefined) throw new ExitError('Error: Cannot perform an interactive login from a non TTY device; use --username and --password-stdin', 1);
  if (f.password) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  const client = await connect();
  await client.json('POST', '/auth', { body: { username: f.username, password, serveraddress: domain } });
  await saveCredentials(domain, f.username, password);
  out('Login Succeeded\n');
}

export async function logout(server: string | undefined): Promise<void> {
  const domain = normalizeServer(server);
  const had = await removeCredentials(domain);
  out(had ? `Removing login credentials for ${domain === 'docker.io' ? 'https://index.docker.io/v1/' : domain}\n` : `Not logged in to ${domain}\n`);
}

/** Runs the registry in the foreground; SIGINT/SIGTERM stop accepting, drain, exit 0. */
export async function serve(f: { addr?: string; root?: string; quiet?: boolean; htpasswd?: string; tlsCert?: string; tlsKey?: string }): Promise<void> {
  const { createRegistryServer } = await import('../../registry/server/server');
  const addr = f.addr ?? '127.0.0.1:5000';
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(addr.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new ExitError(`invalid --addr "${addr}": want HOST:PORT`, 1);
  const root = f.root ?? '/var/lib/berth-registry';
  if (!!f.tlsCert !== !!f.tlsKey) throw new ExitError('--tls-cert and --tls-key go together', 1);
  const server = await createRegistryServer({
    root,
    htpasswd: f.htpasswd,
    tls: f.tlsCert && f.tlsKey ? { cert: f.tlsCert, key: f.tlsKey } : undefined,
    log: f.quiet ? undefined : (l) => process.stderr.write(`${new Date().toISOString()} ${l}\n`),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  process.stderr.write(`berth registry listening on ${f.tlsCert ? 'https' : 'http'}://${typeof a === 'object' && a ? `${a.address}:${a.port}` : addr} (root ${root}${f.htpasswd ? ', htpasswd auth' : ''})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.stderr.write('berth registry: shutting down\n');
      server.close(() => resolve());
      server.closeIdleConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export async function gc(f: { root?: string; dryRun?: boolean }): Promise<void> {
  const { collectGarbage } = await import('../../registry/server/gc');
  const r = await collectGarbage(f.root ?? '/var/lib/berth-registry', { dryRun: f.dryRun });
  for (const d of r.deleted) out(`${f.dryRun ? 'would delete' : 'deleted'} blob ${d}\n`);
  out(`${r.marked} blobs marked, ${r.deleted.length} ${f.dryRun ? 'eligible for deletion' : 'deleted'} (${r.freedBytes} bytes), ${r.uploadsPurged} stale uploads purged\n`);
}
