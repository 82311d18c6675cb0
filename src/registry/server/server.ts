/**
 * `berth registry serve`: an OCI distribution registry over node:http on top
 * of a storage driver (filesystem or S3, see storage.ts). Routes follow the
 * distribution spec; every error is the spec's `{"errors":[…]}` body with its
 * code. Auth (htpasswd basic or bearer tokens) is checked per route against
 * the access that route needs, as distribution's access controllers do.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { type Access, type Authenticator, type Grant, loadHtpasswd } from './auth';
import { InvalidArgumentError } from '../../errors';
import { type Digest, isValidDigest, sha256 } from '../../image/digest';
import { blobUnknown, digestInvalid, manifestUnknown, nameUnknown, RegistryHttpError } from './errors';
import { CachedStorage } from './cache';
import type { RegistryStorage } from './storage';
import { FsStorage } from './storage-fs';
import { checkManifestRefs, parsePushedManifest } from './manifests';
import { loadTokenAuth, type TokenAuthOptions } from './token';

export const MAX_MANIFEST_BYTES = 4 << 20;
/** Upper bound on `n` for catalog and tag listing (distribution's fix for CVE-2023-2253). */
export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/** One finished request, for the access log. */
export interface RequestLogEntry {
  remote: string;
  user?: string;
  time: Date;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  bytes: number;
  durationMs: number;
  referer?: string;
  userAgent?: string;
}

export interface RegistryServerOptions {
  /** Filesystem root, used when `storage` is not given. */
  root?: string;
  /** A storage driver (e.g. S3Storage); the server owns it and closes it on `close`. */
  storage?: RegistryStorage;
  /** htpasswd file (bcrypt entries): every request needs basic auth. */
  htpasswd?: string;
  /** Realm of the Basic challenge (default berth-registry). */
  htpasswdRealm?: string;
  /** Bearer token auth as distribution's `auth.token` (exclusive with htpasswd). */
  token?: TokenAuthOptions;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** Called once per request after the response finished (request log). */
  log?: (line: string, entry: RequestLogEntry) => void;
  /** Cache of links and manifests in front of the storage; 0 disables it (default 2000 ms). */
  cacheTtlMs?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, name: string, arg: string, url: URL, grant: Grant) => Promise<void>;

interface Route {
  re: RegExp;
  table: Record<string, Handler>;
  /** Actions a method needs on the repository (token scopes). */
  actions: Record<string, string[]>;
}

const PULL = ['pull'];
const PUSH = ['pull', 'push'];
const DELETE = ['delete'];

/** Apache's combined log format, as distribution's access log writes it. */
export function combinedLogLine(e: RequestLogEntry): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const t = e.time;
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const off = -t.getTimezoneOffset();
  const tz = `${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const ts = `${pad(t.getDate())}/${months[t.getMonth()]}/${t.getFullYear()}:${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())} ${tz}`;
  const q = (s: string | undefined) => (s ? `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"` : '"-"');
  return `${e.remote} - ${e.user || '-'} [${ts}] "${e.method} ${e.url} HTTP/${e.httpVersion}" ${e.status} ${e.bytes} ${q(e.referer)} ${q(e.userAgent)}`;
}

export async function createRegistryServer(opts: RegistryServerOptions): Promise<Server> {
  if (!opts.storage && !opts.root) throw new InvalidArgumentError('the registry server needs a root directory or a storage driver');
  const inner = opts.storage ?? new FsStorage(opts.root!);
  await inner.init();
  const store = opts.cacheTtlMs === 0 ? inner : new CachedStorage(inner, { ttlMs: opts.cacheTtlMs });
  const h = new Handlers(store);
  const routes: Route[] = [
    {
      re: /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/,
      table: { POST: h.startUpload, GET: h.uploadStatus, PATCH: h.patchUpload, PUT: h.putUpload, DELETE: h.cancelUpload },
      actions: { POST: PUSH, GET: PUSH, PATCH: PUSH, PUT: PUSH, DELETE: PUSH },
    },
    { re: /^\/v2\/(.+)\/blobs\/([^/]+)$/, table: { GET: h.getBlob, HEAD: h.getBlob, DELETE: h.deleteBlob }, actions: { GET: PULL, HEAD: PULL, DELETE: DELETE } },
    {
      re: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
      table: { GET: h.getManifest, HEAD: h.getManifest, PUT: h.putManifest, DELETE: h.deleteManifest },
      actions: { GET: PULL, HEAD: PULL, PUT: PUSH, DELETE: DELETE },
    },
    { re: /^\/v2\/(.+)\/tags\/(list)$/, table: { GET: h.tags }, actions: { GET: PULL } },
    { re: /^\/v2\/(.+)\/referrers\/([^/]+)$/, table: { GET: h.referrers }, actions: { GET: PULL } },
  ];
  if (opts.htpasswd && opts.token) throw new InvalidArgumentError('choose htpasswd or token auth, not both');
  const auth: Authenticator | undefined = opts.htpasswd ? loadHtpasswd(opts.htpasswd, opts.htpasswdRealm) : opts.token ? loadTokenAuth(opts.token) : undefined;
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key), keepAlive: true })
    : createServer({ keepAlive: true });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    let user: string | undefined;
    if (opts.log) {
      const log = opts.log;
      res.on('finish', () => {
        const entry: RequestLogEntry = {
          remote: req.socket.remoteAddress ?? '-',
          user,
          time: new Date(started),
          method: req.method ?? '-',
          url: req.url ?? '-',
          httpVersion: req.httpVersion,
          status: res.statusCode,
          bytes: Number(res.getHeader('content-length') ?? 0),
          durationMs: Date.now() - started,
          referer: req.headers.referer,
          userAgent: req.headers['user-agent'],
        };
        log(combinedLogLine(entry), entry);
      });
    }
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://registry');
      const path = url.pathname;
      const method = req.method ?? 'GET';
      const authorize = async (access: Access[]): Promise<Grant> => {
        if (!auth) return { allows: () => true };
        const r = await auth.check(req, access);
        if (!r.ok) {
          res.setHeader('WWW-Authenticate', r.challenge);
          throw r.error ?? new RegistryHttpError(401, 'UNAUTHORIZED', 'authentication required', access.length ? access : undefined);
        }
        user = r.user;
        return r.grant;
      };
      if (path === '/v2/' || path === '/v2') {
        if (method !== 'GET' && method !== 'HEAD') throw new RegistryHttpError(405, 'UNSUPPORTED', 'method not allowed');
        await authorize([]);
        send(res, 200, '{}', { 'Content-Type': 'application/json' }, method === 'HEAD');
        return;
      }
      if (path === '/v2/_catalog') {
        if (method !== 'GET') throw new RegistryHttpError(405, 'UNSUPPORTED', 'method not allowed');
        const grant = await authorize([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
        await h.catalog(req, res, '', '', url, grant);
        return;
      }
      for (const { re, table, actions } of routes) {
        const m = re.exec(path);
        if (!m) continue;
        const name = decodeURIComponent(m[1]);
        if (!NAME_RE.test(name) || name.length > 255) throw new RegistryHttpError(400, 'NAME_INVALID', 'invalid repository name', { name });
        const fn = table[method];
        if (!fn) throw new RegistryHttpError(405, 'UNSUPPORTED', `${method} not supported here`);
        const grant = await authorize([{ type: 'repository', name, actions: actions[method] }]);
        await fn(req, res, name, decodeURIComponent(m[2]), url, grant);
        return;
      }
      throw new RegistryHttpError(404, 'NAME_UNKNOWN', 'not found');
    })().catch((e: unknown) => {
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const err = e instanceof RegistryHttpError ? e : new RegistryHttpError(500, 'UNKNOWN', `internal error: ${e instanceof Error ? e.message : String(e)}`);
      send(res, err.status, err.body(), { 'Content-Type': 'application/json; charset=utf-8' }, req.method === 'HEAD');
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  server.on('close', () => void store.close().catch(() => undefined));
  return server;
}

function send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string | number>, head = false): void {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function parseDigestParam(s: string | null): Digest {
  if (s === null || !isValidDigest(s)) throw new RegistryHttpError(400, 'DIGEST_INVALID', 'invalid or unsupported digest', s ?? '');
  return s;
}

async function readCapped(req: IncomingMessage, cap: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > cap) throw new RegistryHttpError(413, 'SIZE_INVALID', `manifest exceeds the ${cap}-byte limit`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > cap) throw new RegistryHttpError(413, 'SIZE_INVALID', `manifest exceeds the ${cap}-byte limit`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function pageSize(url: URL): number {
  const raw = url.searchParams.get('n');
  if (raw === null || raw === '') return DEFAULT_PAGE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE) throw new RegistryHttpError(400, 'PAGINATION_NUMBER_INVALID', `invalid number of results requested (max ${MAX_PAGE})`, { n: raw });
  return n;
}

/** Returns one page after `last`, and a Link header when more remain. */
function paginate(all: string[], url: URL, path: string): { items: string[]; link?: string } {
  const n = pageSize(url);
  const last = url.searchParams.get('last');
  const rest = last ? all.filter((x) => x > last) : all;
  const items = rest.slice(0, n);
  if (rest.length > n && items.length > 0) return { items, link: `<${path}?n=${n}&last=${encodeURIComponent(items[items.length - 1])}>; rel="next"` };
  return { items };
}

class Handlers {
  constructor(private readonly store: RegistryStorage) {}

  getBlob: Handler = async (req, res, name, arg) => {
    const d = parseDigestParam(arg);
    const size = await this.store.blobSize(name, d);
    if (size === undefined) throw blobUnknown(d);
    const base = { 'Docker-Content-Digest': d, ETag: `"${d}"`, 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Cache-Control': 'max-age=31536000' };
    const range = req.headers.range;
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) throw new RegistryHttpError(416, 'RANGE_INVALID', 'invalid range');
      if (m[1] === '') start = Math.max(0, size - Number(m[2]));
      else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
      }
      if (start > end || start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
        res.end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string | number> = { ...base, 'Content-Length': end - start + 1 };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    if (req.method === 'HEAD' || size === 0) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    // Opened before the headers go out, so a blob deleted underneath is still a clean 404.
    const body = await this.store.openBlob(d, { start, end });
    res.writeHead(status, headers);
    await pipeline(body, res);
  };

  deleteBlob: Handler = async (_req, res, name, arg) => {
    const d = parseDigestParam(arg);
    if (!(await this.store.unlinkBlob(name, d))) throw blobUnknown(d);
    send(res, 202, '', {});
  };

  startUpload: Handler = async (req, res, name, arg, url, grant) => {
    if (arg !== '') throw new RegistryHttpError(405, 'UNSUPPORTED', 'POST to an upload URL');
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    // Without pull access to the source repository, a mount falls back to an upload (as distribution does).
    if (mount !== null && from !== null && isValidDigest(mount) && NAME_RE.test(from) && grant.allows('repository', from, 'pull')) {
      if ((await this.store.blobSize(from, mount)) !== undefined) {
        await this.store.linkBlob(name, mount);
        req.resume();
        send(res, 201, '', { Location: `/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount });
        return;
      }
    }
    const id = await this.store.startUpload(name);
    const digest = url.searchParams.get('digest');
    if (digest !== null) {
      // Monolithic upload in the POST itself.
      const d = parseDigestParam(digest);
      await this.store.commitUpload(name, id, d, req as AsyncIterable<Buffer>);
      send(res, 201, '', { Location: `/v2/${name}/blobs/${d}`, 'Docker-Content-Digest': d });
      return;
    }
    req.resume();
    send(res, 202, '', { Location: `/v2/${name}/blobs/uploads/${id}`, Range: '0-0', 'Docker-Upload-UUID': id });
  };

  uploadStatus: Handler = async (_req, res, name, id) => {
    const off = await this.store.uploadOffset(name, id);
    send(res, 204, '', { Location: `/v2/${name}/blobs/uploads/${id}`, Range: `0-${Math.max(0, off - 1)}`, 'Docker-Upload-UUID': id });
  };

  patchUpload: Handler = async (req, res, name, id) => {
    let start: number | undefined;
    let length: number | undefined;
    const cr = req.headers['content-range'];
    if (cr !== undefined) {
      const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(cr);
      if (!m || Number(m[2]) < Number(m[1])) throw new RegistryHttpError(416, 'BLOB_UPLOAD_INVALID', `invalid Content-Range "${cr}"`);
      start = Number(m[1]);
      length = Number(m[2]) - start + 1;
    }
    const off = await this.store.append(name, id, req as AsyncIterable<Buffer>, start, length);
    send(res, 202, '', { Location: `/v2/${name}/blobs/uploads/${id}`, Range: `0-${Math.max(0, off - 1)}`, 'Docker-Upload-UUID': id });
  };

  putUpload: Handler = async (req, res, name, id, url) => {
    const raw = url.searchParams.get('digest');
    if (raw === null) {
      await this.store.cancelUpload(name, id).catch(() => undefined);
      throw new RegistryHttpError(400, 'DIGEST_INVALID', 'digest missing');
    }
    const d = parseDigestParam(raw);
    await this.store.commitUpload(name, id, d, req as AsyncIterable<Buffer>);
    send(res, 201, '', { Location: `/v2/${name}/blobs/${d}`, 'Docker-Content-Digest': d });
  };

  cancelUpload: Handler = async (_req, res, name, id) => {
    await this.store.cancelUpload(name, id);
    send(res, 204, '', {});
  };

  private async resolveRef(name: string, ref: string): Promise<Digest> {
    if (isValidDigest(ref)) return ref;
    if (!TAG_RE.test(ref)) throw new RegistryHttpError(400, 'MANIFEST_INVALID', 'invalid tag or digest', ref);
    const d = await this.store.resolveTag(name, ref);
    if (!d) throw manifestUnknown(ref);
    return d;
  }

  getManifest: Handler = async (req, res, name, ref) => {
    const d = await this.resolveRef(name, ref);
    const m = await this.store.getManifest(name, d);
    if (!m) throw manifestUnknown(ref);
    send(res, 200, m.bytes, { 'Content-Type': m.mediaType, 'Docker-Content-Digest': d, ETag: `"${d}"` }, req.method === 'HEAD');
  };

  putManifest: Handler = async (req, res, name, ref) => {
    const isDigest = ref.startsWith('sha256:');
    if (!isDigest && !TAG_RE.test(ref)) throw new RegistryHttpError(400, 'MANIFEST_INVALID', 'invalid tag', ref);
    if (isDigest) parseDigestParam(ref);
    const bytes = await readCapped(req, MAX_MANIFEST_BYTES);
    const d = sha256(bytes);
    if (isDigest && d !== ref) throw digestInvalid(`manifest hashes to ${d}, not ${ref}`);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim();
    const parsed = parsePushedManifest(bytes, contentType);
    await checkManifestRefs(this.store, name, parsed);
    await this.store.putManifest(name, { digest: d, bytes, mediaType: parsed.mediaType }, isDigest ? undefined : ref);
    const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${d}`, 'Docker-Content-Digest': d };
    if (parsed.subject) {
      await this.store.addReferrer(name, parsed.subject, d);
      headers['OCI-Subject'] = parsed.subject;
    }
    send(res, 201, '', headers);
  };

  deleteManifest: Handler = async (_req, res, name, ref) => {
    const ok = isValidDigest(ref) ? await this.store.deleteManifest(name, ref) : TAG_RE.test(ref) && (await this.store.deleteTag(name, ref));
    if (!ok) throw manifestUnknown(ref);
    send(res, 202, '', {});
  };

  tags: Handler = async (_req, res, name, _arg, url) => {
    if (!(await this.store.repoExists(name))) throw nameUnknown(name);
    const page = paginate(await this.store.tags(name), url, `/v2/${name}/tags/list`);
    send(res, 200, JSON.stringify({ name, tags: page.items }), { 'Content-Type': 'application/json', ...(page.link ? { Link: page.link } : {}) });
  };

  catalog: Handler = async (_req, res, _name, _arg, url) => {
    const page = paginate(await this.store.repositories(), url, '/v2/_catalog');
    send(res, 200, JSON.stringify({ repositories: page.items }), { 'Content-Type': 'application/json', ...(page.link ? { Link: page.link } : {}) });
  };

  referrers: Handler = async (_req, res, name, arg, url) => {
    const subject = parseDigestParam(arg);
    const want = url.searchParams.get('artifactType');
    const manifests = [];
    for (const d of await this.store.referrers(name, subject)) {
      const m = await this.store.getManifest(name, d);
      if (!m) continue;
      const doc = JSON.parse(m.bytes.toString('utf8')) as { artifactType?: string; config?: { mediaType?: string }; annotations?: Record<string, string> };
      const artifactType = doc.artifactType ?? doc.config?.mediaType;
      if (want && artifactType !== want) continue;
      manifests.push({ mediaType: m.mediaType, digest: d, size: m.bytes.length, ...(artifactType ? { artifactType } : {}), ...(doc.annotations ? { annotations: doc.annotations } : {}) });
    }
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
    send(res, 200, body, { 'Content-Type': 'application/vnd.oci.image.index.v1+json', ...(want ? { 'OCI-Filters-Applied': 'artifactType' } : {}) });
  };
}
