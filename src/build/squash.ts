/**
 * `build --squash`: the layers a stage made, merged into one layer on top of
 * its base's layers (Docker's SquashImage: the diff of the final image against
 * its base). Files made by one step and deleted by a later one are gone for
 * good; whiteouts and opaque dirs stay only where they hide base content.
 *
 * The merge runs on the unpacked layer dirs (overlay encoding: whiteouts are
 * char 0/0 devices, opaque dirs carry trusted.overlay.opaque=y): a tree of
 * which layer's entry wins at each path, then that tree made into an overlay
 * upper dir — non-directories hard-linked from their layer dir (no data is
 * copied; inode metadata and hard links within a layer come along),
 * directories made with their topmost layer's metadata — which the layer
 * writer packs like any step's upper (sorted, mtimes clamped).
 */
import { chmodSync, lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import type { ContentStore } from '../image/content/store';
import { isOverlayOpaque } from '../image/snapshot/pack';
import { removeTree } from '../image/snapshot/snapshotter';
import { isOverlayWhiteout, OVERLAY_OPAQUE_XATTR, skipXattrOnPack } from '../image/snapshot/whiteout';
import { writeTar } from '../image/tar/writer';
import { MEDIA_OCI_LAYER } from '../image/types';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, fchownat, lgetxattrb, linkat, llistxattrb, lsetxattrb, mkdirat, utimensat } from '../sys/libc';
import { coalesce } from '../sys/chunks';
import type { CachedLayer } from './cache';
import { commitUpper } from './layer';
import { makeTempDir } from './rootfs';

interface Node {
  /** The topmost layer's entry for this path. */
  src: Buffer;
  kind: 'dir' | 'whiteout' | 'other';
  /** Hides what lies below (an opaque dir, or a dir over an entry an earlier step made or deleted). */
  opaque: boolean;
  children: Map<string, Node>;
}

const SLASH = Buffer.from('/');
const at = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, SLASH, name]);
const lstatOf = (p: Buffer): BigIntStats | undefined => lstatSync(p, { bigint: true, throwIfNoEntry: false });

/** Layer dir `dir` over the tree `node` (a directory): later entries replace earlier ones. */
function overlayDir(node: Node, dir: Buffer): void {
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const src = at(dir, name);
    const st = lstatSync(src, { bigint: true });
    const key = name.toString('latin1');
    const prev = node.children.get(key);
    if (!st.isDirectory()) {
      node.children.set(key, { src, kind: isOverlayWhiteout(st) ? 'whiteout' : 'other', opaque: false, children: new Map() });
      continue;
    }
    const opaque = isOverlayOpaque(src);
    if (prev?.kind === 'dir' && !opaque) {
      prev.src = src;
      overlayDir(prev, src);
      continue;
    }
    // A dir replacing a whiteout or a file of an earlier step must still hide the base's dir there.
    const fresh: Node = { src, kind: 'dir', opaque: opaque || prev !== undefined, children: new Map() };
    node.children.set(key, fresh);
    overlayDir(fresh, src);
  }
}

/** Copies a directory's ownership, mode and xattrs (not overlay's bookkeeping). */
function copyDirMeta(src: Buffer, dst: Buffer, st: BigIntStats): void {
  fchownat(AT_FDCWD, dst, Number(st.uid), Number(st.gid), AT_SYMLINK_NOFOLLOW);
  for (const name of llistxattrb(src)) {
    if (skipXattrOnPack(name)) continue;
    const v = lgetxattrb(src, name);
    if (v !== undefined) lsetxattrb(dst, name, v);
  }
  // After chown, which may clear set-id bits.
  chmodSync(dst, Number(st.mode & 0o7777n));
}

/**
 * Writes the children of `node` under `out`. `base` is the same path in the
 * base image's merged view while that view can show through here (every
 * ancestor a real directory there, none made opaque), else undefined.
 */
function materialize(node: Node, out: Buffer, base: Buffer | undefined): void {
  for (const child of node.children.values()) {
    const name = child.src.subarray(child.src.lastIndexOf(0x2f) + 1);
    const dst = at(out, name);
    const basePath = base && at(base, name);
    const below = basePath && lstatOf(basePath);
    if (child.kind === 'whiteout') {
      // Deleting what only an earlier step made needs no trace.
      if (below) linkat(AT_FDCWD, child.src, AT_FDCWD, dst, 0);
      continue;
    }
    if (child.kind === 'other') {
      linkat(AT_FDCWD, child.src, AT_FDCWD, dst, 0);
      continue;
    }
    const st = lstatSync(child.src, { bigint: true });
    mkdirat(AT_FDCWD, dst, 0o700);
    copyDirMeta(child.src, dst, st);
    const opaque = child.opaque && below?.isDirectory() === true;
    if (opaque) lsetxattrb(dst, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
    materialize(child, dst, below?.isDirectory() && !opaque ? basePath : undefined);
    // Last: creating the children bumped it.
    utimensat(AT_FDCWD, dst, st.mtimeNs, st.mtimeNs, AT_SYMLINK_NOFOLLOW);
  }
}

export interface SquashInput {
  content: ContentStore;
  tmpRoot: string;
  /** Seconds; mtimes are clamped to it, as for every build layer. */
  epoch: number;
  /** The base image's merged rootfs (a read-only view). */
  baseRoot: string;
  /** The unpacked layers to merge, bottom → top. */
  layerDirs: string[];
}

/** The merged layer, stored; an empty layer when the steps' changes cancel out (Docker still adds one). */
export async function squashLayers(input: SquashInput): Promise<CachedLayer> {
  const root: Node = { src: Buffer.from('.'), kind: 'dir', opaque: false, children: new Map() };
  for (const dir of input.layerDirs) {
    const d = Buffer.from(dir);
    if (isOverlayOpaque(d)) {
      root.children.clear();
      root.opaque = true;
    }
    overlayDir(root, d);
  }
  const work = await makeTempDir(input.tmpRoot, 'squash-');
  try {
    const upper = Buffer.from(work);
    const baseRoot = Buffer.from(input.baseRoot);
    const opaque = root.opaque && readdirSync(baseRoot).length > 0;
    if (opaque) lsetxattrb(upper, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
    materialize(root, upper, opaque ? undefined : baseRoot);
    const layer = await commitUpper(input.content, work, input.epoch);
    if (layer) return layer;
    const empty = await input.content.putStream(coalesce(writeTar([])));
    return { digest: empty.digest, size: empty.size, mediaType: MEDIA_OCI_LAYER };
  } finally {
    await removeTree(work);
  }
}
