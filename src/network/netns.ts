/**
 * Network namespaces pinned by a bind mount at <run>/netns/<id>, the same
 * way `ip netns add` pins them under /run/netns: the namespace outlives every
 * process in it (and berthd), runc joins it by path, and unmounting the file
 * frees it once the container is gone.
 */
import { promises as fsp } from 'node:fs';
import { execFile } from '../sys/exec';
import { MNT_DETACH, newPinnedNetns, umount2 } from '../sys/libc';
import { InternalError } from '../errors';

const UNSHARE = '/usr/bin/unshare';
const IP = '/usr/sbin/ip';

/**
 * Creates a new network namespace pinned at `path` with loopback up: in
 * berthd's own thread (~1 ms), else by `unshare --net=<path>`, which
 * bind-mounts the new namespace on the file and then runs `ip link set lo up`
 * inside it (two execs, ~10-20 ms).
 */
export async function createNetns(path: string): Promise<void> {
  await fsp.writeFile(path, '', { flag: 'wx', mode: 0o444 }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
    // A leftover from a crash: reuse the file, drop any namespace still pinned on it.
    umountQuiet(path);
  });
  try {
    newPinnedNetns(path);
    return;
  } catch {
    umountQuiet(path); // and try the tools, which say what is wrong
  }
  const r = await execFile(UNSHARE, [`--net=${path}`, IP, 'link', 'set', 'lo', 'up']);
  if (r.code !== 0) {
    umountQuiet(path);
    await fsp.rm(path, { force: true });
    throw new InternalError(`cannot create network namespace ${path}: ${r.stderr.trim() || `unshare exit ${r.code}`}`);
  }
}

/** Unpins and deletes a namespace file; a missing or unmounted file is fine. */
export async function removeNetns(path: string): Promise<void> {
  umountQuiet(path);
  await fsp.rm(path, { force: true });
}

function umountQuiet(path: string): void {
  try {
    // A namespace mounted twice (a crashed create retried) needs as many unmounts.
    for (let i = 0; i < 4 && umount2(path, MNT_DETACH); i++);
  } catch {
    // EPERM/EBUSY: leave it; the file removal below reports what is wrong
  }
}

/** Whether `path` is a pinned network namespace (an nsfs mount), by /proc/self/mountinfo. */
export async function isPinnedNetns(path: string): Promise<boolean> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return info.split('\n').some((l) => {
    const f = l.split(' ');
    return f[4] === path && l.includes(' - nsfs ');
  });
}
