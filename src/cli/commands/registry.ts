/**
 * Registry verbs: pull and push through the daemon (JSON progress rendered
 * per layer), search (the daemon asks the registry's v1 search API), login/logout (credentials checked by the daemon, stored in
 * ~/.docker/config.json by the CLI, as docker does), and `registry serve|gc`,
 * which run in this process: the registry server needs no daemon.
 */
import { join } from 'node:path';
import { connect, readBody } from '../client';
import { renderFormat } from '../format';
import { ExitError, filtersJson, out } from '../util';
import { familiarString, fullString, parseReference, withDefaultTag } from '../../image/reference';
import { encodeRegistryAuth, loadCredentials, normalizeServer, removeCredentials, saveCredentials } from '../../registry/credentials';

interface JsonMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Digest?: string };
}

/** Bytes per second as a person reads it (decimal units, as the bars' sizes). */
function rate(bytesPerSec: number): string {
  return bytesPerSec >= 1e6 ? `${(bytesPerSec / 1e6).toFixed(1)}MB/s` : `${(bytesPerSec / 1e3).toFixed(0)}kB/s`;
}

/**
 * Renders Docker's JSON progress: on a terminal one redrawn line per layer
 * (bar, bytes and speed), else one line per status change; a summary line
 * with the bytes moved and the overall speed closes a pull or push.
 */
class ProgressRenderer {
  private order: string[] = [];
  private lines = new Map<string, string>();
  private readonly tty: boolean;
  private readonly out: (s: string) => void;

  /** On stderr for the pulls `run` and `create` make: stdout is the container's. */
  constructor(toStderr = false) {
    const stream = toStderr ? process.stderr : process.stdout;
    this.tty = !!stream.isTTY && !process.env.BERTH_NO_TTY;
    this.out = toStderr ? (t) => void process.stderr.write(t) : out;
  }

  private readonly started = Date.now();
  /** Per layer: when its bytes started moving, and how many have. */
  private transfers = new Map<string, { since: number; bytes: number }>();

  handle(m: JsonMessage): void {
    if (m.error || m.errorDetail) throw new ExitError(m.errorDetail?.message ?? m.error ?? 'unknown error', 1);
    if (m.aux || m.status === undefined) return;
    if (m.id === undefined) {
      this.out(`${m.status}\n`);
      return;
    }
    let speed = '';
    const cur = m.progressDetail?.current;
    if (cur !== undefined && m.progress) {
      const t = this.transfers.get(m.id) ?? { since: Date.now(), bytes: 0 };
      t.bytes = cur;
      this.transfers.set(m.id, t);
      const secs = (Date.now() - t.since) / 1000;
      if (secs > 0.2) speed = ` ${rate(cur / secs)}`;
    }
    const text = `${m.id}: ${m.status}${m.progress ? ` ${m.progress}${speed}` : ''}`;
    if (!this.tty) {
      if (m.progress) return;
      this.out(`${text}\n`);
      return;
    }
    if (!this.lines.has(m.id)) {
      this.order.push(m.id);
      this.lines.set(m.id, text);
      this.out(`${text}\n`);
      return;
    }
    this.lines.set(m.id, text);
    const up = this.order.length - this.order.indexOf(m.id);
    this.out(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  }

  /** "4 layers, 209.7MB in 2.2s (95.3MB/s)", or nothing when no bytes moved (all present already). */
  summary(verb: string): string | undefined {
    let bytes = 0;
    for (const t of this.transfers.values()) bytes += t.bytes;
    if (bytes === 0) return undefined;
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    const n = this.transfers.size;
    return `${verb} ${n} layer${n === 1 ? '' : 's'}, ${(bytes / 1e6).toFixed(1)}MB in ${secs.toFixed(1)}s (${rate(bytes / secs)})`;
  }
}

async function streamProgress(res: import('../client').ApiResponse, quiet: boolean, verb: string, toStderr = false): Promise<void> {
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
  const r = new ProgressRenderer(toStderr);
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
  const summary = quiet ? undefined : r.summary(verb);
  if (summary) process.stderr.write(`${summary}\n`);
}

async function authHeader(domain: string): Promise<string> {
  return encodeRegistryAuth(await loadCredentials(domain), domain);
}

export async function pull(name: string, f: { platform?: string; quiet?: boolean }): Promise<void> {
  const ref = await pullImage(name, f);
  if (f.quiet) out(`${familiarString(ref)}\n`);
  else out(`${fullString(ref)}\n`);
}

/** Pulls with the user's credentials, progress on stderr unless quiet (also `kube play`'s pulls); returns the reference. */
export async function pullImage(name: string, f: { platform?: string; quiet?: boolean; toStderr?: boolean }): Promise<ReturnType<typeof withDefaultTag>> {
  const ref = withDefaultTag(parseReference(name));
  const client = await connect();
  const fromImage = familiarString({ domain: ref.domain, path: ref.path });
  const tag = ref.digest ?? ref.tag;
  const res = await client.raw('POST', '/images/create', { query: { fromImage, tag, platform: f.platform }, headers: { 'X-Registry-Auth': await authHeader(ref.domain) } });
  await streamProgress(res, !!f.quiet, 'Pulled', f.toStderr);
  return ref;
}

export async function push(name: string, f: { quiet?: boolean }): Promise<void> {
  const ref = withDefaultTag(parseReference(name));
  const client = await connect();
  const repo = familiarString({ domain: ref.domain, path: ref.path });
  const res = await client.raw('POST', `/images/${repo}/push`, { query: { tag: ref.tag }, headers: { 'X-Registry-Auth': await authHeader(ref.domain) } });
  await streamProgress(res, !!f.quiet, 'Pushed');
  if (f.quiet) out(`${familiarString(ref)}\n`);
}

interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

/** Docker's formatter.Ellipsis: at most `max` characters, the last one '…' when cut. */
function ellipsis(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

/** The index a search term goes to, as the daemon decides (for the credentials to send). */
function searchDomain(term: string): string {
  const slash = term.indexOf('/');
  const first = term.slice(0, slash);
  return slash > 0 && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

export async function search(term: string, f: { limit?: string; filter?: string[]; format?: string; trunc?: boolean; noTrunc?: boolean }): Promise<void> {
  let limit: number | undefined;
  if (f.limit !== undefined) {
    limit = Number(f.limit);
    if (!/^-?\d+$/.test(f.limit)) throw new ExitError(`invalid argument "${f.limit}" for "--limit" flag: strconv.ParseInt: parsing "${f.limit}": invalid syntax`, 125);
  }
  const client = await connect();
  const results = await client.json<SearchResult[]>('GET', '/images/search', {
    query: { term, limit: limit || undefined, filters: filtersJson(f.filter) },
    headers: { 'X-Registry-Auth': await authHeader(searchDomain(term)) },
  });
  const trunc = f.trunc !== false && !f.noTrunc;
  const rows = results.map((r) => ({
    Name: r.name,
    Description: trunc ? ellipsis(r.description.replace(/[\r\n]/g, ' '), 45) : r.description.replace(/[\r\n]/g, ' '),
    StarCount: String(r.star_count),
    IsOfficial: r.is_official ? '[OK]' : '',
    IsAutomated: r.is_automated ? '[OK]' : '',
  }));
  out(renderFormat(f.format ?? '', rows, {
    defaultFormat: 'table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}',
    headers: { Name: 'NAME', Description: 'DESCRIPTION', StarCount: 'STARS', IsOfficial: 'OFFICIAL', IsAutomated: 'AUTOMATED' },
  }));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Reads one line from the terminal in raw mode: typed characters are echoed
 * unless `hidden` (passwords). Ctrl-C aborts, Ctrl-D on an empty line ends.
 */
function promptLine(question: string, hidden: boolean): Promise<string> {
  const stdin = process.stdin;
  // The terminal stops echoing before the question shows: an answer typed the moment it
  // appears must not be echoed either.
  stdin.setRawMode(true);
  out(question);
  return new Promise((resolve, reject) => {
    let line = '';
    const done = (err?: ExitError) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      out('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\x03') return done(new ExitError('', 130));
        if (ch === '\x04') {
          if (line === '') return done();
          continue;
        }
        if (ch === '\x7f' || ch === '\b') {
          if (line) {
            line = [...line].slice(0, -1).join('');
            if (!hidden) out('\b \b');
          }
          continue;
        }
        if (ch < ' ') continue;
        line += ch;
        if (!hidden) out(ch);
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

export async function login(server: string | undefined, f: { username?: string; password?: string; passwordStdin?: boolean }): Promise<void> {
  const domain = normalizeServer(server);
  let username = f.username;
  let password = f.password;
  if (f.passwordStdin) {
    if (f.password) throw new ExitError('--password and --password-stdin are mutually exclusive', 1);
    if (!f.username) throw new ExitError('Must provide --username with --password-stdin', 1);
    password = await readStdin();
  }
  if (username === undefined || password === undefined) {
    // As docker: prompt on a terminal for what the flags did not give.
    if (!process.stdin.isTTY) throw new ExitError('Error: Cannot perform an interactive login from a non TTY device', 1);
    if (username === undefined) {
      const stored = (await loadCredentials(domain).catch(() => undefined))?.username;
      username = (await promptLine(stored ? `Username (${stored}): ` : 'Username: ', false)).trim() || stored || '';
      if (!username) throw new ExitError('Error: Non-null Username Required', 1);
    }
    if (password === undefined) {
      password = await promptLine('Password: ', true);
      if (!password) throw new ExitError('Error: Password Required', 1);
    }
  }
  if (f.password) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  const client = await connect();
  await client.json('POST', '/auth', { body: { username, password, serveraddress: domain } });
  await saveCredentials(domain, username, password);
  out('Login Succeeded\n');
}

export async function logout(server: string | undefined): Promise<void> {
  const domain = normalizeServer(server);
  const had = await removeCredentials(domain);
  out(had ? `Removing login credentials for ${domain === 'docker.io' ? 'https://index.docker.io/v1/' : domain}\n` : `Not logged in to ${domain}\n`);
}

/** The server bundle beside this one (scripts/build.mjs builds it from src/registry/server/index.ts). */
function registryServer(): typeof import('../../registry/server') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(__dirname, 'registry-server.js')) as typeof import('../../registry/server');
}

/**
 * Runs the registry in the foreground. Access log lines go to stdout
 * (combined log format, or JSON lines); startup and shutdown to stderr.
 * SIGINT/SIGTERM stop accepting, let in-flight requests finish (up to the
 * drain timeout, then connections are cut), close the storage, exit 0; a
 * second signal exits at once.
 */
export async function serve(f: import('../../registry/server').ServeFlags): Promise<void> {
  const { createRegistryServer, openStorage, parseAddr, resolveServeSettings } = registryServer();
  const s = await resolveServeSettings(f);
  const { host, port } = parseAddr(s.addr);
  const storage = await openStorage(s.storage);
  const server = await createRegistryServer({
    storage,
    htpasswd: s.htpasswd?.path,
    htpasswdRealm: s.htpasswd?.realm,
    token: s.token,
    tls: s.tls,
    log: !s.log.access ? undefined : s.log.format === 'json' ? (_l, e) => out(`${JSON.stringify({ ...e, time: e.time.toISOString() })}\n`) : (l) => out(`${l}\n`),
  });
  let stopping = false;
  // During the drain, every response closes its connection, so keep-alive clients let go.
  server.prependListener('request', (_req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    if (!stopping) return;
    res.setHeader('Connection', 'close');
    res.once('finish', () => server.closeIdleConnections());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  const auth = s.htpasswd ? ', htpasswd auth' : s.token ? `, token auth (realm ${s.token.realm})` : '';
  process.stderr.write(`berth registry listening on ${s.tls ? 'https' : 'http'}://${typeof a === 'object' && a ? `${a.address}:${a.port}` : s.addr} (${storage.description}${auth})\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      if (stopping) {
        process.stderr.write(`berth registry: ${sig} again, exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(`berth registry: ${sig}, draining in-flight requests (up to ${Math.round(s.drainTimeoutMs / 1000)}s)\n`);
      const cut = setTimeout(() => server.closeAllConnections(), s.drainTimeoutMs);
      cut.unref();
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  await storage.close();
  process.stderr.write('berth registry: stopped\n');
}

export async function gc(f: import('../../registry/server').ServeFlags & { dryRun?: boolean }): Promise<void> {
  const { collectGarbage, openStorage, resolveServeSettings } = registryServer();
  const storage = await openStorage((await resolveServeSettings(f)).storage);
  try {
    const r = await collectGarbage(storage, { dryRun: f.dryRun });
    for (const d of r.deleted) out(`${f.dryRun ? 'would delete' : 'deleted'} blob ${d}\n`);
    out(`${r.marked} blobs marked, ${r.deleted.length} ${f.dryRun ? 'eligible for deletion' : 'deleted'} (${r.freedBytes} bytes), ${r.uploadsPurged} stale uploads purged\n`);
  } finally {
    await storage.close();
  }
}
