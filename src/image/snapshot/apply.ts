/**
 * Extracts one uncompressed OCI layer tar into a snapshot directory — the
 * part of the engine that handles hostile input (shared/design/security.md
 * §1–3). Semantics follow containerd's pkg/archive/tar.go and OCI layer.md.
 *
 * In-root resolution: the snapshot dir is opened once (rootfd). For every
 * entry the name is cleaned (a '..' that climbs above the root is a
 * ForbiddenError) and its PARENT is opened with
 * openat2(rootfd, parent, O_PATH|O_DIRECTORY, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS):
 * the kernel resolves symlinks and '..' as if rootfd were '/', so `a → /etc`
 * lands on <root>/etc, never on the host. Missing parents are created one
 * component at a time below an fd obtained the same way (dangling in-root
 * symlinks are followed in-root, like containerd's fs.RootPath). The leaf is
 * then created relative to that parent fd with *at() calls that never follow
 * a final symlink: openat2(O_CREAT|O_EXCL|O_NOFOLLOW), mkdirat, symlinkat,
 * mknodat, linkat(flags 0), fchownat/utimensat(AT_SYMLINK_NOFOLLOW). chmod
 * goes through an O_PATH|O_NOFOLLOW fd that is checked not to be a symlink
 * (CVE-2021-32760). xattrs and lstat use `/proc/self/fd/<parentfd>/<leaf>`
 * with l*-calls: the kernel jumps through the fd's magic link to the real
 * parent directory and does not follow the leaf.
 */
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { promisify } from 'node:util';
import {
  BerthError,
  ForbiddenError,
  InternalError,
  InvalidArgumentError,
  UnavailableError,
} from '../../errors';
import { readTar } from '../tar/reader';
import type { TarHeader } from '../tar/types';
import {
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  SysError,
  fchmodat2NoFollow,
  fchownat,
  fsetxattr,
  linkat,
  lsetxattrb,
  mkdirat,
  mknodat,
  openat2b,
  symlinkat,
  unlinkat,
  utimensat,
} from '../../sys/libc';
import {
  OVERLAY_OPAQUE_XATTR,
  cleanComponents,
  isWhiteoutPrefixed,
  joinComponents,
  parseWhiteout,
  quoteName,
  skipXattrOnApply,
  WHITEOUT_META_PREFIX,
  WHITEOUT_OPAQUE,
} from './whiteout';

export interface ApplyLayerOptions {
  /** Default 2_000_000; more entries → ForbiddenError. */
  maxEntries?: number;
  /** Total uncompressed file bytes, default 64 GiB; more → ForbiddenError. */
  maxBytes?: number;
  /** Called with each entry's cleaned name after it was applied. */
  onEntry?: (name: string) => void;
}

export interface ApplyLayerResult {
  entries: number;
  bytes: number;
}

export const DEFAULT_MAX_ENTRIES = 2_000_000;
export const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
/** Longest cleaned name accepted: what a single path syscall takes (PATH_MAX - 1). */
const MAX_NAME = 4095;
const MAX_SYMLINK_HOPS = 40;
const SYNC_WRITE_MAX = 256 * 1024;
/** Highest id a tar may set; 0xffffffff means "unchanged" to chown(2). */
const MAX_ID = 0xfffffffe;

const { O_DIRECTORY, O_NOFOLLOW, O_WRONLY, O_CREAT, O_EXCL, O_RDONLY } = fs.constants;
const DIR_FLAGS = O_PATH | O_DIRECTORY | O_CLOEXEC;
const IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
/** For single-component leaves below an already-resolved parent: no symlink, no escape. */
const LEAF_ONLY = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
const DOT = Buffer.from('.');

const writeAsync = promisify(fs.write);

/** Extracts one uncompressed layer tar into `dir` (an empty snapshot dir, or the lower state for non-overlay use). */
export async function applyLayer(
  dir: string,
  tar: AsyncIterable<Buffer | Uint8Array>,
  opts: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const snap = new Snapshot(dir);
  const state: State = { snap, dirTimes: new Map(), privileged: process.getuid?.() === 0 };
  let entries = 0;
  let bytes = 0;
  try {
    for await (const { header, body } of readTar(tar)) {
      if (++entries > maxEntries) throw new ForbiddenError(`layer has more than ${maxEntries} entries`);
      if (header.type === 'file') {
        bytes += header.size;
        if (bytes > maxBytes) {
          throw new ForbiddenError(
            `layer holds more than ${maxBytes} bytes of file data (at entry ${quoteName(header.name)})`,
          );
        }
      }
      let name: string;
      try {
        name = await applyEntry(state, header, body);
      } catch (e) {
        throw wrapError(e, header.name);
      }
      opts.onEntry?.(name);
    }
    // Last, because creating entries inside a directory bumps its mtime.
    for (const t of state.dirTimes.values()) {
      try {
        snap.setTimes(t.comps, t.atime, t.mtime);
      } catch (e) {
        throw wrapError(e, joinComponents(t.comps));
      }
    }
  } finally {
    snap.close();
  }
  return { entries, bytes };
}

interface DirTimes {
  comps: Buffer[];
  atime: bigint;
  mtime: bigint;
}

interface State {
  snap: Snapshot;
  /** Directory times to set after all entries, keyed by cleaned path. */
  dirTimes: Map<string, DirTimes>;
  /** Device nodes are created only by a root extractor, never rootless. */
  privileged: boolean;
}

/** The snapshot root, held open so every lookup is relative to the same directory. */
class Snapshot {
  private readonly rootfd: number;

  constructor(dir: string) {
    this.rootfd = openat2b(AT_FDCWD, dir, DIR_FLAGS, 0, 0);
  }

  close(): void {
    fs.closeSync(this.rootfd);
  }

  /** An O_PATH fd of `path` resolved with the kernel treating the root as '/'. */
  openDir(path: Buffer): number {
    const p = path.length === 0 ? DOT : path;
    for (let attempt = 0; ; attempt++) {
      try {
        return openat2b(this.rootfd, p, DIR_FLAGS, 0, IN_ROOT);
      } catch (e) {
        // RESOLVE_IN_ROOT gives EAGAIN when a rename or mount raced a '..' step anywhere.
        if (!(e instanceof SysError && e.code === 'EAGAIN') || attempt >= 64) throw e;
      }
    }
  }

  /**
   * The directory `comps` inside the root, creating missing components with
   * mode 0755. A dangling symlink on the way is followed inside the root (its
   * target is created there), as containerd's fs.RootPath + MkdirAll do.
   */
  ensureDir(comps: Buffer[]): number {
    try {
      return this.openDir(joinComponents(comps));
    } catch (e) {
      if (!(e instanceof SysError && e.code === 'ENOENT')) throw e;
    }
    let path = comps;
    let hops = 0;
    restart: for (;;) {
      let fd = this.openDir(DOT);
      try {
        for (let i = 0; i < path.length; i++) {
          const prefix = joinComponents(path.slice(0, i + 1));
          let next: number | undefined;
          try {
            next = this.openDir(prefix);
          } catch (e) {
            if (!(e instanceof SysError && e.code === 'ENOENT')) throw e;
          }
          if (next === undefined) {
            const name = path[i];
            const st = lstatAt(fd, name);
            if (st?.isSymbolicLink()) {
              if (++hops > MAX_SYMLINK_HOPS) throw new SysError('openat2', osConstants.errno.ELOOP, prefix.toString());
              const target = fs.readlinkSync(procPath(fd, name), { encoding: 'buffer' });
              const rest = rawComponents(target);
              path = [...(target[0] === 0x2f ? [] : path.slice(0, i)), ...rest, ...path.slice(i + 1)];
              continue restart;
            }
            if (st) throw new SysError('openat2', osConstants.errno.ENOTDIR, prefix.toString());
            try {
              mkdirat(fd, name, 0o755);
              chmodNoFollow(fd, name, 0o755); // not narrowed by the umask
            } catch (e) {
              if (!(e instanceof SysError && e.code === 'EEXIST')) throw e;
            }
            next = this.openDir(prefix);
          }
          fs.closeSync(fd);
          fd = next;
        }
        const done = fd;
        fd = -1;
        return done;
      } finally {
        if (fd >= 0) fs.closeSync(fd);
      }
    }
  }

  setTimes(comps: Buffer[], atime: bigint, mtime: bigint): void {
    let parent: number;
    try {
      parent = this.openDir(joinComponents(comps.slice(0, -1)));
    } catch (e) {
      // A later entry removed or replaced an ancestor: nothing left to date.
      if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return;
      throw e;
    }
    try {
      const leaf = comps.length === 0 ? DOT : comps[comps.length - 1];
      if (!lstatAt(parent, leaf)) return;
      utimensat(parent, leaf, atime, mtime, AT_SYMLINK_NOFOLLOW);
    } finally {
      fs.closeSync(parent);
    }
  }
}

/** Applies one entry; returns its cleaned name (for onEntry). */
async function applyEntry(state: State, header: TarHeader, body: AsyncIterable<Buffer>): Promise<string> {
  const label = quoteName(header.name);
  if (header.name.includes(0)) throw new InvalidArgumentError(`layer entry ${label} contains a NUL byte`);
  const comps = cleanComponents(header.name);
  if (!comps) throw new ForbiddenError(`layer entry ${label} escapes the layer root`);
  const joined = joinComponents(comps);
  const cleanName = joined.toString('utf8');
  if (joined.length > MAX_NAME) {
    const head = quoteName(joined.subarray(0, 60));
    throw new InvalidArgumentError(`layer entry ${head}... is longer than ${MAX_NAME} bytes`);
  }
  if (comps.length === 0) {
    // './' : metadata of the snapshot root itself, as containerd applies it.
    if (header.type !== 'directory') {
      throw new InvalidArgumentError(`layer entry ${label} names the root but is not a directory`);
    }
    const fd = state.snap.openDir(DOT);
    try {
      applyMetadata(state, fd, DOT, header, comps, false);
    } finally {
      fs.closeSync(fd);
    }
    return cleanName;
  }
  // aufs bookkeeping at the top (.wh..wh.plnk/..., .wh..wh.aufs) means nothing to overlay: skip, as Docker does.
  const first = comps[0].toString('latin1');
  if (first.startsWith(WHITEOUT_META_PREFIX) && !(comps.length === 1 && first === WHITEOUT_OPAQUE)) return cleanName;
  for (const c of comps.slice(0, -1)) {
    if (isWhiteoutPrefixed(c)) {
      throw new InvalidArgumentError(`layer entry ${label} has a whiteout name as a parent directory`);
    }
  }
  // Checked before anything is created: an id of 2^32 must not become 0 (root) on the way down.
  for (const [what, id] of [
    ['uid', header.uid],
    ['gid', header.gid],
  ] as const) {
    if (!Number.isSafeInteger(id) || id < 0 || id > MAX_ID) {
      throw new InvalidArgumentError(`layer entry ${label} has ${what} ${id}, outside 0..${MAX_ID}`);
    }
  }
  const leaf = comps[comps.length - 1];
  const wh = parseWhiteout(leaf, header.name);
  if (wh?.kind === 'meta') return cleanName;

  const parentComps = comps.slice(0, -1);
  const parent = state.snap.ensureDir(parentComps);
  try {
    if (wh?.kind === 'opaque') {
      setOpaque(parent);
      return cleanName;
    }
    if (wh?.kind === 'whiteout') {
      // A later entry wins: an earlier same-layer <name> is replaced by the whiteout.
      removeAll(parent, wh.target);
      mknodat(parent, wh.target, S_IFCHR, 0, 0);
      state.dirTimes.delete(pathKey([...parentComps, wh.target]));
      return cleanName;
    }
    await createLeaf(state, parent, leaf, header, comps, body);
    return cleanName;
  } finally {
    fs.closeSync(parent);
  }
}

async function createLeaf(
  state: State,
  parent: number,
  leaf: Buffer,
  header: TarHeader,
  comps: Buffer[],
  data: AsyncIterable<Buffer>,
): Promise<void> {
  const label = quoteName(header.name);
  let linkSource: { fd: number; leaf: Buffer } | undefined;
  if (header.type === 'hardlink') linkSource = resolveHardlink(state, header, comps);
  try {
    if ((header.type === 'chardev' || header.type === 'blockdev') && !state.privileged) return;
    if (header.type === 'chardev' && header.devmajor === 0 && header.devminor === 0) {
      throw new InvalidArgumentError(
        `layer entry ${label} is a character device 0/0, which overlayfs reads as a whiteout; ` +
          'layers must use .wh. entries',
      );
    }

    const existing = lstatAt(parent, leaf);
    const keepDir = header.type === 'directory' && existing?.isDirectory() === true;
    // Later entries win: remove whatever is there, unless both are directories (containerd).
    if (existing && !keepDir) removeAll(parent, leaf);

    let isSymlink = false;
    switch (header.type) {
      case 'directory':
        if (!keepDir) mkdirat(parent, leaf, 0o700);
        break;
      case 'file':
        await writeFile(parent, leaf, header.size, data);
        break;
      case 'symlink':
        if (header.linkname.length === 0 || header.linkname.includes(0)) {
          throw new InvalidArgumentError(`layer entry ${label} is a symlink with an invalid target`);
        }
        // Any target text is fine: it is only ever followed inside the container (or in-root here).
        symlinkat(header.linkname, parent, leaf);
        isSymlink = true;
        break;
      case 'hardlink': {
        const src = linkSource as { fd: number; leaf: Buffer };
        // flags 0: a link to a symlink links the symlink itself, never its target.
        linkat(src.fd, src.leaf, parent, leaf, 0);
        isSymlink = lstatAt(parent, leaf)?.isSymbolicLink() === true;
        break;
      }
      case 'chardev':
      case 'blockdev':
        try {
          const kind = header.type === 'chardev' ? S_IFCHR : S_IFBLK;
          mknodat(parent, leaf, kind | 0o600, header.devmajor, header.devminor);
        } catch (e) {
          // Root inside a user namespace may not create devices; containerd skips them there too.
          if (e instanceof SysError && e.code === 'EPERM') return;
          throw e;
        }
        break;
      case 'fifo':
        mknodat(parent, leaf, S_IFIFO | 0o600, 0, 0);
        break;
      default:
        throw new InvalidArgumentError(`layer entry ${label} has unsupported type ${String(header.type)}`);
    }
    applyMetadata(state, parent, leaf, header, comps, isSymlink);
  } finally {
    if (linkSource) fs.closeSync(linkSource.fd);
  }
}

/**
 * The hard-link source, resolved in-root like any other path (containerd's
 * hardlinkRootPath): its parent via RESOLVE_IN_ROOT, its leaf not followed.
 */
function resolveHardlink(state: State, header: TarHeader, comps: Buffer[]): { fd: number; leaf: Buffer } {
  const label = quoteName(header.name);
  const target = quoteName(header.linkname);
  if (header.linkname.includes(0)) {
    throw new InvalidArgumentError(`layer entry ${label} has a hard link target with a NUL byte`);
  }
  const tcomps = cleanComponents(header.linkname);
  if (!tcomps) throw new ForbiddenError(`layer entry ${label}: hard link target ${target} escapes the layer root`);
  if (tcomps.length === 0) throw new InvalidArgumentError(`layer entry ${label} is a hard link to the root`);
  if (joinComponents(tcomps).equals(joinComponents(comps))) {
    throw new InvalidArgumentError(`layer entry ${label} is a hard link to itself`);
  }
  let fd: number;
  try {
    fd = state.snap.openDir(joinComponents(tcomps.slice(0, -1)));
  } catch (e) {
    if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) {
      throw new InvalidArgumentError(`layer entry ${label}: hard link target ${target} does not exist in the layer`);
    }
    throw e;
  }
  const leaf = tcomps[tcomps.length - 1];
  const st = lstatAt(fd, leaf);
  if (!st || st.isDirectory()) {
    fs.closeSync(fd);
    throw new InvalidArgumentError(
      `layer entry ${label}: hard link target ${target} ${st ? 'is a directory' : 'does not exist in the layer'}`,
    );
  }
  return { fd, leaf };
}

/** Creates a new regular file (never through an existing name or symlink) and streams the body into it. */
async function writeFile(parent: number, leaf: Buffer, size: number, data: AsyncIterable<Buffer>): Promise<void> {
  const fd = openat2b(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600, LEAF_ONLY);
  try {
    let written = 0;
    for await (const chunk of data) {
      let off = 0;
      while (off < chunk.length) {
        // Small files: a page-cache copy is cheaper than a thread-pool round trip.
        off +=
          size <= SYNC_WRITE_MAX
            ? fs.writeSync(fd, chunk, off, chunk.length - off)
            : (await writeAsync(fd, chunk, off, chunk.length - off, null)).bytesWritten;
      }
      written += chunk.length;
    }
    if (written !== size) throw new InvalidArgumentError(`layer file body is ${written} bytes, expected ${size}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Owner, mode, xattrs, times — in that order: chown clears setuid/setgid and
 * security.capability, so those come after it.
 */
function applyMetadata(
  state: State,
  parent: number,
  leaf: Buffer,
  header: TarHeader,
  comps: Buffer[],
  isSymlink: boolean,
): void {
  fchownat(parent, leaf, header.uid, header.gid, AT_SYMLINK_NOFOLLOW);
  // Symlink modes mean nothing on Linux; chmod on one would change its target.
  if (!isSymlink) chmodNoFollow(parent, leaf, header.mode & 0o7777);
  applyXattrs(parent, leaf, header);

  const mtime = timeNs(header, 'mtime') ?? 0n;
  const atime = timeNs(header, 'atime') ?? mtime;
  const key = pathKey(comps);
  if (header.type === 'directory') {
    state.dirTimes.set(key, { comps, atime, mtime });
  } else {
    state.dirTimes.delete(key);
    utimensat(parent, leaf, atime, mtime, AT_SYMLINK_NOFOLLOW);
  }
}

function applyXattrs(parent: number, leaf: Buffer, header: TarHeader): void {
  for (const [name, value] of header.xattrs) {
    if (skipXattrOnApply(name)) continue;
    if (name.length === 0 || name.includes('\0')) {
      throw new InvalidArgumentError(`layer entry ${quoteName(header.name)} has an invalid xattr name`);
    }
    try {
      lsetxattrb(procPath(parent, leaf), name, value);
    } catch (e) {
      if (e instanceof SysError) {
        // Filesystems without xattrs: containerd logs and goes on.
        if (e.errno === osConstants.errno.ENOTSUP) continue;
        // user.* is refused on symlinks and device nodes (containerd ignores EPERM there too).
        if (e.errno === osConstants.errno.EPERM && name.startsWith('user.')) continue;
      }
      throw e;
    }
  }
}

/**
 * chmod that can never reach through a symlink: fchmodat2(AT_SYMLINK_NOFOLLOW)
 * where the kernel has it, else an O_PATH|O_NOFOLLOW handle, checked not to be
 * a symlink, then chmod via its fd path (what glibc's fchmodat emulation does).
 */
function chmodNoFollow(parent: number, leaf: Buffer, mode: number): void {
  if (fchmodat2NoFollow(parent, leaf, mode)) return;
  const fd = openat2b(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, LEAF_ONLY);
  try {
    if (fs.fstatSync(fd).isSymbolicLink()) return;
    fs.chmodSync(`/proc/self/fd/${fd}`, mode);
  } finally {
    fs.closeSync(fd);
  }
}

function setOpaque(dirfd: number): void {
  const fd = openat2b(dirfd, DOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, LEAF_ONLY);
  try {
    fsetxattr(fd, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
  } finally {
    fs.closeSync(fd);
  }
}

/** rm -rf of one name below `parent`, descending through no-follow directory fds only. */
function removeAll(parent: number, leaf: Buffer): void {
  const st = lstatAt(parent, leaf);
  if (!st) return;
  if (st.isDirectory()) {
    const fd = openat2b(parent, leaf, DIR_FLAGS | O_NOFOLLOW, 0, LEAF_ONLY);
    try {
      for (const child of fs.readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' })) removeAll(fd, child);
    } finally {
      fs.closeSync(fd);
    }
    unlinkat(parent, leaf, AT_REMOVEDIR);
  } else {
    unlinkat(parent, leaf, 0);
  }
}

/** `/proc/self/fd/<fd>/<leaf>`: the kernel jumps to the fd's directory; the leaf is looked up there. */
function procPath(fd: number, leaf: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), leaf]);
}

function lstatAt(fd: number, leaf: Buffer): fs.BigIntStats | undefined {
  return fs.lstatSync(procPath(fd, leaf), { bigint: true, throwIfNoEntry: false });
}

/** Symlink-target components; '..' stays (the kernel clamps it at the root). */
function rawComponents(target: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= target.length; i++) {
    if (i < target.length && target[i] !== 0x2f) continue;
    const c = target.subarray(start, i);
    start = i + 1;
    if (c.length === 0 || (c.length === 1 && c[0] === 0x2e)) continue;
    out.push(c);
  }
  return out;
}

function pathKey(comps: Buffer[]): string {
  return joinComponents(comps).toString('latin1');
}

/** Exact nanoseconds: from the raw PAX record when present (a double cannot hold ns), else the header number. */
function timeNs(header: TarHeader, key: 'mtime' | 'atime'): bigint | undefined {
  const raw = header.pax.get(key);
  if (raw) {
    const m = /^(-?)([0-9]*)(?:\.([0-9]*))?$/.exec(raw.toString('latin1'));
    if (m && (m[2] || m[3])) {
      const sec = BigInt(m[2] || '0');
      const frac = BigInt((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
      return checkTime((sec * 1_000_000_000n + frac) * (m[1] ? -1n : 1n), header);
    }
  }
  const v = key === 'mtime' ? header.mtime : header.atime;
  if (v === undefined) return undefined;
  if (!Number.isFinite(v)) {
    throw new InvalidArgumentError(`layer entry ${quoteName(header.name)} has an invalid ${key}`);
  }
  const sec = Math.floor(v);
  return checkTime(BigInt(sec) * 1_000_000_000n + BigInt(Math.round((v - sec) * 1e9)), header);
}

/** Seconds must fit a 64-bit time_t; 2^53 s (285 million years) is plenty and keeps errors readable. */
function checkTime(ns: bigint, header: TarHeader): bigint {
  const limit = 2n ** 53n * 1_000_000_000n;
  if (ns > limit || ns < -limit) {
    throw new InvalidArgumentError(`layer entry ${quoteName(header.name)} has a time out of range`);
  }
  return ns;
}

const INVALID_CODES = new Set([
  'EINVAL',
  'EEXIST',
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'ELOOP',
  'ENAMETOOLONG',
  'EPERM',
  'EMLINK',
  'ERANGE',
  'E2BIG',
  'ENOTEMPTY',
  'EXDEV',
  'EOVERFLOW',
]);

/** Gives system errors the entry's name and a Berth error class. */
function wrapError(e: unknown, entry: Buffer): unknown {
  if (e instanceof BerthError) return e;
  const code = e instanceof SysError ? e.code : (e as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !(e instanceof Error)) return e;
  const name = `layer entry ${quoteName(entry)}`;
  const what = `${name}: ${e.message}`;
  const cause = { cause: e };
  if (code === 'ENOSPC' || code === 'EDQUOT') return new UnavailableError(`${what} (no space left)`, cause);
  if (code === 'ENOTDIR') return new InvalidArgumentError(`${name}: a parent path is not a directory`, cause);
  if (code === 'ELOOP') return new InvalidArgumentError(`${name}: too many levels of symbolic links`, cause);
  if (INVALID_CODES.has(code)) return new InvalidArgumentError(what, cause);
  return new InternalError(what, { cause: e });
}
