/**
 * S3 driver: distribution's layout as object keys under
 * `<prefix>docker/registry/v2/` (the keys distribution's own s3 driver
 * writes, so either registry can serve a bucket the other filled).
 *
 * Uploads are staged objects: each chunk (PATCH body) is one object
 * `_uploads/<id>/chunks/<offset>`, written by a single PutObject or, past one
 * part, a multipart upload, which S3 makes visible only when completed. The
 * running sha256 is kept in memory (rebuilt from the chunks after a restart).
 * On commit the digest is checked first; only then is the blob key written:
 * a server-side copy for a single chunk, else the chunks streamed into a
 * multipart upload on the blob key, re-hashed on the way and completed only
 * if they still hash right. A monolithic PUT/POST streams straight into the
 * blob key the same way. Nothing is ever held in memory beyond one part.
 *
 * The SDK is loaded by `init()` only, so the CLI never pays for it unless the
 * s3 driver is configured (it is external to the bundle, see scripts/build.mjs).
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import type * as S3 from '@aws-sdk/client-s3';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { type Digest, hexOf, isValidDigest } from '../../image/digest';
import { KeyedMutex } from '../../sys/fsutil';
import { blobUnknown, digestInvalid, RegistryHttpError, uploadUnknown } from './errors';
import { type BlobEntry, type ByteRange, layout, type RegistryStorage, sniffMediaType, type StoredManifest, type UploadEntry, UUID_RE } from './storage';

export interface S3StorageConfig {
  bucket: string;
  /** Defaults to us-east-1 (what S3-compatible servers usually accept). */
  region?: string;
  /** e.g. http://127.0.0.1:9000 for an S3-compatible server; AWS when unset. */
  endpoint?: string;
  /** Falls back to the SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles…). */
  accessKey?: string;
  secretKey?: string;
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key` (most self-hosted servers need it). */
  forcePathStyle?: boolean;
  /** Key prefix, like distribution's `rootdirectory`. */
  prefix?: string;
  /** Multipart part size in bytes (≥ 5 MiB, S3's minimum); one part per upload is the memory bound. */
  partSize?: number;
}

/** An object store request that failed for a reason other than a missing key. */
export class S3StorageError extends UnavailableError {}

const MIN_PART = 5 << 20;
const DEFAULT_PART = 10 << 20;
/** S3's limit for a single CopyObject; bigger blobs are assembled by streaming. */
const MAX_COPY = 5 * 1024 ** 3;

interface UploadState {
  hash: Hash;
  offset: number;
  /** Offsets of the stored chunks, in order. */
  chunks: number[];
}

interface ListedObject {
  key: string;
  size: number;
  modified: number;
}

type Sdk = typeof S3;

function isMissing(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === 'NoSuchKey' || err?.name === 'NotFound' || err?.$metadata?.httpStatusCode === 404;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');
const chunkName = (offset: number) => offset.toString().padStart(16, '0');

async function* hashing(body: AsyncIterable<Buffer>, hash: Hash): AsyncIterable<Buffer> {
  for await (const c of body) {
    hash.update(c);
    yield c;
  }
}

export class S3Storage implements RegistryStorage {
  private sdk!: Sdk;
  private client!: S3.S3Client;
  private readonly base: string;
  private readonly partSize: number;
  private uploads = new Map<string, UploadState>();
  private readonly lock = new KeyedMutex();

  constructor(readonly config: S3StorageConfig) {
    if (!config.bucket) throw new InvalidArgumentError('s3 storage needs a bucket');
    const p = (config.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.base = `${p ? `${p}/` : ''}docker/registry/v2/`;
    this.partSize = config.partSize ?? DEFAULT_PART;
    if (this.partSize < MIN_PART) throw new InvalidArgumentError(`s3 part size must be at least ${MIN_PART} bytes (S3's minimum part size)`);
  }

  get description(): string {
    return `s3 bucket ${this.config.bucket}${this.config.endpoint ? ` at ${this.config.endpoint}` : ''}${this.config.prefix ? ` prefix ${this.config.prefix}` : ''}`;
  }

  async init(): Promise<void> {
    if (this.client) return;
    // Berth targets Node 20 on purpose; the SDK's "upgrade to Node 22" notice is not the user's to act on.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    // require, not import(): the package is external to the bundle, and bin/berth runs the bundle without an ESM loader.
    this.sdk = require('@aws-sdk/client-s3') as Sdk;
    const accessKey = this.config.accessKey ?? process.env.AWS_ACCESS_KEY_ID;
    const secretKey = this.config.secretKey ?? process.env.AWS_SECRET_ACCESS_KEY;
    this.client = new this.sdk.S3Client({
      region: this.config.region ?? process.env.AWS_REGION ?? 'us-east-1',
      endpoint: this.config.endpoint,
      forcePathStyle: this.config.forcePathStyle ?? false,
      ...(accessKey && secretKey ? { credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } } : {}),
      // Newer SDKs add CRC trailers to every upload; S3-compatible servers
      // often reject them. Parts carry Content-MD5 instead (see putStream).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Enough sockets for many concurrent blob GETs; the default pool is 50.
      requestHandler: { httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 256 }), httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 256 }) },
    });
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const why = status === 404 ? 'it does not exist' : status === 403 ? 'access denied (check the access key and secret)' : (e as Error).message || (e as Error).name;
      throw new S3StorageError(`s3 bucket "${this.config.bucket}"${this.config.endpoint ? ` at ${this.config.endpoint}` : ''} is not usable: ${why}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    this.client?.destroy();
  }

  // ---- object primitives ----

  private key(rel: string): string {
    return this.base + rel;
  }

  private async send<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isMissing(e) || e instanceof RegistryHttpError) throw e;
      throw new S3StorageError(`s3 ${op} ${key}: ${(e as Error).name}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async getBytes(rel: string): Promise<Buffer | undefined> {
    const Key = this.key(rel);
    try {
      const r = await this.send('GetObject', Key, () => this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.config.bucket, Key })));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  private async putBytes(rel: string, body: Buffer | string): Promise<void> {
    const Key = this.key(rel);
    const data = Buffer.from(body);
    await this.send('PutObject', Key, () => this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.config.bucket, Key, Body: data, ContentLength: data.length, ContentMD5: md5(data) })));
  }

  private async head(rel: string): Promise<{ size: number; modified: number } | undefined> {
    const Key = this.key(rel);
    try {
      const r = await this.send('HeadObject', Key, () => this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.config.bucket, Key })));
      return { size: r.ContentLength ?? 0, modified: r.LastModified?.getTime() ?? 0 };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /** Every object under `rel` (which should end in `/`), with keys relative to it. */
  private async *list(rel: string): AsyncIterable<ListedObject> {
    const Prefix = this.key(rel);
    let ContinuationToken: string | undefined;
    do {
      const r = await this.send('ListObjectsV2', Prefix, () =>
        this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.config.bucket, Prefix, ContinuationToken })),
      );
      for (const o of r.Contents ?? []) if (o.Key) yield { key: o.Key.slice(Prefix.length), size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 };
      ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  /**
   * Names of the "directories" directly under `rel`. Found from a flat listing,
   * not a delimiter listing: that is what distribution's s3 driver walks too
   * (1000 keys a request), and some S3-compatible servers (s3rver) return
   * incomplete CommonPrefixes for deeper trees.
   */
  private async children(rel: string): Promise<string[]> {
    const out = new Set<string>();
    for await (const e of this.list(rel)) {
      const i = e.key.indexOf('/');
      if (i > 0) out.add(e.key.slice(0, i));
    }
    return [...out].sort();
  }

  /** Deletes every object under `rel` (a "directory" ending in `/`). */
  private async deletePrefix(rel: string): Promise<void> {
    const keys: string[] = [];
    for await (const e of this.list(rel)) keys.push(this.key(rel + e.key));
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const r = await this.send('DeleteObjects', this.key(rel), () =>
        this.client.send(new this.sdk.DeleteObjectsCommand({ Bucket: this.config.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })),
      );
      if (r.Errors?.length) throw new S3StorageError(`s3 DeleteObjects ${r.Errors[0].Key}: ${r.Errors[0].Code}: ${r.Errors[0].Message}`);
    }
  }

  private async deleteKey(rel: string): Promise<void> {
    const Key = this.key(rel);
    await this.send('DeleteObject', Key, () => this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.config.bucket, Key })));
  }

  private async getStream(rel: string, range?: ByteRange): Promise<Readable> {
    const Key = this.key(rel);
    const r = await this.send('GetObject', Key, () =>
      this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.config.bucket, Key, Range: range ? `bytes=${range.start}-${range.end}` : undefined })),
    );
    return r.Body as Readable;
  }

  /**
   * Streams `body` into one object: a PutObject when it fits in one part,
   * else a multipart upload. `beforeCommit` runs after the last byte and
   * before the object becomes visible; throwing there leaves no object.
   * Returns the byte count (`skipEmpty`: an empty body writes nothing).
   */
  private async putStream(rel: string, body: AsyncIterable<Buffer>, beforeCommit?: (size: number) => void, opts: { skipEmpty?: boolean } = {}): Promise<number> {
    const Bucket = this.config.bucket;
    const Key = this.key(rel);
    let pending: Buffer[] = [];
    let pendingLen = 0;
    let total = 0;
    let UploadId: string | undefined;
    const parts: Array<{ PartNumber: number; ETag?: string }> = [];
    const flushPart = async () => {
      const data = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      if (UploadId === undefined) {
        const r = await this.send('CreateMultipartUpload', Key, () => this.client.send(new this.sdk.CreateMultipartUploadCommand({ Bucket, Key })));
        UploadId = r.UploadId;
      }
      const PartNumber = parts.length + 1;
      const r = await this.send('UploadPart', Key, () =>
        this.client.send(new this.sdk.UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: data, ContentLength: data.length, ContentMD5: md5(data) })),
      );
      parts.push({ PartNumber, ETag: r.ETag });
    };
    try {
      for await (const c of body) {
        pending.push(c);
        pendingLen += c.length;
        total += c.length;
        if (pendingLen >= this.partSize) await flushPart();
      }
      beforeCommit?.(total);
      if (total === 0 && opts.skipEmpty) return 0;
      if (UploadId === undefined) {
        const data = Buffer.concat(pending, pendingLen);
        await this.send('PutObject', Key, () => this.client.send(new this.sdk.PutObjectCommand({ Bucket, Key, Body: data, ContentLength: data.length, ContentMD5: md5(data) })));
      } else {
        if (pendingLen > 0) await flushPart();
        await this.send('CompleteMultipartUpload', Key, () => this.client.send(new this.sdk.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } })));
      }
      return total;
    } catch (e) {
      if (UploadId !== undefined) await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw e;
    }
  }

  private async readLink(rel: string): Promise<Digest | undefined> {
    const s = (await this.getBytes(rel))?.toString('utf8').trim();
    return s !== undefined && isValidDigest(s) ? s : undefined;
  }

  // ---- blobs ----

  async repoExists(name: string): Promise<boolean> {
    // One page at most: the loop ends at the first key.
    for await (const _ of this.list(`${layout.repo(name)}/`)) return true;
    return false;
  }

  async blobSize(name: string, d: Digest): Promise<number | undefined> {
    const [link, st] = await Promise.all([this.readLink(layout.layerLink(name, hexOf(d))), this.head(layout.blobData(hexOf(d)))]);
    return link === d ? st?.size : undefined;
  }

  async openBlob(d: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.getStream(layout.blobData(hexOf(d)), range);
    } catch (e) {
      if (isMissing(e)) throw blobUnknown(d);
      throw e;
    }
  }

  async linkBlob(name: string, d: Digest): Promise<void> {
    await this.putBytes(layout.layerLink(name, hexOf(d)), d);
  }

  async unlinkBlob(name: string, d: Digest): Promise<boolean> {
    const link = layout.layerLink(name, hexOf(d));
    if ((await this.readLink(link)) === undefined) return false;
    await this.deleteKey(link);
    return true;
  }

  // ---- uploads ----

  private chunkKey(name: string, id: string, offset: number): string {
    return `${layout.uploadDir(name, id)}/chunks/${chunkName(offset)}`;
  }

  async startUpload(name: string): Promise<string> {
    const id = randomUUID();
    await this.putBytes(`${layout.uploadDir(name, id)}/startedat`, new Date().toISOString());
    this.uploads.set(id, { hash: createHash('sha256'), offset: 0, chunks: [] });
    return id;
  }

  /** The upload's state; after a restart it is rebuilt from the stored chunks. */
  private async state(name: string, id: string): Promise<UploadState> {
    if (!UUID_RE.test(id)) throw uploadUnknown();
    const cached = this.uploads.get(id);
    if (cached) return cached;
    if (!(await this.head(`${layout.uploadDir(name, id)}/startedat`))) throw uploadUnknown();
    const chunks: ListedObject[] = [];
    for await (const e of this.list(`${layout.uploadDir(name, id)}/chunks/`)) chunks.push(e);
    chunks.sort((a, b) => a.key.localeCompare(b.key));
    const s: UploadState = { hash: createHash('sha256'), offset: 0, chunks: [] };
    for (const c of chunks) {
      const off = Number(c.key);
      if (off !== s.offset) throw new RegistryHttpError(500, 'BLOB_UPLOAD_INVALID', `upload ${id} has a gap at byte ${s.offset}; start it again`);
      for await (const b of await this.getStream(this.chunkKey(name, id, off))) s.hash.update(b as Buffer);
      s.chunks.push(off);
      s.offset += c.size;
    }
    this.uploads.set(id, s);
    return s;
  }

  async uploadOffset(name: string, id: string): Promise<number> {
    return (await this.state(name, id)).offset;
  }

  /** Stores `body` as the next chunk; the state moves only once the chunk object exists. */
  private async appendLocked(name: string, id: string, s: UploadState, body: AsyncIterable<Buffer>, start?: number, length?: number): Promise<number> {
    if (start !== undefined && start !== s.offset)
      throw new RegistryHttpError(416, 'BLOB_UPLOAD_INVALID', `chunk starts at ${start}, but the upload is at ${s.offset}`, { offset: s.offset });
    const hash = s.hash.copy();
    const size = await this.putStream(
      this.chunkKey(name, id, s.offset),
      hashing(body, hash),
      (n) => {
        if (length !== undefined && n !== length) throw new RegistryHttpError(400, 'BLOB_UPLOAD_INVALID', `chunk has ${n} bytes, Content-Range/Content-Length said ${length}`);
      },
      { skipEmpty: true },
    );
    if (size > 0) s.chunks.push(s.offset);
    s.hash = hash;
    s.offset += size;
    return s.offset;
  }

  async append(name: string, id: string, body: AsyncIterable<Buffer>, start?: number, length?: number): Promise<number> {
    return this.lock.run(`upload:${id}`, async () => this.appendLocked(name, id, await this.state(name, id), body, start, length));
  }

  async commitUpload(name: string, id: string, expected: Digest, body?: AsyncIterable<Buffer>): Promise<number> {
    return this.lock.run(`upload:${id}`, async () => {
      const s = await this.state(name, id);
      const target = layout.blobData(hexOf(expected));
      try {
        let size: number;
        if (body && s.offset === 0) size = await this.commitDirect(name, expected, body);
        else size = await this.commitStaged(name, id, s, expected, target, body);
        await this.purgeUpload(name, id);
        return size;
      } catch (e) {
        // A digest mismatch ends the upload (as distribution does); a storage failure leaves it resumable.
        if (e instanceof RegistryHttpError && e.code === 'DIGEST_INVALID') await this.purgeUpload(name, id).catch(() => undefined);
        throw e;
      }
    });
  }

  private async commitStaged(name: string, id: string, s: UploadState, expected: Digest, target: string, body?: AsyncIterable<Buffer>): Promise<number> {
    if (body) await this.appendLocked(name, id, s, body);
    const actual: Digest = `sha256:${s.hash.copy().digest('hex')}`;
    if (actual !== expected) throw digestInvalid(`content hashes to ${actual}, not ${expected}`);
    if (!(await this.head(target))) {
      if (s.chunks.length === 1 && s.offset <= MAX_COPY) {
        const Key = this.key(target);
        const CopySource = encodeURI(`${this.config.bucket}/${this.key(this.chunkKey(name, id, 0))}`);
        await this.send('CopyObject', Key, () => this.client.send(new this.sdk.CopyObjectCommand({ Bucket: this.config.bucket, Key, CopySource })));
      } else {
        // Re-hash what is read back, so the blob key appears only for bytes that match.
        const again = createHash('sha256');
        const chunks = async function* (self: S3Storage): AsyncIterable<Buffer> {
          for (const off of s.chunks) for await (const b of await self.getStream(self.chunkKey(name, id, off))) yield b as Buffer;
        };
        await this.putStream(target, hashing(chunks(this), again), () => {
          const d = `sha256:${again.digest('hex')}`;
          if (d !== expected) throw digestInvalid(`stored chunks hash to ${d}, not ${expected}`);
        });
      }
    }
    await this.linkBlob(name, expected);
    return s.offset;
  }

  /** A whole blob in one request: streamed into the blob key, completed only if the digest matches. */
  private async commitDirect(name: string, expected: Digest, body: AsyncIterable<Buffer>): Promise<number> {
    const hash = createHash('sha256');
    const check = (n: number) => {
      const d = `sha256:${hash.digest('hex')}`;
      if (d !== expected) throw digestInvalid(`content hashes to ${d}, not ${expected}`);
      return n;
    };
    const target = layout.blobData(hexOf(expected));
    let size: number;
    if (await this.head(target)) {
      // Content addressing: the same digest is the same bytes; only verify.
      size = 0;
      for await (const c of hashing(body, hash)) size += c.length;
      check(size);
    } else {
      size = await this.putStream(target, hashing(body, hash), check);
    }
    await this.linkBlob(name, expected);
    return size;
  }

  async cancelUpload(name: string, id: string): Promise<void> {
    await this.state(name, id);
    await this.lock.run(`upload:${id}`, () => this.purgeUpload(name, id));
  }

  // ---- manifests ----

  async putManifest(name: string, m: StoredManifest, tag?: string): Promise<void> {
    const hex = hexOf(m.digest);
    if (!(await this.head(layout.blobData(hex)))) await this.putBytes(layout.blobData(hex), m.bytes);
    // The media type first, so a visible revision always has one.
    await this.putBytes(`${layout.revisionDir(name, hex)}/mediatype`, m.mediaType);
    await this.putBytes(`${layout.revisionDir(name, hex)}/link`, m.digest);
    if (tag) await this.putBytes(layout.tagLink(name, tag), m.digest);
  }

  async resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    return this.readLink(layout.tagLink(name, tag));
  }

  async hasManifest(name: string, d: Digest): Promise<boolean> {
    return (await this.readLink(`${layout.revisionDir(name, hexOf(d))}/link`)) === d;
  }

  async getManifest(name: string, d: Digest): Promise<StoredManifest | undefined> {
    const dir = layout.revisionDir(name, hexOf(d));
    const [link, bytes, mt] = await Promise.all([this.readLink(`${dir}/link`), this.getBytes(layout.blobData(hexOf(d))), this.getBytes(`${dir}/mediatype`)]);
    if (link !== d || !bytes) return undefined;
    return { digest: d, bytes, mediaType: mt?.toString('utf8').trim() || sniffMediaType(bytes) };
  }

  async deleteManifest(name: string, d: Digest): Promise<boolean> {
    if (!(await this.hasManifest(name, d))) return false;
    for (const tag of await this.tags(name)) if ((await this.resolveTag(name, tag)) === d) await this.deleteTag(name, tag);
    await this.deletePrefix(`${layout.revisionDir(name, hexOf(d))}/`);
    return true;
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    if ((await this.resolveTag(name, tag)) === undefined) return false;
    await this.deletePrefix(`${layout.tagsDir(name)}/${tag}/`);
    return true;
  }

  async tags(name: string): Promise<string[]> {
    return this.children(`${layout.tagsDir(name)}/`);
  }

  async revisions(name: string): Promise<Digest[]> {
    const hexes = await this.children(`${layout.repo(name)}/_manifests/revisions/sha256/`);
    return hexes.map((h) => `sha256:${h}`).filter(isValidDigest);
  }

  /** One flat listing of repositories/: a repository is whatever holds _manifests or _layers. */
  async repositories(): Promise<string[]> {
    const out = new Set<string>();
    for await (const e of this.list('repositories/')) {
      const m = /^(.+?)\/_(?:manifests|layers)\//.exec(e.key);
      if (m) out.add(m[1]);
    }
    return [...out].sort();
  }

  async addReferrer(name: string, subject: Digest, d: Digest): Promise<void> {
    await this.putBytes(`${layout.referrersDir(name, hexOf(subject))}/${hexOf(d)}/link`, d);
  }

  async referrers(name: string, subject: Digest): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const h of await this.children(`${layout.referrersDir(name, hexOf(subject))}/`)) {
      const d = `sha256:${h}`;
      if (isValidDigest(d) && (await this.hasManifest(name, d))) out.push(d);
    }
    return out;
  }

  // ---- garbage collection ----

  async *listBlobs(): AsyncIterable<BlobEntry> {
    for await (const e of this.list('blobs/sha256/')) {
      const m = /^[a-f0-9]{2}\/([a-f0-9]{64})\/data$/.exec(e.key);
      if (m) yield { digest: `sha256:${m[1]}`, size: e.size, modified: e.modified };
    }
  }

  async deleteBlob(d: Digest): Promise<void> {
    await this.deleteKey(layout.blobData(hexOf(d)));
  }

  async *listUploads(): AsyncIterable<UploadEntry> {
    for (const name of await this.repositories()) {
      for (const id of await this.children(`${layout.repo(name)}/_uploads/`)) {
        const started = await this.getBytes(`${layout.uploadDir(name, id)}/startedat`);
        yield { name, id, startedAt: started ? Date.parse(started.toString('utf8')) : NaN };
      }
    }
  }

  async purgeUpload(name: string, id: string): Promise<void> {
    if (!UUID_RE.test(id)) return;
    this.uploads.delete(id);
    await this.deletePrefix(`${layout.uploadDir(name, id)}/`);
  }
}
