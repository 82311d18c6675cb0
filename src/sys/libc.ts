/**
 * The few libc calls Node 20 lacks (xattrs, mknod, openat2, mount, SEQPACKET
 * sockets), through koffi. Loaded lazily so `berth --version` pays nothing.
 * Every wrapper throws a SysError carrying errno and the syscall name.
 */
import { constants as fsConstants, openSync } from 'node:fs';
import { endianness as osEndianness, constants as osConstants } from 'node:os';

type KoffiFn = (...args: unknown[]) => number;
interface Libc {
  lsetxattr: KoffiFn;
  lgetxattr: KoffiFn;
  llistxattr: KoffiFn;
  mknod: KoffiFn;
  syscall_openat2: KoffiFn;
  mount: KoffiFn;
  umount2: KoffiFn;
  socket: KoffiFn;
  connect: KoffiFn;
  close: KoffiFn;
  malloc_trim: KoffiFn;
  syscall0: KoffiFn;
  unshare: KoffiFn;
  setns: KoffiFn;
  ioctl: KoffiFn;
  errno: () => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require('koffi');
  const lib = koffi.load('libc.so.6');
  libc = {
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)'),
    llistxattr: lib.func('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)'),
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    syscall_openat2: lib.func('long syscall(long nr, int dirfd, const char *path, void *how, size_t size)'),
    mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    connect: lib.func('int connect(int fd, const void *addr, uint32_t len)'),
    close: lib.func('int close(int fd)'),
    malloc_trim: lib.func('int malloc_trim(size_t pad)'),
    syscall0: lib.func('long syscall(long nr)'),
    unshare: lib.func('int unshare(int flags)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, _Inout_ void *arg)'),
    errno: () => koffi.errno() as number,
  };
  return libc;
}

/** glibc's malloc_trim(0): return free heap pages to the kernel. */
export function mallocTrim(): void {
  try {
    load().malloc_trim(0);
  } catch {
    // not glibc: nothing to do
  }
}

/** x86 x32 ABI bit: syscall numbers with it set are x32 calls. */
const X32_SYSCALL_BIT = 0x40000000;
const SYS_GETPID = 39;

/**
 * Whether this x86_64 kernel runs x32 syscalls (CONFIG_X86_X32_ABI, off in
 * Debian's kernels): an x32 getpid either answers or fails with ENOSYS.
 */
export function kernelHasX32(): boolean {
  if (process.arch !== 'x64') return false;
  try {
    return load().syscall0(X32_SYSCALL_BIT + SYS_GETPID) === process.pid;
  } catch {
    return true; // can't tell: assume it does, which only costs time
  }
}

/** A failed system call, with the errno name users and tests can match on (`ENOENT`, `EXDEV`, ...). */
export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly path?: string,
  ) {
    super(`${syscall}${path ? ` ${path}` : ''}: ${errnoName(errno)}`);
    this.name = 'SysError';
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

function check(ret: number, syscall: string, path?: string): number {
  if (ret < 0) throw new SysError(syscall, load().errno(), path);
  return ret;
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  check(load().lsetxattr(path, name, value, value.length, 0), 'lsetxattr', path);
}

/** The raw value of one xattr, or undefined when the file does not have it. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const c = load();
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = c.lgetxattr(path, name, buf, size);
    if (n >= 0) return buf.subarray(0, n);
    const e = c.errno();
    if (e === osConstants.errno.ENODATA) return undefined;
    if (e === osConstants.errno.ERANGE && size < 1 << 20) {
      size *= 8;
      continue;
    }
    throw new SysError('lgetxattr', e, path);
  }
}

/** Names of all xattrs on a path (not following symlinks). */
export function llistxattr(path: string): string[] {
  const c = load();
  let size = 1024;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = c.llistxattr(path, buf, size);
    if (n >= 0) return buf.subarray(0, n).toString('latin1').split('\0').filter((s) => s.length > 0);
    const e = c.errno();
    if (e === osConstants.errno.ENOTSUP) return [];
    if (e === osConstants.errno.ERANGE && size < 1 << 20) {
      size *= 8;
      continue;
    }
    throw new SysError('llistxattr', e, path);
  }
}

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** Linux makedev(): major/minor into a dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(load().mknod(path, mode, makedev(major, minor)), 'mknod', path);
}

const SYS_openat2 = 437;
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;

/**
 * openat2(2): open `path` relative to `dirfd` with kernel-enforced resolution
 * rules, e.g. RESOLVE_IN_ROOT so symlinks and `..` cannot climb out of a rootfs.
 * Returns a file descriptor the caller must close (fs.closeSync works).
 */
export function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return check(load().syscall_openat2(SYS_openat2, dirfd, path, how, 24), 'openat2', path);
}

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 0x2;

export function mount(source: string, target: string, fstype: string, flags: number, data: string | null): void {
  check(load().mount(source, target, fstype, flags, data), 'mount', target);
}

type AsyncFn = { async: (...args: unknown[]) => void };

/**
 * mount(2) and umount2(2) on libuv's thread pool: an overlay mount or a lazy
 * unmount takes milliseconds of kernel time that would otherwise block berthd.
 */
export function mountAsync(source: string, target: string, fstype: string, flags: number, data: string | null): Promise<void> {
  const c = load();
  return new Promise((resolve, reject) => {
    (c.mount as unknown as AsyncFn).async(source, target, fstype, flags, data, (err: Error | null, ret: number) => {
      if (err) reject(err);
      else if (ret < 0) reject(new SysError('mount', c.errno(), target));
      else resolve();
    });
  });
}

export function umount2Async(target: string, flags = 0): Promise<boolean> {
  const c = load();
  return new Promise((resolve, reject) => {
    (c.umount2 as unknown as AsyncFn).async(target, flags, (err: Error | null, ret: number) => {
      if (err) return reject(err);
      if (ret === 0) return resolve(true);
      const e = c.errno();
      if (e === osConstants.errno.EINVAL || e === osConstants.errno.ENOENT) resolve(false);
      else reject(new SysError('umount2', e, target));
    });
  });
}

/** umount2(2); EINVAL/ENOENT (not mounted) are reported as false, not thrown. */
export function umount2(target: string, flags = 0): boolean {
  const c = load();
  if (c.umount2(target, flags) === 0) return true;
  const e = c.errno();
  if (e === osConstants.errno.EINVAL || e === osConstants.errno.ENOENT) return false;
  throw new SysError('umount2', e, target);
}

const AF_UNIX = 1;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;

/**
 * Makes a new network namespace with loopback up and pins it by a bind mount
 * on `path` (an existing file), as `unshare --net=<path>` does, without the
 * two execs. Namespaces are per thread: the calling thread enters the new one
 * and is back in its own before this returns, and no JavaScript runs between.
 */
export function newPinnedNetns(path: string): void {
  const c = load();
  const home = openSync('/proc/thread-self/ns/net', fsConstants.O_RDONLY | O_CLOEXEC);
  try {
    check(c.unshare(CLONE_NEWNET), 'unshare');
    try {
      mount('/proc/thread-self/ns/net', path, 'none', MS_BIND, null);
      interfaceUp('lo');
    } finally {
      // Staying in the new namespace would put every later socket of berthd's main thread there.
      if (c.setns(home, CLONE_NEWNET) !== 0) {
        process.stderr.write(`berthd: cannot return to its network namespace (${errnoName(c.errno())}); exiting\n`);
        process.abort();
      }
    }
  } finally {
    c.close(home);
  }
}

/** Sets IFF_UP on an interface of the calling thread's network namespace. */
function interfaceUp(name: string): void {
  const c = load();
  const fd = check(c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 'socket');
  try {
    const ifr = Buffer.alloc(40); // struct ifreq: char ifr_name[16], then a union whose short ifr_flags is first
    ifr.write(name, 0, 15);
    check(c.ioctl(fd, SIOCGIFFLAGS, ifr), 'ioctl SIOCGIFFLAGS', name);
    // short ifr_flags, in the host's byte order.
    if (osEndianness() === 'LE') ifr.writeUInt16LE(ifr.readUInt16LE(16) | IFF_UP, 16);
    else ifr.writeUInt16BE(ifr.readUInt16BE(16) | IFF_UP, 16);
    check(c.ioctl(fd, SIOCSIFFLAGS, ifr), 'ioctl SIOCSIFFLAGS', name);
  } finally {
    c.close(fd);
  }
}

/**
 * Connects a SOCK_SEQPACKET Unix socket (conmon's attach socket) and returns
 * its fd. Node cannot create these itself.
 */
export function connectSeqpacket(path: string): number {
  const c = load();
  const fd = check(c.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), 'socket', path);
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  if (Buffer.byteLength(path) > 107) {
    c.close(fd);
    throw new SysError('connect', osConstants.errno.ENAMETOOLONG, path);
  }
  addr.write(path, 2);
  if (c.connect(fd, addr, 110) < 0) {
    const e = c.errno();
    c.close(fd);
    throw new SysError('connect', e, path);
  }
  return fd;
}

// ---------------------------------------------------------------------------
// *at() calls for layer extraction and packing (src/image/snapshot/). Paths
// may be Buffers: layer names need not be UTF-8. Every operation is relative
// to a directory fd that was itself resolved inside the snapshot root.

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EMPTY_PATH = 0x1000;
/** O_PATH (same value on x86_64 and arm64; Node's fs.constants lacks it). */
export const O_PATH = 0o10000000;
/** O_CLOEXEC for fds opened through koffi (Node adds it only to its own opens). */
export const O_CLOEXEC = 0o2000000;

/** A C path: a string (encoded as UTF-8) or raw bytes; cpath() appends the NUL. */
export type CPath = string | Buffer;

interface LibcAt {
  openat2: KoffiFn;
  syscall4: KoffiFn;
  mknodat: KoffiFn;
  mkdirat: KoffiFn;
  symlinkat: KoffiFn;
  linkat: KoffiFn;
  unlinkat: KoffiFn;
  fchownat: KoffiFn;
  utimensat: KoffiFn;
  fsetxattr: KoffiFn;
  lsetxattr: KoffiFn;
  lgetxattr: KoffiFn;
  llistxattr: KoffiFn;
}

let libcAt: LibcAt | undefined;

function loadAt(): LibcAt {
  if (libcAt) return libcAt;
  load(); // shares errno access and the library handle's lifetime
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const koffi = require('koffi');
  const lib = koffi.load('libc.so.6');
  libcAt = {
    openat2: lib.func('long syscall(long nr, int dirfd, const void *path, void *how, size_t size)'),
    syscall4: lib.func('long syscall(long nr, int dirfd, const void *path, uint32_t mode, int flags)'),
    mknodat: lib.func('int mknodat(int dirfd, const void *path, uint32_t mode, uint64_t dev)'),
    mkdirat: lib.func('int mkdirat(int dirfd, const void *path, uint32_t mode)'),
    symlinkat: lib.func('int symlinkat(const void *target, int dirfd, const void *path)'),
    linkat: lib.func('int linkat(int olddirfd, const void *oldpath, int newdirfd, const void *newpath, int flags)'),
    unlinkat: lib.func('int unlinkat(int dirfd, const void *path, int flags)'),
    fchownat: lib.func('int fchownat(int dirfd, const void *path, uint32_t owner, uint32_t group, int flags)'),
    utimensat: lib.func('int utimensat(int dirfd, const void *path, const void *times, int flags)'),
    fsetxattr: lib.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'),
    lsetxattr: lib.func('int lsetxattr(const void *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: lib.func('intptr_t lgetxattr(const void *path, const char *name, _Out_ void *value, size_t size)'),
    llistxattr: lib.func('intptr_t llistxattr(const void *path, _Out_ void *list, size_t size)'),
  };
  return libcAt;
}

/** NUL-terminated bytes for koffi; a string is encoded as UTF-8. */
function cpath(p: CPath): Buffer {
  const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
  const out = Buffer.alloc(b.length + 1);
  b.copy(out);
  return out;
}

function shown(p: CPath): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

/** openat2(2) with a byte path (see openat2 above). */
export function openat2b(dirfd: number, path: CPath, flags: number, mode: number, resolve: number): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return check(loadAt().openat2(SYS_openat2, dirfd, cpath(path), how, 24), 'openat2', shown(path));
}

export function mknodat(dirfd: number, path: CPath, mode: number, major = 0, minor = 0): void {
  check(loadAt().mknodat(dirfd, cpath(path), mode, makedev(major, minor)), 'mknodat', shown(path));
}

export function mkdirat(dirfd: number, path: CPath, mode: number): void {
  check(loadAt().mkdirat(dirfd, cpath(path), mode), 'mkdirat', shown(path));
}

export function symlinkat(target: CPath, dirfd: number, path: CPath): void {
  check(loadAt().symlinkat(cpath(target), dirfd, cpath(path)), 'symlinkat', shown(path));
}

/** linkat(2); flags 0 links a symlink itself rather than its target. */
export function linkat(olddirfd: number, oldpath: CPath, newdirfd: number, newpath: CPath, flags = 0): void {
  check(loadAt().linkat(olddirfd, cpath(oldpath), newdirfd, cpath(newpath), flags), 'linkat', shown(newpath));
}

export function unlinkat(dirfd: number, path: CPath, flags = 0): void {
  check(loadAt().unlinkat(dirfd, cpath(path), flags), 'unlinkat', shown(path));
}

/** fchownat(2); ids are unsigned 32-bit, and 0xffffffff means "unchanged" to the kernel. */
export function fchownat(dirfd: number, path: CPath, uid: number, gid: number, flags: number): void {
  // Never let 2^32 + n wrap to n (uid 0 is root: containerd CVE-2024-40635 class).
  for (const id of [uid, gid]) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`fchownat: id ${id} out of range`);
  }
  check(loadAt().fchownat(dirfd, cpath(path), uid, gid, flags), 'fchownat', shown(path));
}

/** utimensat(2) with exact nanosecond times (a JS double cannot hold ns since 1970). */
export function utimensat(dirfd: number, path: CPath, atimeNs: bigint, mtimeNs: bigint, flags: number): void {
  const ts = Buffer.alloc(32);
  const put = (off: number, ns: bigint): void => {
    let sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    if (nsec < 0n) {
      nsec += 1_000_000_000n;
      sec -= 1n;
    }
    ts.writeBigInt64LE(sec, off);
    ts.writeBigInt64LE(nsec, off + 8);
  };
  put(0, atimeNs);
  put(16, mtimeNs);
  check(loadAt().utimensat(dirfd, cpath(path), ts, flags), 'utimensat', shown(path));
}

const SYS_fchmodat2 = 452; // same number on every architecture (Linux 6.6+)
let haveFchmodat2 = true;

/**
 * chmod of `path` below `dirfd` that never follows a final symlink: fchmodat2
 * with AT_SYMLINK_NOFOLLOW (Linux 6.6+). Returns false when the kernel lacks
 * it or `path` is a symlink (EOPNOTSUPP), so the caller can fall back.
 */
export function fchmodat2NoFollow(dirfd: number, path: CPath, mode: number): boolean {
  if (!haveFchmodat2) return false;
  const c = loadAt();
  if (c.syscall4(SYS_fchmodat2, dirfd, cpath(path), mode, AT_SYMLINK_NOFOLLOW) === 0) return true;
  const e = load().errno();
  if (e === osConstants.errno.ENOSYS) haveFchmodat2 = false;
  else if (e !== osConstants.errno.EOPNOTSUPP) throw new SysError('fchmodat2', e, shown(path));
  return false;
}

export function fsetxattr(fd: number, name: string, value: Buffer): void {
  check(loadAt().fsetxattr(fd, name, value, value.length, 0), 'fsetxattr', name);
}

/** lsetxattr with a byte path (the final component is never followed). */
export function lsetxattrb(path: CPath, name: string, value: Buffer): void {
  check(loadAt().lsetxattr(cpath(path), name, value, value.length, 0), 'lsetxattr', `${shown(path)} ${name}`);
}

/** lgetxattr with a byte path; undefined when the attribute is absent. */
export function lgetxattrb(path: CPath, name: string): Buffer | undefined {
  const c = loadAt();
  const p = cpath(path);
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = c.lgetxattr(p, name, buf, size);
    if (n >= 0) return buf.subarray(0, n);
    const e = load().errno();
    if (e === osConstants.errno.ENODATA || e === osConstants.errno.ENOTSUP) return undefined;
    if (e === osConstants.errno.ERANGE && size < 1 << 20) {
      size *= 8;
      continue;
    }
    throw new SysError('lgetxattr', e, `${shown(path)} ${name}`);
  }
}

/** llistxattr with a byte path; names decoded as UTF-8 (what tar PAX keys hold). */
export function llistxattrb(path: CPath): string[] {
  const c = loadAt();
  const p = cpath(path);
  let size = 1024;
  for (;;) {
    const buf = Buffer.alloc(size);
    const n = c.llistxattr(p, buf, size);
    if (n >= 0) return buf.subarray(0, n).toString('utf8').split('\0').filter((s) => s.length > 0);
    const e = load().errno();
    if (e === osConstants.errno.ENOTSUP) return [];
    if (e === osConstants.errno.ERANGE && size < 1 << 20) {
      size *= 8;
      continue;
    }
    throw new SysError('llistxattr', e, shown(path));
  }
}
