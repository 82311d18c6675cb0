/**
 * `berth build` and `berth builder prune`. A local daemon reads the context
 * directory in place (nothing is sent, and unchanged files are not re-hashed);
 * otherwise — a Dockerfile outside the context, `-` on stdin, or a daemon that
 * cannot see the directory — the context goes up as a tar with .dockerignore
 * applied here, as `docker build` does.
 *
 * Progress goes to stderr, one line per step (`[3/5] RUN make   done 1.2s`,
 * `CACHED`), with RUN output in between; `--progress plain` also says why a
 * step missed the cache. The image ID and tags go to stdout.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { ApiResponse } from '../client';
import { randomBytes } from 'node:crypto';
import { connect, readBody, type Client } from '../client';
import { ExitError, humanSize, out } from '../util';
import { walkContext, type ContextEntry } from '../../build/context';
import type { BuildEvent } from '../../build/progress';
import { writeTar, type TarWriteItem } from '../../image/tar/writer';
import { familiarString, parseReference, withDefaultTag } from '../../image/reference';

export interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  target?: string;
  /** commander's `--no-cache`. */
  cache?: boolean;
  label?: string[];
  quiet?: boolean;
  iidfile?: string;
  progress?: string;
  network?: string;
  /** `--secret id=…[,src=file|,env=VAR]`, repeatable. */
  secret?: string[];
  squash?: boolean;
  /** `-o`: where the result's files go besides the image (BuildKit's local and tar exporters). */
  output?: string[];
}

export type BuildOutput = { type: 'image' } | { type: 'local'; dest: string } | { type: 'tar'; dest: string };

/** buildx's `-o` forms: `DIR`, `-` (a tar on stdout), `type=local,dest=DIR`, `type=tar[,dest=FILE|-]`, `type=image|docker`. */
export function parseOutput(spec: string): BuildOutput {
  if (!spec.includes('=')) return spec === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: spec };
  const kv: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 1) throw new ExitError(`invalid output "${spec}": expected key=value pairs`, 1);
    kv[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const type = kv.type ?? 'local';
  if (type === 'image' || type === 'docker' || type === 'moby') return { type: 'image' };
  if (type !== 'local' && type !== 'tar') throw new ExitError(`output type "${type}" is not supported (local, tar, image)`, 1);
  const dest = kv.dest ?? (type === 'tar' ? '-' : undefined);
  if (!dest) throw new ExitError(`output type local needs dest= (e.g. -o type=local,dest=./out)`, 1);
  if (type === 'local' && dest === '-') throw new ExitError('output type local writes a directory; use type=tar for stdout', 1);
  return { type, dest };
}

/** Node's HTTP parser refuses heads over 16 KiB: secrets travel in one. */
const SECRETS_MAX = 12 << 10;

/**
 * buildx's --secret forms: `id=x,src=file` (also `source=`, `type=file`),
 * `id=x,env=VAR` (`type=env`), and `id=x` alone (a file of that name, else
 * the variable of that name).
 */
function secretsHeader(specs: string[] | undefined): string | undefined {
  if (!specs?.length) return undefined;
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const kv: Record<string, string> = {};
    for (const part of spec.split(',')) {
      const i = part.indexOf('=');
      if (i <= 0) throw new ExitError(`invalid secret "${spec}": expected key=value pairs (id=…,src=…)`, 125);
      kv[part.slice(0, i).trim().toLowerCase()] = part.slice(i + 1);
    }
    const id = kv.id;
    if (!id) throw new ExitError(`invalid secret "${spec}": id is required`, 125);
    const src = kv.src ?? kv.source;
    const envName = kv.env ?? (kv.type === 'env' ? id : undefined);
    let value: Buffer | undefined;
    if (src !== undefined && kv.type !== 'env') value = readFileSync(src);
    else if (envName !== undefined) value = process.env[envName] !== undefined ? Buffer.from(process.env[envName]!) : undefined;
    else if (existsSync(id)) value = readFileSync(id);
    else if (process.env[id] !== undefined) value = Buffer.from(process.env[id]!);
    if (value === undefined) throw new ExitError(`secret ${id}: no file or environment variable to read it from`, 125);
    out[id] = value.toString('base64');
  }
  const header = Buffer.from(JSON.stringify(out)).toString('base64');
  if (header.length > SECRETS_MAX) throw new ExitError(`secrets are ${header.length} bytes encoded; Berth passes at most ${SECRETS_MAX}`, 125);
  return header;
}

function keyValues(list: string[] | undefined, fromEnv: boolean): Record<string, string | null> {
  const outMap: Record<string, string | null> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i === 0) throw new ExitError(`invalid argument "${kv}": key is empty`, 125);
    if (i > 0) outMap[kv.slice(0, i)] = kv.slice(i + 1);
    else outMap[kv] = fromEnv ? (process.env[kv] ?? null) : '';
  }
  return outMap;
}

/** Context entries → a tar stream (file bodies read as the tar is sent). */
function contextTar(dir: string, entries: ContextEntry[], extra?: { name: string; data: Buffer }): Readable {
  const items = function* (): Generator<TarWriteItem> {
    for (const e of entries) {
      const base = { name: e.path, mode: e.mode, mtime: 0 };
      if (e.type === 'dir') yield { entry: { ...base, type: 'directory' } };
      else if (e.type === 'symlink') yield { entry: { ...base, type: 'symlink', linkname: e.linkTarget ?? '' } };
      else yield { entry: { ...base, type: 'file', size: e.size }, body: fileBody(join(dir, e.path), e.size) };
    }
    if (extra) yield { entry: { name: extra.name, type: 'file', mode: 0o644, size: extra.data.length }, body: extra.data };
  };
  return Readable.from(writeTar(items()));
}

async function* fileBody(path: string, size: number): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    let pos = 0;
    while (pos < size) {
      const buf = Buffer.alloc(Math.min(1 << 20, size - pos));
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) {
        yield Buffer.alloc(size - pos);
        return;
      }
      pos += n;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function readStdin(): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (d: Buffer) => chunks.push(d));
    process.stdin.on('end', () => res(Buffer.concat(chunks)));
    process.stdin.on('error', rej);
  });
}

const isArchive = (b: Buffer): boolean =>
  (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) || (b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar');

interface Upload {
  query: Record<string, string | undefined>;
  stream?: Readable;
}

/** How the context reaches the daemon: in place, or as a tar. */
async function prepareContext(path: string, file: string | undefined, inPlace: boolean): Promise<Upload> {
  if (path === '-') {
    const data = await readStdin();
    if (isArchive(data)) return { query: { dockerfile: file }, stream: Readable.from([data]) };
    // `berth build - < Dockerfile`: the Dockerfile alone, no context.
    return { query: { dockerfile: 'Dockerfile' }, stream: contextTar('/', [], { name: 'Dockerfile', data }) };
  }
  let dir: string;
  try {
    dir = realpathSync(resolve(path));
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new ExitError(`unable to prepare context: path "${path}" not found`, 1);
  }
  const dockerfilePath = resolve(file ?? join(dir, 'Dockerfile'));
  let realDockerfile = dockerfilePath;
  try {
    realDockerfile = join(realpathSync(dirname(dockerfilePath)), basename(dockerfilePath));
  } catch {
    // reported by the daemon as "Cannot locate specified Dockerfile"
  }
  const rel = relative(dir, realDockerfile);
  const inside = rel !== '' && !rel.startsWith('..' + sep) && rel !== '..';
  if (inside && inPlace) return { query: { dockerfile: rel.split(sep).join('/'), berthcontextdir: dir } };
  const entries = await walkContext(dir, { dockerfile: inside ? rel : undefined });
  if (inside) return { query: { dockerfile: rel.split(sep).join('/') }, stream: contextTar(dir, entries) };
  // A Dockerfile outside the context travels inside the tar under a name nothing else uses, as docker does.
  const name = `.dockerfile.${randomBytes(10).toString('hex')}`;
  let data: Buffer;
  try {
    data = readFileSync(dockerfilePath);
  } catch {
    throw new ExitError(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${dockerfilePath}: no such file or directory`, 1);
  }
  return { query: { dockerfile: name }, stream: contextTar(dir, entries, { name, data }) };
}

/** Renders the daemon's events: one line per step, RUN output in between. */
class Renderer {
  private header = '';
  private shown = false;
  private status = '';

  constructor(private readonly plain: boolean) {}

  private line(s: string): void {
    process.stderr.write(s + '\n');
  }

  private showHeader(): void {
    if (this.shown) return;
    this.shown = true;
    this.line(this.header);
  }

  event(ev: BuildEvent): void {
    switch (ev.type) {
      case 'step':
        this.header = `[${ev.index}/${ev.total}] ${ev.text}`;
        this.shown = false;
        this.status = '';
        break;
      case 'cached':
        this.status = 'CACHED';
        break;
      case 'miss':
        if (this.plain) {
          this.showHeader();
          this.line(`  cache miss: ${ev.reason}`);
        }
        break;
      case 'output':
        this.showHeader();
        process.stderr.write(ev.data);
        break;
      case 'done': {
        const status = this.status || `done ${(ev.ms / 1000).toFixed(2)}s`;
        this.line(this.shown ? `${this.header.split(' ')[0]} ${status}` : `${this.header}  ${status}`);
        this.shown = true;
        break;
      }
      case 'warning':
        this.line(`[Warning] ${ev.message}`);
        break;
      default:
        break;
    }
  }
}

interface StreamMessage {
  stream?: string;
  berth?: BuildEvent;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string; code?: number };
}

async function readMessages(res: ApiResponse, onMessage: (m: StreamMessage) => void): Promise<void> {
  const rl = createInterface({ input: res, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      onMessage(JSON.parse(line) as StreamMessage);
    } catch {
      process.stderr.write(line + '\n');
    }
  }
}

async function post(client: Client, query: Record<string, unknown>, upload: Upload, secrets?: string): Promise<ApiResponse> {
  const q = Object.fromEntries(Object.entries({ ...query, ...upload.query }).filter(([, v]) => v !== undefined)) as Record<string, string | string[]>;
  const headers: Record<string, string> = { 'Content-Type': 'application/x-tar' };
  if (secrets) headers['X-Berth-Build-Secrets'] = secrets;
  return client.raw('POST', '/build', { query: q, stream: upload.stream ?? Readable.from([]), headers });
}

export async function build(path: string, f: BuildFlags): Promise<number> {
  const outputs = (f.output ?? []).map(parseOutput).filter((o) => o.type !== 'image');
  if (outputs.length > 1) throw new ExitError('only one local or tar output can be given', 1);
  const r = await runBuild(path, f);
  if (r.code !== 0) return r.code;
  if (outputs[0]) {
    await exportResult(r.id, outputs[0]);
    // The tar went to stdout: nothing else may be written there.
    if (outputs[0].dest === '-') return 0;
  }
  if (f.quiet) out(`${r.id}\n`);
  else {
    out(`Successfully built ${r.id.slice(7, 19)}\n`);
    for (const t of f.tag ?? []) out(`Successfully tagged ${familiarString(withDefaultTag(parseReference(t)))}\n`);
  }
  return 0;
}

/** A build with its progress on stderr; resolves with the image ID, or the failure's exit code. */
export async function runBuild(path: string, f: BuildFlags): Promise<{ code: number; id: string }> {
  const client = await connect();
  const buildArgs = keyValues(f.buildArg, true);
  if (buildArgs.SOURCE_DATE_EPOCH === undefined && process.env.SOURCE_DATE_EPOCH) buildArgs.SOURCE_DATE_EPOCH = process.env.SOURCE_DATE_EPOCH;
  const query = {
    t: f.tag ?? [],
    buildargs: JSON.stringify(buildArgs),
    labels: JSON.stringify(keyValues(f.label, false)),
    target: f.target,
    nocache: f.cache === false ? '1' : undefined,
    squash: f.squash ? '1' : undefined,
    networkmode: f.network,
    berthprogress: '1',
  };
  const inPlace = !process.env.BERTH_BUILD_UPLOAD;
  const secrets = secretsHeader(f.secret);
  let res = await post(client, query, await prepareContext(path, f.file, inPlace), secrets);
  if (inPlace && res.statusCode === 400) {
    const body = (await readBody(res)).toString('utf8');
    // A daemon that cannot see this directory (another host or mount namespace): send the tar instead.
    if (!body.includes('berthcontextdir')) throw new ExitError(`Error response from daemon: ${errorText(body)}`, 1);
    res = await post(client, query, await prepareContext(path, f.file, false), secrets);
  }
  if ((res.statusCode ?? 500) >= 400) throw new ExitError(`Error response from daemon: ${errorText((await readBody(res)).toString('utf8'))}`, 1);

  const renderer = new Renderer(f.progress === 'plain');
  let id = '';
  let failure: { message: string; code: number } | undefined;
  await readMessages(res, (m) => {
    if (m.errorDetail || m.error) failure = { message: m.errorDetail?.message ?? m.error ?? 'build failed', code: m.errorDetail?.code || 1 };
    else if (m.aux?.ID) id = m.aux.ID;
    else if (m.berth && !f.quiet) renderer.event(m.berth);
    else if (m.stream !== undefined && !f.quiet) renderer.event({ type: 'output', data: m.stream });
  });
  if (failure) {
    process.stderr.write(`ERROR: ${failure.message}\n`);
    return { code: failure.code, id: '' };
  }
  if (!id) throw new ExitError('the daemon ended the build without an image ID', 1);
  if (f.iidfile) writeFileSync(f.iidfile, id);
  return { code: 0, id };
}

function errorText(body: string): string {
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body;
  } catch {
    return body.trim();
  }
}

export async function prune(_f: { all?: boolean; force?: boolean }): Promise<void> {
  const client = await connect();
  const r = await client.json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/build/prune');
  const ids = r.CachesDeleted ?? [];
  if (ids.length) out(`Deleted build cache objects:\n${ids.map((k) => k.slice(0, 25)).join('\n')}\n\n`);
  out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
}

/**
 * Writes the built image's files to the host, as BuildKit's local/tar
 * exporters: the image is created as a container that never starts, exported
 * (its layers merged, nothing the engine adds at start) and removed.
 */
async function exportResult(imageId: string, o: Exclude<BuildOutput, { type: 'image' }>): Promise<void> {
  const client = await connect();
  const created = await client.json<{ Id: string }>('POST', '/containers/create', { body: { Image: imageId, Entrypoint: ['/.berth-build-output'], Cmd: [], Labels: { 'io.berth.build.output': '1' }, HostConfig: { NetworkMode: 'none' } } });
  try {
    const res = await client.raw('GET', `/containers/${created.Id}/export`);
    if ((res.statusCode ?? 500) >= 400) throw new ExitError(`exporting the build result: ${(await readBody(res)).toString().trim()}`, 1);
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const { createWriteStream, mkdirSync } = require('node:fs') as typeof import('node:fs');
    const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
    if (o.type === 'tar') {
      await pipeline(res, o.dest === '-' ? process.stdout : createWriteStream(resolve(o.dest)), { end: o.dest !== '-' });
      return;
    }
    const dest = resolve(o.dest);
    mkdirSync(dest, { recursive: true });
    // The host's tar, as `cp` uses: it keeps entries inside dest and does not follow the image's symlinks out.
    const tar = spawn('tar', ['-x', '-p', '-C', dest], { stdio: ['pipe', 'inherit', 'inherit'] });
    const [, code] = await Promise.all([pipeline(res, tar.stdin), new Promise<number>((r) => tar.on('close', (c) => r(c ?? 1)))]);
    if (code !== 0) throw new ExitError(`extracting the build result into ${dest} failed`, 1);
  } finally {
    await client.call('DELETE', `/containers/${created.Id}`, { query: { force: 1 } }).catch(() => undefined);
  }
}

