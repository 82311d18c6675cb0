/**
 * Path operations inside a container rootfs that the kernel confines to it
 * (openat2 RESOLVE_IN_ROOT): symlinks and `..` in an image can never lead
 * Berth's root process onto host paths.
 */
import { closeSync, constants, fstatSync, lchownSync, mkdirSync, openSync, type Stats } from 'node:fs';
import { O_PATH, openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, SysError } from './libc';

const O_CLOEXEC = 0o2000000;

/** Opens `path` inside `rootfs` with in-root resolution; caller closes the fd. */
export function openInRoot(rootfs: string, path: string, flags: number = constants.O_RDONLY): number {
  const root = openSync(rootfs, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return openat2(root, path.replace(/^\/+/, '') || '.', flags | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  } finally {
    closeSync(root);
  }
}

/**
 * mkdir -p of `path` inside `rootfs`, creating each missing component below an
 * in-root-resolved parent; created components get `owner` when given (BuildKit's WORKDIR).
 */
export function mkdirInRoot(rootfs: string, path: string, mode = 0o755, owner?: { uid: number; gid: number }): void {
  const parts = path.split('/').filter((p) => p && p !== '.');
  let sofar = '';
  for (const part of parts) {
    if (part === '..') throw new SysError('mkdir', 22, path);
    const parent = sofar;
    sofar = sofar ? `${sofar}/${part}` : part;
    try {
      closeSync(openInRoot(rootfs, sofar, O_PATH | constants.O_DIRECTORY));
      continue;
    } catch (e) {
      if (!(e instanceof SysError) || e.code !== 'ENOENT') throw e;
    }
    const pfd = openInRoot(rootfs, parent || '.', O_PATH | constants.O_DIRECTORY);
    try {
      const created = `/proc/self/fd/${pfd}/${part}`;
      mkdirSync(created, { mode });
      if (owner) lchownSync(created, owner.uid, owner.gid);
    } finally {
      closeSync(pfd);
    }
  }
}

/** lstat of `path` inside `rootfs` (in-root resolution, final symlink not followed); undefined if absent. */
export function lstatInRoot(rootfs: string, path: string): Stats | undefined {
  let fd: number;
  try {
    fd = openInRoot(rootfs, path, O_PATH | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}
