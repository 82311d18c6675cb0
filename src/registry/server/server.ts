/**
 * `berth registry serve`: an OCI distribution registry over node:http on top
 * of FsStorage. Routes follow the distribution spec; every error is the
 * spec's `{"errors":[…]}` body with its code.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { loadHtpasswd } from './auth';
import { pipeline } from 'node:stream/promises';
import { type Digest, isValidDigest, sha256 } from '../../image/digest';
import { blobUnknown, digestInvalid, manifestUnknown, nameUnknown, RegistryHttpError } from './errors';
import { FsStorage } from './storage';
import { checkManifestRefs, parsePushedManifest } from './manifests';

export const MAX_MANIFEST_BYTES = 4 << 20;
/** Upper bound on `n` for catalog and tag listing (distribution's fix for CVE-2023-2253). */
export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;

export interface RegistryServerOptions {
  root: string;
  /** htpasswd file (bcrypt entries): every request needs basic auth. */
  htpasswd?: string;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** Called once per request after the response finished (request log). */
  log?: (line: string) => void;
}

type Handler = (req: IncomingMessage, res: ServerResponse, name: string, arg: string, url: URL) => Promise<void>;

export async function createRegistryServer(opts: RegistryServerOptions): Promise<Server> {
  const store = new FsStorage(opts.root);
  await store.init();
  const h = new Handlers(store);
  const routes: Array<[RegExp, Record<string, Handler>]> = [
    [/^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/, { POST: h.startUpload, GET: h.uploadStatus, PATCH: h.patchUpload, PUT: h.putUpload, DELETE: h.cancelUpload }],
    [/^\/v2\/(.+)\/blobs\/([^/]+)$/, { GET: h.getBlob, HEAD: h.getBlob, DELETE: h.deleteBlob }],
    [/^\/v2\/(.+)\/manifests\/([^/]+)$/, { GET: h.getManifest, HEAD: h.getManifest, PUT: h.putManifest, DELETE: h.deleteManifest }],
    [/^\/v2\/(.+)\/tags\/(list)$/, { GET: h.tags }],
    [/^\/v2\/(.+)\/referrers\/([^/]+)$/, { GET: h.referrers }],
  ];
  const auth = opts.htpasswd ? loadHtpasswd(opts.htpasswd) : undefined;
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key), keepAlive: true })
    : createServer({ keepAlive: true });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    if (opts.log) res.on('finish', () => opts.log!(`${req.socket.remoteAddress ?? '-'} "${req.method} ${req.url}" ${res.statusCode} ${Date.now() - started}ms`));
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://registry');
      const path = url.pathname;
      const method = req.method ?? 'GET';
      if (auth && !(await auth.check(req))) {
        res.setHeader('WWW-Authenticate', `Basic realm="${auth.realm}"`);
        throw new RegistryHttpError(401, 'UNAUTHORIZED', 'authentication required');
      }
      if (path === '/v2/' || path === '/v2') {
        if (method !== 'GET' && method !== 'HEAD') throw new RegistryHttpError(405, 'UNSUPPORTED', 'method not allowed');
        send(res, 200, '{}', { 'Content-Type': 'application/json' }, method === 'HEAD');
        return;
      }
      if (path === '/v2/_catalog') {
        if (method !== 'GET') throw new RegistryHttpError(405, 'UNSUPPORTED', 'method not allowed');
        await h.catalog(req, res, '', '', url);
        return;
      }
      for (const [re, table] of routes) {
        const m = re.exec(path);
        if (!m) continue;
        const name = decodeURIComponent(m[1]);
        if (!NAME_RE.test(name) || name.length > 255) throw new RegistryHttpError(400, 'NAME_INVALID', 'invalid repository name', { name });
        const fn = table[method];
        if (!fn) throw new RegistryHttpError(405, 'UNSUPPORTED', `${method} not supported here`);
        await fn(req, res, name, decodeURIComponent(m[2]), url);
        return;
      }
      throw new RegistryHttpError(404, 'NAME_UNKNOWN', 'not found');
    })().catch((e: unknown) => {
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const err = e instanceof RegistryHttpError ? e : new RegistryHttpError(500, 'UNSUPPORTED', `internal error: ${e instanceof Error ? e.message : String(e)}`);
      send(res, err.status, err.body(), { 'Content-Type': 'application/json; charset=utf-8' }, req.method === 'HEAD');
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
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
  constructor(private readonly store: FsStorage) {}

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
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    await pipeline(this.store.blobStream(d, { start, end }), res);
  };

  deleteBlob: Handler = async (_req, res, name, arg) => {
    const d = parseDigestParam(arg);
    if (!(await this.store.unlinkBlob(name, d))) throw blobUnknown(d);
    send(res, 202, '', {});
  };

  startUpload: Handler = async (req, res, name, arg, url) => {
    if (arg !== '') throw new RegistryHttpError(405, 'UNSUPPORTED', 'POST to an upload URL');
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount !== null && from !== null && isValidDigest(mount) && NAME_RE.test(from)) {
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
      await this.store.append(name, id, req as AsyncIterable<Buffer>);
      await this.store.commitUpload(name, id, d);
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
    await this.store.append(name, id, req as AsyncIterable<Buffer>);
    await this.store.commitUpload(name, id, d);
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
