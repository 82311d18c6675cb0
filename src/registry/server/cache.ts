/**
 * An in-memory cache in front of any storage driver, for the GET hot path:
 * blob sizes (link + stat), tag → digest, and manifests (link + bytes + media
 * type). Writes through this process invalidate exactly; a generation counter
 * keeps a read that raced with a write from caching the old answer. Writers
 * in other processes (another server on the same bucket, `registry gc`) are
 * seen after at most `ttlMs`. Only positive answers are cached, so a push
 * elsewhere is never hidden behind a cached "unknown".
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../../image/digest';
import { RegistryHttpError } from './errors';
import type { BlobEntry, ByteRange, RegistryStorage, StoredManifest, UploadEntry } from './storage';

interface Entry<V> {
  value: V;
  expires: number;
  bytes: number;
}

/** Insertion-ordered map with expiry and a size bound (oldest evicted first). */
class TtlCache<V> {
  private map = new Map<string, Entry<V>>();
  private total = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly maxBytes = Infinity,
  ) {}

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, bytes = 0): void {
    this.delete(key);
    if (bytes > this.maxBytes) return;
    this.map.set(key, { value, expires: Date.now() + this.ttlMs, bytes });
    this.total += bytes;
    for (const k of this.map.keys()) {
      if (this.map.size <= this.maxEntries && this.total <= this.maxBytes) break;
      this.delete(k);
    }
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.total -= e.bytes;
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }
}

export interface CacheOptions {
  /** How long another process's change may go unseen. */
  ttlMs?: number;
  /** Memory bound for cached manifest bodies. */
  maxManifestBytes?: number;
}

const key = (a: string, b: string) => `${a}\0${b}`;

export class CachedStorage implements RegistryStorage {
  private readonly sizes: TtlCache<number>;
  private readonly tagLinks: TtlCache<Digest>;
  private readonly manifests: TtlCache<StoredManifest>;
  private gen = 0;

  constructor(
    readonly inner: RegistryStorage,
    opts: CacheOptions = {},
  ) {
    const ttl = opts.ttlMs ?? 2000;
    this.sizes = new TtlCache(ttl, 100_000);
    this.tagLinks = new TtlCache(ttl, 100_000);
    this.manifests = new TtlCache(ttl, 10_000, opts.maxManifestBytes ?? 64 << 20);
  }

  get description(): string {
    return this.inner.description;
  }

  /** Reads through `fetch`, storing the answer only if no write happened meanwhile. */
  private async through<V>(cache: TtlCache<V>, k: string, fetch: () => Promise<V | undefined>, bytes?: (v: V) => number): Promise<V | undefined> {
    const hit = cache.get(k);
    if (hit !== undefined) return hit;
    const g = this.gen;
    const v = await fetch();
    if (v !== undefined && g === this.gen) cache.set(k, v, bytes?.(v));
    return v;
  }

  private changed(): void {
    this.gen++;
  }

  init(): Promise<void> {
    return this.inner.init();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  repoExists(name: string): Promise<boolean> {
    return this.inner.repoExists(name);
  }

  blobSize(name: string, d: Digest): Promise<number | undefined> {
    return this.through(this.sizes, key(name, d), () => this.inner.blobSize(name, d));
  }

  async openBlob(d: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.inner.openBlob(d, range);
    } catch (e) {
      // Deleted underneath us (gc in another process): forget what we knew.
      if (e instanceof RegistryHttpError && e.code === 'BLOB_UNKNOWN') this.dropBlobs();
      throw e;
    }
  }

  private dropBlobs(): void {
    this.changed();
    this.sizes.clear();
  }

  async linkBlob(name: string, d: Digest): Promise<void> {
    this.changed();
    this.sizes.delete(key(name, d));
    await this.inner.linkBlob(name, d);
  }

  async unlinkBlob(name: string, d: Digest): Promise<boolean> {
    this.changed();
    this.sizes.delete(key(name, d));
    try {
      return await this.inner.unlinkBlob(name, d);
    } finally {
      this.sizes.delete(key(name, d));
    }
  }

  startUpload(name: string): Promise<string> {
    return this.inner.startUpload(name);
  }
  uploadOffset(name: string, id: string): Promise<number> {
    return this.inner.uploadOffset(name, id);
  }
  append(name: string, id: string, body: AsyncIterable<Buffer>, start?: number, length?: number): Promise<number> {
    return this.inner.append(name, id, body, start, length);
  }

  async commitUpload(name: string, id: string, expected: Digest, body?: AsyncIterable<Buffer>): Promise<number> {
    this.changed();
    const n = await this.inner.commitUpload(name, id, expected, body);
    this.sizes.delete(key(name, expected));
    return n;
  }

  cancelUpload(name: string, id: string): Promise<void> {
    return this.inner.cancelUpload(name, id);
  }

  async putManifest(name: string, m: StoredManifest, tag?: string): Promise<void> {
    this.changed();
    try {
      await this.inner.putManifest(name, m, tag);
    } finally {
      this.manifests.delete(key(name, m.digest));
      if (tag) this.tagLinks.delete(key(name, tag));
    }
  }

  resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    return this.through(this.tagLinks, key(name, tag), () => this.inner.resolveTag(name, tag));
  }

  async hasManifest(name: string, d: Digest): Promise<boolean> {
    return this.manifests.get(key(name, d)) !== undefined || this.inner.hasManifest(name, d);
  }

  getManifest(name: string, d: Digest): Promise<StoredManifest | undefined> {
    return this.through(this.manifests, key(name, d), () => this.inner.getManifest(name, d), (m) => m.bytes.length);
  }

  async deleteManifest(name: string, d: Digest): Promise<boolean> {
    this.changed();
    try {
      return await this.inner.deleteManifest(name, d);
    } finally {
      this.manifests.delete(key(name, d));
      // Tags that pointed at it are gone too; deletes are rare, so drop them all.
      this.tagLinks.clear();
    }
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    this.changed();
    try {
      return await this.inner.deleteTag(name, tag);
    } finally {
      this.tagLinks.delete(key(name, tag));
    }
  }

  tags(name: string): Promise<string[]> {
    return this.inner.tags(name);
  }
  revisions(name: string): Promise<Digest[]> {
    return this.inner.revisions(name);
  }
  repositories(): Promise<string[]> {
    return this.inner.repositories();
  }
  addReferrer(name: string, subject: Digest, d: Digest): Promise<void> {
    return this.inner.addReferrer(name, subject, d);
  }
  referrers(name: string, subject: Digest): Promise<Digest[]> {
    return this.inner.referrers(name, subject);
  }
  listBlobs(): AsyncIterable<BlobEntry> {
    return this.inner.listBlobs();
  }

  async deleteBlob(d: Digest): Promise<void> {
    this.dropBlobs();
    await this.inner.deleteBlob(d);
    this.dropBlobs();
  }

  listUploads(): AsyncIterable<UploadEntry> {
    return this.inner.listUploads();
  }
  purgeUpload(name: string, id: string): Promise<void> {
    return this.inner.purgeUpload(name, id);
  }
}
