/**
 * Turns a directory into layer tar items (for writeTar): commit and diff of an
 * overlayfs upper dir ('upper'), export/import of a full tree ('plain').
 *
 * The walk never follows a symlink, even if a running container swaps a
 * component while we read: it holds an O_PATH fd per directory level and
 * reaches every child through it (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
 * lstat/readlink of `/proc/self/fd/<dirfd>/<name>`), and reads file bodies
 * from an fd that is checked to be the very inode that was lstat'ed.
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { ConflictError, InternalError, InvalidArgumentError, NotFoundError } from '../../errors';
import type { TarEntryInput } from '../tar/types';
import type { TarWriteItem } from '../tar/writer';
import {
  AT_FDCWD,
  O_CLOEXEC,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  SysError,
  lgetxattrb,
  llistxattrb,
  openat2b,
} from '../../sys/libc';
import {
  OPAQUE_NAME,
  OVERLAY_METACOPY_XATTR,
  OVERLAY_OPAQUE_XATTR,
  OVERLAY_REDIRECT_XATTR,
  cleanComponents,
  isOverlayWhiteout,
  joinComponents,
  quoteName,
  skipXattrOnPack,
  tarName,
  whiteoutName,
} from './whiteout';

export interface PackOptions {
  /**
   * 'upper': an overlayfs upper dir — char 0/0 devices become `.wh.<name>`
   * entries and dirs with xattr trusted.overlay.opaque=y get a `.wh..wh..opq`
   * entry; 'plain': a full tree (export, import of a dir).
   */
  mode: 'upper' | 'plain';
  /** Clamp every mtime to at most this (seconds) — for reproducible builds (SOURCE_DATE_EPOCH style). */
  clampMtime?: number;
  /**
   * Only these relative paths (and what is below them), for `cp` out of a
   * container / build COPY; default everything. Their parent directories are
   * resolved inside `dir` (symlinks followed in-root, never out); the paths
   * themselves are not followed. Names in the tar stay as given.
   */
  include?: string[];
}

const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;
const DIR_FLAGS = O_PATH | O_DIRECTORY | O_CLOEXEC;
const LEAF_ONLY = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
const CHUNK = 1024 * 1024;
const SYNC_READ_MAX = 256 * 1024;
const DOT = Buffer.from('.');
const readAsync = promisify(fs.read);

/**
 * Walks `dir` (never following symlinks) in deterministic byte order of names
 * and yields tar items: dirs, files (streamed), symlinks, hard links (later
 * paths of an inode link to the first), devices, fifos; xattrs except
 * overlay bookkeeping and security.selinux; uid/gid/mode/mtime from lstat.
 * The root itself is not an entry. Each file body must be consumed before the
 * next item is requested (writeTar does this); an unread body is closed then.
 */
export async function* packDirectory(dir: string, opts: PackOptions): AsyncGenerator<TarWriteItem> {
  const includes = opts.include === undefined ? undefined : normalizeIncludes(opts.include);
  const rootfd = openat2b(AT_FDCWD, dir, DIR_FLAGS, 0, 0);
  const walker = new Walker(opts);
  try {
    if (includes === undefined) {
      if (opts.mode === 'upper' && isOpaque(rootfd, DOT)) {
        yield walker.opaqueMarker([], fs.fstatSync(rootfd, { bigint: true }));
      }
      yield* walker.children(rootfd, []);
    } else {
      for (const comps of includes) yield* walker.included(rootfd, comps);
    }
  } finally {
    walker.closePending();
    fs.closeSync(rootfd);
  }
}

interface BodyHandle {
  fd: number;
  closed: boolean;
}

class Walker {
  /** dev:ino → first path packed, for hard links. */
  private readonly links = new Map<string, Buffer>();
  private pending: BodyHandle | undefined;

  constructor(private readonly opts: PackOptions) {}

  closePending(): void {
    if (this.pending && !this.pending.closed) closeBody(this.pending);
    this.pending = undefined;
  }

  *children(dirfd: number, rel: Buffer[]): Generator<TarWriteItem> {
    const names = fs.readdirSync(`/proc/self/fd/${dirfd}`, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const name of names) {
      const st = lstatAt(dirfd, name);
      if (!st) continue; // removed while we walked
      yield* this.visit(dirfd, name, [...rel, name], st);
    }
  }

  *included(rootfd: number, comps: Buffer[]): Generator<TarWriteItem> {
    const shown = quoteName(joinComponents(comps));
    let parent: number;
    try {
      const parentPath = comps.length > 1 ? joinComponents(comps.slice(0, -1)) : DOT;
      parent = openat2b(rootfd, parentPath, DIR_FLAGS, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    } catch (e) {
      if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) {
        throw new NotFoundError(`${shown}: no such file or directory`);
      }
      throw e;
    }
    try {
      const leaf = comps[comps.length - 1];
      const st = lstatAt(parent, leaf);
      if (!st) throw new NotFoundError(`${shown}: no such file or directory`);
      yield* this.visit(parent, leaf, comps, st);
    } finally {
      fs.closeSync(parent);
    }
  }

  *visit(dirfd: number, name: Buffer, rel: Buffer[], st: fs.BigIntStats): Generator<TarWriteItem> {
    const path = joinComponents(rel);
    const upper = this.opts.mode === 'upper';
    if (upper && isOverlayWhiteout(st)) {
      // Checked before hard links: overlayfs shares one whiteout inode among many names.
      const wh = tarName(joinComponents([...rel.slice(0, -1), whiteoutName(name)]));
      yield { entry: { ...this.meta(st), name: wh, type: 'file', mode: 0o600, size: 0 } };
      return;
    }
    // Everything that can find the entry gone (a running container) happens before its item is yielded.
    const xattrs = vanished(() => readXattrs(dirfd, name, path, upper));
    if (xattrs === VANISHED) return;
    const base: TarEntryInput = { ...this.meta(st), name: tarName(path), type: 'file', xattrs };

    if (st.isDirectory()) {
      const fd = vanished(() => openat2b(dirfd, name, DIR_FLAGS | O_NOFOLLOW, 0, LEAF_ONLY));
      if (fd === VANISHED) return;
      try {
        const now = fs.fstatSync(fd, { bigint: true });
        if (now.ino !== st.ino || now.dev !== st.dev) throw changed(path);
        yield { entry: { ...base, type: 'directory' } };
        if (upper && isOpaque(fd, DOT)) yield this.opaqueMarker(rel, st);
        yield* this.children(fd, rel);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }

    const key = st.nlink > 1n ? `${st.dev}:${st.ino}` : undefined;
    const first = key === undefined ? undefined : this.links.get(key);
    if (first) {
      yield { entry: { ...base, type: 'hardlink', linkname: tarName(first), size: 0 } };
      return;
    }
    let item: TarWriteItem | undefined;
    if (st.isFile()) {
      const body = vanished(() => this.openBody(dirfd, name, st, path));
      if (body === VANISHED) return;
      item = { entry: { ...base, type: 'file', size: Number(st.size) }, body };
    } else if (st.isSymbolicLink()) {
      const target = vanished(() => fs.readlinkSync(procPath(dirfd, name), { encoding: 'buffer' }));
      if (target === VANISHED) return;
      item = { entry: { ...base, type: 'symlink', linkname: tarName(target) } };
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const [devmajor, devminor] = splitDev(st.rdev);
      item = { entry: { ...base, type: st.isCharacterDevice() ? 'chardev' : 'blockdev', devmajor, devminor } };
    } else if (st.isFIFO()) {
      item = { entry: { ...base, type: 'fifo' } };
    }
    // Sockets have no tar representation; Docker skips them too.
    if (!item) return;
    if (key !== undefined) this.links.set(key, path);
    yield item;
  }

  /** `<dir>/.wh..wh..opq`, right after the directory's own entry. */
  opaqueMarker(rel: Buffer[], st: fs.BigIntStats): TarWriteItem {
    const name = tarName(joinComponents([...rel, OPAQUE_NAME]));
    return { entry: { ...this.meta(st), name, type: 'file', mode: Number(st.mode & 0o777n), size: 0 } };
  }

  private meta(st: fs.BigIntStats): Pick<TarEntryInput, 'mode' | 'uid' | 'gid' | 'mtime'> {
    let mtime = Number(st.mtimeNs / 1_000_000_000n) + Number(st.mtimeNs % 1_000_000_000n) / 1e9;
    if (this.opts.clampMtime !== undefined && mtime > this.opts.clampMtime) mtime = this.opts.clampMtime;
    return { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime };
  }

  private openBody(dirfd: number, name: Buffer, st: fs.BigIntStats, path: Buffer): AsyncIterable<Buffer> {
    this.closePending();
    // O_NONBLOCK: if the name became a fifo meanwhile, open must not hang.
    const fd = openat2b(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0, LEAF_ONLY);
    const now = fs.fstatSync(fd, { bigint: true });
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) {
      fs.closeSync(fd);
      throw changed(path);
    }
    const handle: BodyHandle = { fd, closed: false };
    this.pending = handle;
    return readBody(handle, Number(st.size), path);
  }
}

/**
 * Exactly `size` bytes: a file that grows is cut, one that shrinks is padded
 * with zeros (the header with its size is already out).
 */
async function* readBody(h: BodyHandle, size: number, path: Buffer): AsyncGenerator<Buffer> {
  try {
    let pos = 0;
    while (pos < size) {
      if (h.closed) throw new InternalError(`pack: body of ${quoteName(path)} read after the next entry was requested`);
      const want = Math.min(CHUNK, size - pos);
      const buf = Buffer.allocUnsafe(want);
      // Small files: a page-cache copy is cheaper than a thread-pool round trip.
      let bytesRead =
        size <= SYNC_READ_MAX
          ? fs.readSync(h.fd, buf, 0, want, pos)
          : (await readAsync(h.fd, buf, 0, want, pos)).bytesRead;
      if (bytesRead === 0) {
        buf.fill(0);
        bytesRead = want;
      }
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    if (!h.closed) closeBody(h);
  }
}

function closeBody(h: BodyHandle): void {
  h.closed = true;
  fs.closeSync(h.fd);
}

const VANISHED = Symbol('vanished');

/** Runs `fn`; an entry removed since readdir (ENOENT) gives VANISHED instead of an error. */
function vanished<T>(fn: () => T): T | typeof VANISHED {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && (e as { code?: unknown }).code === 'ENOENT') return VANISHED;
    throw e;
  }
}

function changed(path: Buffer): ConflictError {
  return new ConflictError(`${quoteName(path)} changed while it was being packed`);
}

/** Cleaned include paths in byte order, without ones nested in another; undefined = everything. */
function normalizeIncludes(include: string[]): Buffer[][] | undefined {
  const all: Buffer[][] = [];
  for (const p of include) {
    const comps = cleanComponents(Buffer.from(p, 'utf8'));
    if (!comps) throw new InvalidArgumentError(`include path ${JSON.stringify(p)} leaves the directory`);
    if (comps.length === 0) return undefined;
    all.push(comps);
  }
  all.sort((a, b) => Buffer.compare(joinComponents(a), joinComponents(b)));
  const out: Buffer[][] = [];
  for (const c of all) {
    const prev = out[out.length - 1];
    if (prev && isUnder(c, prev)) continue;
    out.push(c);
  }
  return out;
}

function isUnder(c: Buffer[], prefix: Buffer[]): boolean {
  return c.length >= prefix.length && prefix.every((p, i) => p.equals(c[i]));
}

function readXattrs(dirfd: number, name: Buffer, shown: Buffer, upper: boolean): Map<string, Buffer> | undefined {
  const path = procPath(dirfd, name);
  const all = llistxattrb(path);
  if (upper) {
    // redirect_dir / metacopy uppers point into lower layers: a tar of the upper alone would lose data.
    for (const x of [OVERLAY_REDIRECT_XATTR, OVERLAY_METACOPY_XATTR]) {
      if (all.includes(x)) {
        throw new InvalidArgumentError(
          `upper dir entry ${quoteName(shown)} has ${x}; mount overlay without redirect_dir/metacopy`,
        );
      }
    }
  }
  const names = all.filter((n) => !skipXattrOnPack(n)).sort();
  const out = new Map<string, Buffer>();
  for (const n of names) {
    const v = lgetxattrb(path, n);
    if (v !== undefined) out.set(n, v);
  }
  return out.size > 0 ? out : undefined;
}

function isOpaque(dirfd: number, name: Buffer): boolean {
  return isOverlayOpaque(procPath(dirfd, name));
}

/** An overlay directory that hides everything below it (xattr trusted.overlay.opaque=y). */
export function isOverlayOpaque(path: Buffer | string): boolean {
  return lgetxattrb(path, OVERLAY_OPAQUE_XATTR)?.toString('latin1') === 'y';
}

/** Linux dev_t → [major, minor] (glibc's gnu_dev_major/minor). */
function splitDev(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

function procPath(fd: number, leaf: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), leaf]);
}

function lstatAt(fd: number, leaf: Buffer): fs.BigIntStats | undefined {
  return fs.lstatSync(procPath(fd, leaf), { bigint: true, throwIfNoEntry: false });
}
