/**
 * Filesystem driver (the default) in distribution's layout: blobs shared under
 * blobs/sha256/<2 hex>/<hex>/data, per-repository access through link files
 * (_layers, _manifests/revisions, _manifests/tags/<tag>/current/link).
 * Uploads live in <repo>/_uploads/<uuid>/data; a blob becomes visible only
 * by a rename after its digest was verified, and every link is written
 * atomically, so a tag always points to a complete manifest.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { createHash, type Hash, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Digest, hexOf, isValidDigest } from '../../image/digest';
import { atomicWrite, fsyncDir, KeyedMutex } from '../../sys/fsutil';
import { blobUnknown, digestInvalid, RegistryHttpError, uploadUnknown } from './errors';
import { type BlobEntry, type ByteRange, type RegistryStorage, type StoredManifest, type UploadEntry, UUID_RE } from './storage';

interface UploadState {
  hash: Hash;
  offset: number;
}

export class FsStorage implements RegistryStorage {
  private uploads = new Map<string, UploadState>();
  readonly lock = new KeyedMutex();

  constructor(readonly root: string) {}

  get description(): string {
    return `filesystem ${this.root}`;
  }

  async close(): Promise<void> {}

  async init(): Promise<void> {
    await fsp.mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true, mode: 0o755 });
    await fsp.mkdir(join(this.root, 'repositories'), { recursive: true, mode: 0o755 });
  }

  blobPath(d: Digest): string {
    const hex = hexOf(d);
    return join(this.root, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  }

  private repo(name: string): string {
    return join(this.root, 'repositories', name);
  }

  private layerLink(name: string, d: Digest): string {
    return join(this.repo(name), '_layers', 'sha256', hexOf(d), 'link');
  }

  private revisionLink(name: string, d: Digest): string {
    return join(this.repo(name), '_manifests', 'revisions', 'sha256', hexOf(d), 'link');
  }

  private tagLink(name: string, tag: string): string {
    return join(this.repo(name), '_manifests', 'tags', tag, 'current', 'link');
  }

  private async writeLink(path: string, d: Digest): Promise<void> {
    await fsp.mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await atomicWrite(path, d, 0o644);
  }

  private async readLink(path: string): Promise<Digest | undefined> {
    const s = await fsp.readFile(path, 'utf8').catch(() => undefined);
    return s !== undefined && isValidDigest(s.trim()) ? (s.trim() as Digest) : undefined;
  }

  async repoExists(name: string): Promise<boolean> {
    return fsp.stat(this.repo(name)).then(() => true, () => false);
  }

  /** Size of a blob the repository may read, or undefined. */
  async blobSize(name: string, d: Digest): Promise<number | undefined> {
    if ((await this.readLink(this.layerLink(name, d))) !== d) return undefined;
    const st = await fsp.stat(this.blobPath(d)).catch(() => undefined);
    return st?.size;
  }

  /** Resolves once the file is open, so a blob removed by gc is a 404 before any header is sent. */
  openBlob(d: Digest, range?: ByteRange): Promise<Readable> {
    // 256 KiB reads: a quarter of the thread-pool round trips of the 64 KiB default.
    const stream = createReadStream(this.blobPath(d), { ...range, highWaterMark: 256 << 10 });
    return new Promise((resolve, reject) => {
      stream.once('ready', () => resolve(stream));
      stream.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? blobUnknown(d) : e));
    });
  }

  async linkBlob(name: string, d: Digest): Promise<void> {
    await this.writeLink(this.layerLink(name, d), d);
  }

  async unlinkBlob(name: string, d: Digest): Promise<boolean> {
    const link = this.layerLink(name, d);
    if ((await this.readLink(link)) === undefined) return false;
    await fsp.rm(dirname(link), { recursive: true, force: true });
    return true;
  }

  // ---- uploads ----

  async startUpload(name: string): Promise<string> {
    const id = randomUUID();
    const dir = join(this.repo(name), '_uploads', id);
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    await fsp.writeFile(join(dir, 'data'), '');
    await fsp.writeFile(join(dir, 'startedat'), new Date().toISOString());
    this.uploads.set(id, { hash: createHash('sha256'), offset: 0 });
    return id;
  }

  private uploadData(name: string, id: string): string {
    return join(this.repo(name), '_uploads', id, 'data');
  }

  /** The upload's state; after a restart the hash is rebuilt from the data on disk. */
  private async state(name: string, id: string): Promise<UploadState> {
    if (!UUID_RE.test(id)) throw uploadUnknown();
    const cached = this.uploads.get(id);
    if (cached) return cached;
    const path = this.uploadData(name, id);
    const st = await fsp.stat(path).catch(() => undefined);
    if (!st) throw uploadUnknown();
    const hash = createHash('sha256');
    for await (const c of createReadStream(path)) hash.update(c as Buffer);
    const s = { hash, offset: st.size };
    this.uploads.set(id, s);
    return s;
  }

  async uploadOffset(name: string, id: string): Promise<number> {
    return (await this.state(name, id)).offset;
  }

  /**
   * Appends a chunk. `start` (from Content-Range) must equal the current
   * offset: chunks are strictly sequential. On a short or failed body the
   * file is cut back so the upload stays consistent with its hash.
   */
  async append(name: string, id: string, body: AsyncIterable<Buffer>, start?: number, length?: number): Promise<number> {
    return this.lock.run(`upload:${id}`, async () => {
      const s = await this.state(name, id);
      if (start !== undefined && start !== s.offset)
        throw new RegistryHttpError(416, 'BLOB_UPLOAD_INVALID', `chunk starts at ${start}, but the upload is at ${s.offset}`, { offset: s.offset });
      const h = await fsp.open(this.uploadData(name, id), 'r+');
      const hash = s.hash.copy();
      let off = s.offset;
      try {
        for await (const c of body) {
          hash.update(c);
          let w = 0;
          while (w < c.length) w += (await h.write(c, w, c.length - w, off + w)).bytesWritten;
          off += c.length;
        }
        if (length !== undefined && off - s.offset !== length)
          throw new RegistryHttpError(400, 'BLOB_UPLOAD_INVALID', `chunk has ${off - s.offset} bytes, Content-Range/Content-Length said ${length}`);
      } catch (e) {
        await h.truncate(s.offset).catch(() => undefined);
        await h.close();
        throw e;
      }
      await h.close();
      s.hash = hash;
      s.offset = off;
      return off;
    });
  }

  /** Verifies the digest and moves the data into place; the upload is gone either way on a mismatch. */
  async commitUpload(name: string, id: string, expected: Digest, body?: AsyncIterable<Buffer>): Promise<number> {
    if (body) await this.append(name, id, body);
    return this.lock.run(`upload:${id}`, async () => {
      const s = await this.state(name, id);
      const actual = `sha256:${s.hash.copy().digest('hex')}`;
      const dir = dirname(this.uploadData(name, id));
      if (actual !== expected) {
        await this.cancelUploadLocked(id, dir);
        throw digestInvalid(`content hashes to ${actual}, not ${expected}`);
      }
      const h = await fsp.open(this.uploadData(name, id), 'r');
      await h.sync();
      await h.close();
      const target = this.blobPath(expected);
      const exists = await fsp.stat(target).then(() => true, () => false);
      if (!exists) {
        await fsp.mkdir(dirname(target), { recursive: true, mode: 0o755 });
        await fsp.rename(this.uploadData(name, id), target);
        await fsyncDir(dirname(target));
      }
      await this.linkBlob(name, expected);
      await this.cancelUploadLocked(id, dir);
      return s.offset;
    });
  }

  async cancelUpload(name: string, id: string): Promise<void> {
    await this.state(name, id);
    await this.lock.run(`upload:${id}`, () => this.cancelUploadLocked(id, dirname(this.uploadData(name, id))));
  }

  private async cancelUploadLocked(id: string, dir: string): Promise<void> {
    this.uploads.delete(id);
    await fsp.rm(dir, { recursive: true, force: true });
  }

  /** Stores a small blob (manifest) under its digest and links it into the repository. */
  async putBlob(name: string, data: Buffer, d: Digest): Promise<void> {
    const target = this.blobPath(d);
    if (!(await fsp.stat(target).then(() => true, () => false))) {
      await fsp.mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await atomicWrite(target, data, 0o644);
    }
  }

  // ---- manifests ----

  async putManifest(name: string, m: StoredManifest, tag?: string): Promise<void> {
    await this.putBlob(name, m.bytes, m.digest);
    const rev = this.revisionLink(name, m.digest);
    await this.writeLink(rev, m.digest);
    await atomicWrite(join(dirname(rev), 'mediatype'), m.mediaType, 0o644);
    if (tag) await this.writeLink(this.tagLink(name, tag), m.digest);
  }

  async resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    return this.readLink(this.tagLink(name, tag));
  }

  async hasManifest(name: string, d: Digest): Promise<boolean> {
    return (await this.readLink(this.revisionLink(name, d))) === d;
  }

  async getManifest(name: string, d: Digest): Promise<StoredManifest | undefined> {
    if (!(await this.hasManifest(name, d))) return undefined;
    const bytes = await fsp.readFile(this.blobPath(d)).catch(() => undefined);
    if (!bytes) return undefined;
    const mediaType = (await fsp.readFile(join(dirname(this.revisionLink(name, d)), 'mediatype'), 'utf8').catch(() => '')).trim();
    return { digest: d, bytes, mediaType };
  }

  /** Deletes a revision and every tag pointing at it. */
  async deleteManifest(name: string, d: Digest): Promise<boolean> {
    if (!(await this.hasManifest(name, d))) return false;
    for (const tag of await this.tags(name)) if ((await this.resolveTag(name, tag)) === d) await this.deleteTag(name, tag);
    await fsp.rm(dirname(this.revisionLink(name, d)), { recursive: true, force: true });
    return true;
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    const dir = join(this.repo(name), '_manifests', 'tags', tag);
    if ((await this.readLink(this.tagLink(name, tag))) === undefined) return false;
    await fsp.rm(dir, { recursive: true, force: true });
    return true;
  }

  async tags(name: string): Promise<string[]> {
    const names = await fsp.readdir(join(this.repo(name), '_manifests', 'tags')).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.')).sort();
  }

  async revisions(name: string): Promise<Digest[]> {
    const hexes = await fsp.readdir(join(this.repo(name), '_manifests', 'revisions', 'sha256')).catch(() => [] as string[]);
    return hexes.map((h) => `sha256:${h}`).filter(isValidDigest);
  }

  /** Every repository name (directories holding _manifests or _layers), sorted. */
  async repositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string) => {
      const entries = await fsp.readdir(join(this.root, 'repositories', rel), { withFileTypes: true }).catch(() => []);
      if (entries.some((e) => e.name === '_manifests' || e.name === '_layers')) out.push(rel);
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('_') && !e.name.startsWith('.')) await walk(rel ? `${rel}/${e.name}` : e.name);
    };
    await walk('');
    return out.sort();
  }

  /** Referrers: manifests whose `subject` is `d`, recorded at push time. */
  async addReferrer(name: string, subject: Digest, d: Digest): Promise<void> {
    await this.writeLink(join(this.repo(name), '_referrers', 'sha256', hexOf(subject), hexOf(d), 'link'), d);
  }

  async referrers(name: string, subject: Digest): Promise<Digest[]> {
    const hexes = await fsp.readdir(join(this.repo(name), '_referrers', 'sha256', hexOf(subject))).catch(() => [] as string[]);
    const out: Digest[] = [];
    for (const h of hexes) {
      const d = `sha256:${h}`;
      if (isValidDigest(d) && (await this.hasManifest(name, d))) out.push(d);
    }
    return out;
  }

  async blobNames(): Promise<Digest[]> {
    const out: Digest[] = [];
    const base = join(this.root, 'blobs', 'sha256');
    for (const p of await fsp.readdir(base).catch(() => [] as string[])) {
      for (const h of await fsp.readdir(join(base, p)).catch(() => [] as string[])) {
        const d = `sha256:${h}`;
        if (isValidDigest(d)) out.push(d);
      }
    }
    return out;
  }

  async *listBlobs(): AsyncIterable<BlobEntry> {
    for (const digest of await this.blobNames()) {
      const st = await fsp.stat(this.blobPath(digest)).catch(() => undefined);
      if (st) yield { digest, size: st.size, modified: st.mtimeMs };
    }
  }

  async deleteBlob(d: Digest): Promise<void> {
    await fsp.rm(dirname(this.blobPath(d)), { recursive: true, force: true });
  }

  async *listUploads(): AsyncIterable<UploadEntry> {
    for (const name of await this.repositories()) {
      const dir = join(this.repo(name), '_uploads');
      for (const id of await fsp.readdir(dir).catch(() => [] as string[])) {
        const startedAt = Date.parse(await fsp.readFile(join(dir, id, 'startedat'), 'utf8').catch(() => ''));
        yield { name, id, startedAt };
      }
    }
  }

  async purgeUpload(name: string, id: string): Promise<void> {
    if (!UUID_RE.test(id)) return;
    this.uploads.delete(id);
    await fsp.rm(join(this.repo(name), '_uploads', id), { recursive: true, force: true });
  }
}
