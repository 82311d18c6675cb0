/**
 * Content store: blobs addressed by sha256 in an OCI image layout
 * (`<root>/blobs/sha256/<hex>`). A blob becomes visible only through
 * BlobWriter.commit, after its size and digest were verified and the data
 * fsynced; a SIGKILL at any point leaves at most a temp file in ingest/.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { ensureDir, fsyncDir } from '../../sys/fsutil';
import { type Digest, hexOf, isValidDigest, parseDigest } from '../digest';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export class ContentStore {
  readonly blobDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await ensureDir(this.blobDir);
    await ensureDir(this.ingestDir);
    // Interrupted ingests are garbage: nothing refers to them.
    for (const name of await fsp.readdir(this.ingestDir)) await fsp.rm(join(this.ingestDir, name), { force: true, recursive: true });
    const layout = join(this.root, 'oci-layout');
    await fsp.writeFile(layout, '{"imageLayoutVersion":"1.0.0"}', { flag: 'wx' }).catch(() => undefined);
  }

  path(digest: Digest): string {
    return join(this.blobDir, hexOf(parseDigest(digest)));
  }

  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const st = await fsp.stat(this.path(digest));
      return { digest, size: st.size };
    } catch {
      return undefined;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  /** Reads a whole (small) blob, re-verifying its digest: configs and manifests are trusted only as their hash. */
  async read(digest: Digest): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await fsp.readFile(this.path(digest));
    } catch {
      throw new NotFoundError(`blob ${digest} not found in content store`);
    }
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (actual !== digest) throw new InvalidArgumentError(`blob ${digest} is corrupt: content hashes to ${actual}`);
    return data;
  }

  async readJson<T>(digest: Digest): Promise<T> {
    return JSON.parse((await this.read(digest)).toString('utf8')) as T;
  }

  stream(digest: Digest): Readable {
    return createReadStream(this.path(digest));
  }

  async writer(): Promise<BlobWriter> {
    const tmp = join(this.ingestDir, randomBytes(8).toString('hex'));
    const handle = await fsp.open(tmp, 'wx', 0o600);
    return new BlobWriter(this, tmp, handle);
  }

  /** Stores a buffer; returns its descriptor. */
  async put(data: Buffer | string, expected?: Digest): Promise<BlobInfo> {
    const w = await this.writer();
    await w.write(typeof data === 'string' ? Buffer.from(data) : data);
    return w.commit(expected ? { digest: expected } : undefined);
  }

  /** Streams into the store; the digest is computed on the way. */
  async putStream(source: AsyncIterable<Buffer | Uint8Array>, expected?: { digest?: Digest; size?: number }): Promise<BlobInfo> {
    const w = await this.writer();
    try {
      for await (const chunk of source) await w.write(Buffer.from(chunk));
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w.commit(expected);
  }

  async delete(digest: Digest): Promise<void> {
    await fsp.rm(this.path(digest), { force: true });
  }

  async list(): Promise<Digest[]> {
    const names = await fsp.readdir(this.blobDir);
    return names.map((n) => `sha256:${n}`).filter(isValidDigest);
  }
}

export class BlobWriter {
  private hash: Hash = createHash('sha256');
  private size = 0;
  private closed = false;

  constructor(
    private readonly store: ContentStore,
    private readonly tmp: string,
    private readonly handle: fsp.FileHandle,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.size += chunk.length;
    let off = 0;
    while (off < chunk.length) off += (await this.handle.write(chunk, off)).bytesWritten;
  }

  get written(): number {
    return this.size;
  }

  /**
   * Verifies and publishes the blob: fsync → size/digest check → rename →
   * fsync(dir) → read-only. Always closes the writer, even on error.
   */
  async commit(expected?: { digest?: Digest; size?: number }): Promise<BlobInfo> {
    const digest: Digest = `sha256:${this.hash.digest('hex')}`;
    try {
      await this.handle.sync();
      await this.handle.close();
      this.closed = true;
      if (expected?.size !== undefined && expected.size !== this.size)
        throw new InvalidArgumentError(`blob size mismatch: got ${this.size} bytes, expected ${expected.size}`);
      if (expected?.digest !== undefined && expected.digest !== digest)
        throw new InvalidArgumentError(`digest mismatch: content is ${digest}, expected ${expected.digest}`);
      const target = this.store.path(digest);
      if (await this.store.has(digest)) {
        await fsp.rm(this.tmp, { force: true });
      } else {
        await fsp.chmod(this.tmp, 0o444);
        await fsp.rename(this.tmp, target);
        await fsyncDir(this.store.blobDir);
      }
      return { digest, size: this.size };
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => undefined);
    }
    await fsp.rm(this.tmp, { force: true });
  }
}
