/**
 * Blob uploads per the distribution spec: HEAD to skip what the registry
 * has, cross-repository mount, monolithic PUT for small blobs and
 * POST → PATCH (Content-Range) → PUT ?digest for large ones.
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

/** Starts an upload, trying a mount from `from` first; returns 'mounted' or the upload URL. */
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

function withDigest(loc: string, digest: Digest): string {
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
