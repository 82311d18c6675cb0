/**
 * Blob uploads per the distribution spec: HEAD to skip what the registry
 * has, cross-repository mount, monolithic PUT for small blobs,
 * POST → PATCH (Content-Range) → PUT ?digest for large ones, and a streamed
 * PATCH for content whose digest is known only at its end (a layer being
 * compressed while it uploads).
 */
import { createReadStream } from 'node:fs';
import { InvalidArgumentError } from '../../errors';
import type { Digest } from '../../image/digest';
import { registryError } from './errors';
import type { RegistryTransport } from './transport';

export const DEFAULT_CHUNK = 32 << 20;

export type BlobSource = { kind: 'buffer'; data: Buffer } | { kind: 'file'; path: string };

export async function blobExists(t: RegistryTransport, repo: string, digest: Digest): Promise<boolean> {
  const res = await t.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes: [`repository:${repo}:pull,push`] });
  await res.body?.cancel().catch(() => undefined);
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw await registryError(res, `checking blob ${digest}`);
}

/**
 * Starts an upload, trying a mount from `from` first; returns 'mounted' or the
 * upload URL (a declined mount opens an ordinary upload, which is then used).
 */
export async function startUpload(t: RegistryTransport, repo: string, digest?: Digest, from?: string): Promise<'mounted' | string> {
  const scopes = [`repository:${repo}:pull,push`, ...(from ? [`repository:${from}:pull`] : [])];
  const q = from && digest ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}` : '';
  const res = await t.request('POST', `/v2/${repo}/blobs/uploads/${q}`, { scopes, headers: { 'Content-Length': '0' } });
  await res.body?.cancel().catch(() => undefined);
  if (res.status === 201 && q) return 'mounted';
  if (res.status !== 202) throw await registryError(res, `starting upload to ${repo}`);
  const loc = res.headers.get('location');
  if (!loc) throw new InvalidArgumentError(`registry started an upload to ${repo} without a Location`);
  return new URL(loc, t.url('/')).toString();
}

export function withDigest(loc: string, digest: Digest): string {
  const u = new URL(loc);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Uploads a blob to `location`; chunked when larger than `chunk` bytes. */
export async function uploadBlob(t: RegistryTransport, repo: string, location: string, src: BlobSource, digest: Digest, size: number, onBytes: (n: number) => void, chunk = DEFAULT_CHUNK): Promise<void> {
  const scopes = [`repository:${repo}:pull,push`];
  const octet = { 'Content-Type': 'application/octet-stream' };
  if (size <= chunk) {
    const body = src.kind === 'buffer' ? src.data : createReadStream(src.path);
    const res = await t.request('PUT', withDigest(location, digest), { scopes, body, headers: { ...octet, 'Content-Length': String(size) } });
    await res.body?.cancel().catch(() => undefined);
    if (res.status !== 201) throw await registryError(res, `uploading blob ${digest}`);
    onBytes(size);
    return;
  }
  let loc = location;
  for (let start = 0; start < size; start += chunk) {
    const end = Math.min(size, start + chunk) - 1;
    const body = src.kind === 'buffer' ? src.data.subarray(start, end + 1) : createReadStream(src.path, { start, end });
    const res = await t.request('PATCH', loc, { scopes, body, headers: { ...octet, 'Content-Length': String(end - start + 1), 'Content-Range': `${start}-${end}` } });
    await res.body?.cancel().catch(() => undefined);
    if (res.status !== 202) throw await registryError(res, `uploading blob ${digest} (bytes ${start}-${end})`);
    const next = res.headers.get('location');
    if (next) loc = new URL(next, loc).toString();
    onBytes(end + 1);
  }
  const res = await t.request('PUT', withDigest(loc, digest), { scopes, headers: { 'Content-Length': '0' } });
  await res.body?.cancel().catch(() => undefined);
  if (res.status !== 201) throw await registryError(res, `finishing upload of blob ${digest}`);
}

/**
 * Streams `source` into the upload at `location` and returns the location to
 * finish at (PUT ?digest, once the caller knows the digest). With `chunk`,
 * the stream is cut into PATCHes of that size with Content-Range; without,
 * it goes as one PATCH in chunked transfer encoding.
 */
export async function uploadStream(t: RegistryTransport, repo: string, location: string, source: AsyncIterable<Buffer | readonly Buffer[]>, what: string, chunk?: number): Promise<string> {
  const scopes = [`repository:${repo}:pull,push`];
  const octet = { 'Content-Type': 'application/octet-stream' };
  const patch = async (loc: string, body: Buffer | AsyncIterable<Buffer | readonly Buffer[]>, headers: Record<string, string>) => {
    const res = await t.request('PATCH', loc, { scopes, body, headers: { ...octet, ...headers } });
    await res.body?.cancel().catch(() => undefined);
    if (res.status !== 202) throw await registryError(res, `uploading ${what}`);
    const next = res.headers.get('location');
    return next ? new URL(next, loc).toString() : loc;
  };
  if (chunk === undefined) return patch(location, source, {});
  let loc = location;
  let start = 0;
  let parts: Buffer[] = [];
  let len = 0;
  const flush = async () => {
    const body = Buffer.concat(parts, len);
    loc = await patch(loc, body, { 'Content-Length': String(len), 'Content-Range': `${start}-${start + len - 1}` });
    start += len;
    parts = [];
    len = 0;
  };
  const add = async (piece: Buffer) => {
    let rest = piece;
    while (rest.length) {
      const take = Math.min(rest.length, chunk - len);
      parts.push(rest.subarray(0, take));
      len += take;
      rest = rest.subarray(take);
      if (len === chunk) await flush();
    }
  };
  for await (const c of source) {
    for (const piece of Buffer.isBuffer(c) ? [c] : c) await add(piece);
  }
  if (len) await flush();
  return loc;
}

/** Closes an upload with its digest: the registry verifies and commits. */
export async function finishUpload(t: RegistryTransport, repo: string, location: string, digest: Digest): Promise<void> {
  const res = await t.request('PUT', withDigest(location, digest), { scopes: [`repository:${repo}:pull,push`], headers: { 'Content-Length': '0' } });
  await res.body?.cancel().catch(() => undefined);
  if (res.status !== 201) throw await registryError(res, `finishing upload of blob ${digest}`);
}
