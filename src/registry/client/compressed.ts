/**
 * Layers are stored uncompressed; push gzips them deterministically, so the
 * same diffID always yields the same compressed digest. This file remembers
 * diffID → compressed digest/size and where it was pushed, so a later push
 * can HEAD or cross-mount before spending time compressing.
 */
import { join } from 'node:path';
import { atomicWriteJson, readJson } from '../../sys/fsutil';
import type { Digest } from '../../image/digest';
import type { ImageStore } from '../../image/store';

export interface CompressedInfo {
  digest: Digest;
  size: number;
  /** 'domain/repo' entries this blob was pushed to or seen in: candidates for a cross-repo mount. */
  repos: string[];
}

type MapFile = Record<string, CompressedInfo>;

export class CompressedMap {
  private data: MapFile | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly path: string;

  constructor(store: ImageStore) {
    this.path = join(store.content.root, 'compressed-layers.json');
  }

  async get(diffId: Digest): Promise<CompressedInfo | undefined> {
    this.data ??= (await readJson<MapFile>(this.path)) ?? {};
    return this.data[diffId];
  }

  /** Records a mapping; writes are serialised so concurrent layer pushes do not lose entries. */
  async record(diffId: Digest, digest: Digest, size: number, repo: string): Promise<void> {
    await this.recordMany([{ diffId, digest, size }], repo);
  }

  /**
   * Records several mappings in one write. The file is a cache (a lost entry
   * costs one recompression), so it is replaced atomically but not fsynced.
   */
  async recordMany(entries: Array<{ diffId: Digest; digest: Digest; size: number }>, repo: string): Promise<void> {
    const run = async () => {
      const data = (this.data = (await readJson<MapFile>(this.path)) ?? {});
      for (const { diffId, digest, size } of entries) {
        const prev = data[diffId];
        const repos = prev && prev.digest === digest ? prev.repos.filter((r) => r !== repo) : [];
        // Most recent first, bounded: only a handful of mount candidates are ever tried.
        data[diffId] = { digest, size, repos: [repo, ...repos].slice(0, 8) };
      }
      await atomicWriteJson(this.path, data, 0o644, { durable: false });
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    await p;
  }
}
