/**
 * Layers of a build: packing a step's changes into a deterministic,
 * uncompressed blob in the content store, and keeping the layers this build
 * made unpacked, so later steps mount them as overlay lowers without
 * extracting the blobs again. Layers from the base image or the cache come
 * from the snapshotter.
 */
import { promises as fsp, lstatSync, lutimesSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContentStore } from '../image/content/store';
import { decompress } from '../image/compression';
import type { Digest } from '../image/digest';
import { removeTree } from '../image/snapshot/snapshotter';
import { packDirectory } from '../image/snapshot/pack';
import type { ImageStore } from '../image/store';
import { writeTar, type TarWriteItem } from '../image/tar/writer';
import { MEDIA_OCI_LAYER, type Descriptor } from '../image/types';
import type { CachedLayer } from './cache';
import { LayerDirWriter } from './layer-dir';
import { makeTempDir } from './rootfs';

/**
 * Packs `upper` (sorted entries, mtimes clamped to `epoch`, no atime/ctime) and
 * stores it; undefined when the step changed nothing (no layer, as BuildKit).
 */
export async function commitUpper(content: ContentStore, upper: string, epoch: number): Promise<CachedLayer | undefined> {
  if (readdirSync(upper).length === 0) return undefined;
  const blob = await content.putStream(writeTar(packDirectory(upper, { mode: 'upper', clampMtime: epoch })));
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
  /** diffID → unpacked dir, for layers this build made. */
  private readonly dirs = new Map<Digest, string>();
  private workDir?: string;

  constructor(
    private readonly images: ImageStore,
    private readonly tmpRoot: string,
  ) {}

  /** Layer dirs bottom → top: the snapshotter's up to the last layer this build did not make, then this build's own. */
  async dirsOf(st: { layers: Descriptor[]; diffIds: Digest[] }): Promise<string[]> {
    let k = st.diffIds.length;
    while (k > 0 && this.dirs.has(st.diffIds[k - 1])) k--;
    const open = async (i: number) => decompress(this.images.content.stream(st.layers[i].digest));
    const snaps = k === 0 ? [] : await this.images.snapshots.prepare(st.diffIds.slice(0, k), open);
    return [...snaps.map((s) => s.dir), ...st.diffIds.slice(k).map((d) => this.dirs.get(d) as string)];
  }

  private async newDir(): Promise<string> {
    this.workDir ??= await makeTempDir(this.tmpRoot, 'build-');
    const dir = await fsp.mkdtemp(join(this.workDir, 'layer-'));
    await fsp.chmod(dir, 0o755);
    return dir;
  }

  /** Tar items → a layer blob, written unpacked at the same time; undefined for no items. */
  async write(items: TarWriteItem[]): Promise<CachedLayer | undefined> {
    if (items.length === 0) return undefined;
    const dir = await this.newDir();
    const w = new LayerDirWriter(dir);
    let blob;
    try {
      blob = await this.images.content.putStream(writeTar((function* () {
        for (const it of items) yield w.mirror(it);
      })()));
    } finally {
      w.finish();
    }
    const layer: CachedLayer = { digest: blob.digest, size: blob.size, mediaType: MEDIA_OCI_LAYER };
    if (!this.dirs.has(layer.digest)) this.dirs.set(layer.digest, dir);
    return layer;
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
