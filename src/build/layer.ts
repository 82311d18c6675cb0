/**
 * Layers of a build: packing a step's changes into a deterministic,
 * uncompressed blob in the content store, and keeping the layers this build
 * made unpacked, so later steps mount them as overlay lowers without
 * extracting the blobs again: COPY layers become snapshots at once (adopted),
 * RUN/WORKDIR upper dirs stay build-local (they carry overlay bookkeeping
 * xattrs). Layers from the base image or the cache come from the snapshotter.
 */
import { promises as fsp, lstatSync, lutimesSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContentStore } from '../image/content/store';
import { decompress } from '../image/compression';
import { chainIds, type Digest } from '../image/digest';
import { removeTree } from '../image/snapshot/snapshotter';
import { packDirectory } from '../image/snapshot/pack';
import type { ImageStore } from '../image/store';
import { writeTar, type TarWriteItem } from '../image/tar/writer';
import { MEDIA_OCI_LAYER, type Descriptor } from '../image/types';
import type { CachedLayer } from './cache';
import { LayerDirWriter } from './layer-dir';
import { makeTempDir } from './rootfs';
import { coalesce } from '../sys/chunks';

/**
 * Packs `upper` (sorted entries, mtimes clamped to `epoch`, no atime/ctime) and
 * stores it; undefined when the step changed nothing (no layer, as BuildKit).
 */
export async function commitUpper(content: ContentStore, upper: string, epoch: number): Promise<CachedLayer | undefined> {
  if (readdirSync(upper).length === 0) return undefined;
  const blob = await content.putStream(coalesce(writeTar(packDirectory(upper, { mode: 'upper', clampMtime: epoch }))));
  return { digest: blob.digest, size: blob.size, mediaType: MEDIA_OCI_LAYER };
}

/**
 * Clamps every mtime under `dir` (not following symlinks) to `epoch`, so an
 * upper dir kept as a lower for later steps looks exactly like its layer
 * unpacked. Only for dirs nothing else writes to (a finished step's upper).
 */
export function clampTree(dir: string, epoch: number): void {
  for (const name of readdirSync(dir)) {
    const p = `${dir}/${name}`;
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) clampTree(p, epoch);
    if (st.mtimeMs > epoch * 1000) lutimesSync(p, epoch, epoch);
  }
}

export class BuildLayers {
  /** diffID → unpacked dir, for RUN and WORKDIR layers this build made (sandbox upper dirs, build-local). */
  private readonly dirs = new Map<Digest, string>();
  private workDir?: string;

  constructor(
    private readonly images: ImageStore,
    private readonly tmpRoot: string,
  ) {}

  /** Layer dirs bottom → top: this build's upper dirs, else the snapshotter's (unpacked from the blob when missing). */
  async dirsOf(st: { layers: Descriptor[]; diffIds: Digest[] }): Promise<string[]> {
    const chains = chainIds(st.diffIds);
    const open = async (i: number) => decompress(this.images.content.stream(st.layers[i].digest));
    const out: string[] = [];
    for (let i = 0; i < chains.length; i++) {
      const local = this.dirs.get(st.diffIds[i]);
      if (local) {
        out.push(local);
        continue;
      }
      const snap = this.images.snapshots.get(chains[i]) ?? (await this.images.snapshots.prepare(st.diffIds.slice(0, i + 1), open))[i];
      out.push(snap.dir);
    }
    return out;
  }

  private async newDir(): Promise<string> {
    this.workDir ??= await makeTempDir(this.tmpRoot, 'build-');
    const dir = await fsp.mkdtemp(join(this.workDir, 'layer-'));
    await fsp.chmod(dir, 0o755);
    return dir;
  }

  /**
   * Tar items on top of the layers `parent` → a layer blob, unpacked at the
   * same time into a dir the snapshotter adopts (kept across builds: no
   * extraction later, and no tree of files deleted at the end of every build,
   * which also slows ext4's inode allocation for a while). `expected`: the
   * layer a reproducible rebuild should give (--no-cache); when its snapshot
   * exists only the blob is written. Undefined for no items.
   */
  async write(parent: Digest[], items: TarWriteItem[], expected?: Digest): Promise<CachedLayer | undefined> {
    if (items.length === 0) return undefined;
    const chainOf = (d: Digest) => chainIds([...parent, d])[parent.length];
    if (expected && this.images.snapshots.get(chainOf(expected))) {
      // Should the content differ after all, dirsOf unpacks the new blob.
      return this.layerOf(await this.images.content.putStream(coalesce(writeTar(items))));
    }
    const dir = await this.newDir();
    const w = new LayerDirWriter(dir);
    let blob;
    try {
      blob = await this.images.content.putStream(coalesce(writeTar((function* () {
        for (const it of items) yield w.mirror(it);
      })())));
    } finally {
      w.finish();
    }
    const layer = this.layerOf(blob);
    if (!(await this.images.snapshots.adopt(chainOf(layer.digest), dir))) {
      if (this.images.snapshots.get(chainOf(layer.digest))) await removeTree(dir);
      else this.dirs.set(layer.digest, dir);
    }
    return layer;
  }

  private layerOf(blob: { digest: Digest; size: number }): CachedLayer {
    return { digest: blob.digest, size: blob.size, mediaType: MEDIA_OCI_LAYER };
  }

  /** Keeps a finished step's upper dir (moved) as the unpacked form of its layer. */
  async adopt(layer: CachedLayer, dir: string, epoch: number): Promise<void> {
    if (this.dirs.has(layer.digest)) return;
    const target = join(await this.newDir(), 'fs');
    await fsp.rename(dir, target);
    clampTree(target, epoch);
    this.dirs.set(layer.digest, target);
  }

  /** At the end of the build. */
  async remove(): Promise<void> {
    if (this.workDir) await removeTree(this.workDir);
    this.workDir = undefined;
    this.dirs.clear();
  }
}
