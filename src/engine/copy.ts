/**
 * `cp` in and out of containers and `export`. Paths are resolved inside the
 * container's view (its volumes and binds included; `export` has the rootfs
 * alone) by the kernel (openat2 RESOLVE_IN_ROOT) and a running container is
 * paused meanwhile, so a racing symlink swap cannot redirect Berth onto host
 * files (CVE-2018-15664).
 */
import { closeSync, constants, fstatSync, readlinkSync } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { ForbiddenError, InvalidArgumentError, NotFoundError } from '../errors';
import { openInRoot } from '../sys/inroot';
import { O_PATH, SysError } from '../sys/libc';
import { applyLayer } from '../image/snapshot/apply';
import { packDirectory } from '../image/snapshot/pack';
import { writeTar } from '../image/tar/writer';
import { decompress } from '../image/compression';
import type { ContainerManager } from '../runtime/containers';

/** What Docker reports about a container path (the X-Docker-Container-Path-Stat header). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits, which the docker CLI decodes. */
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Go's os.FileMode bits for a Unix st_mode. */
export function goFileMode(mode: number): number {
  const t = mode & 0o170000;
  let m = mode & 0o777;
  if (t === 0o040000) m |= 2 ** 31;
  else if (t === 0o120000) m |= 2 ** 27;
  else if (t === 0o010000) m |= 2 ** 25;
  else if (t === 0o140000) m |= 2 ** 24;
  else if (t === 0o020000) m |= 2 ** 26 + 2 ** 21;
  else if (t === 0o060000) m |= 2 ** 26;
  if (mode & 0o4000) m |= 2 ** 23;
  if (mode & 0o2000) m |= 2 ** 22;
  if (mode & 0o1000) m |= 2 ** 20;
  // JS bit operators work on int32: the directory bit made this negative, which Go's uint32 refuses.
  return m >>> 0;
}

export function cleanContainerPath(p: string): string {
  if (!p) throw new InvalidArgumentError('path is required');
  return posix.normalize(p.startsWith('/') ? p : `/${p}`);
}

/** Opens `path` in the rootfs without following a final symlink; ENOENT → NotFound as Docker. */
function openPath(rootfs: string, path: string): number {
  try {
    const parent = openInRoot(rootfs, dirname(path), O_PATH | constants.O_DIRECTORY);
    try {
      const leaf = basename(path);
      if (path === '/' || leaf === '') return parent;
      return openInRoot(`/proc/self/fd/${parent}`, leaf, O_PATH | constants.O_NOFOLLOW);
    } finally {
      if (path !== '/') closeSync(parent);
    }
  } catch (e) {
    if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) throw new NotFoundError(`Could not find the file ${path} in container`);
    throw e;
  }
}

function statOf(fd: number, path: string): PathStat {
  const st = fstatSync(fd);
  const linkTarget = (st.mode & 0o170000) === 0o120000 ? readlinkSync(`/proc/self/fd/${fd}`) : '';
  return { name: basename(path) || '/', size: st.size, mode: goFileMode(st.mode), mtime: st.mtime.toISOString(), linkTarget };
}

async function paused<T>(containers: ContainerManager, id: string, fn: () => Promise<T>): Promise<T> {
  const c = containers.get(id);
  const pause = c.state.Running && !c.state.Paused;
  if (pause) await containers.pause(c.rec.Id);
  try {
    return await fn();
  } finally {
    if (pause) await containers.unpause(c.rec.Id).catch(() => undefined);
  }
}

export async function statContainerPath(containers: ContainerManager, id: string, path: string): Promise<PathStat> {
  return containers.withContainerView(id, async (rootfs) => {
    const fd = openPath(rootfs, path);
    try {
      return statOf(fd, path);
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * A tar of `path` (rooted at its base name) handed to `consume` while the
 * container stays paused and its rootfs mounted.
 */
export async function archiveContainerPath<T>(containers: ContainerManager, id: string, path: string, consume: (stat: PathStat, tar: AsyncGenerator<Buffer>) => Promise<T>): Promise<T> {
  return paused(containers, id, () =>
    containers.withContainerView(id, async (rootfs) => {
      const fd = openPath(rootfs, path);
      let parentFd: number | undefined;
      try {
        const stat = statOf(fd, path);
        parentFd = openPath(rootfs, dirname(path));
        const items = packDirectory(`/proc/self/fd/${parentFd}`, { mode: 'plain', ...(path === '/' ? {} : { include: [basename(path)] }) });
        return await consume(stat, writeTar(items));
      } finally {
        if (parentFd !== undefined) closeSync(parentFd);
        closeSync(fd);
      }
    }),
  );
}

/** Extracts a (possibly compressed) tar into the directory `path` of a container, safely. */
export async function extractIntoContainer(containers: ContainerManager, id: string, path: string, tar: Readable): Promise<void> {
  await paused(containers, id, () =>
    containers.withContainerView(id, async (rootfs) => {
      const fd = openPath(rootfs, path);
      try {
        if ((fstatSync(fd).mode & 0o170000) !== 0o040000) throw new InvalidArgumentError('extraction point is not a directory');
        await applyLayer(`/proc/self/fd/${fd}`, decompress(tar)).catch((e: Error) => {
          // Docker's answer for a copy into a :ro volume or bind.
          throw /\bEROFS\b/.test(e.message) ? new ForbiddenError('mounted volume is marked read-only') : e;
        });
      } finally {
        closeSync(fd);
      }
    }),
  );
}

/** `export`: the container's whole filesystem as a tar, handed to `consume` while mounted. */
export async function exportContainer<T>(containers: ContainerManager, id: string, consume: (tar: AsyncGenerator<Buffer>) => Promise<T>): Promise<T> {
  return containers.withRootfs(id, (rootfs) => consume(writeTar(packDirectory(rootfs, { mode: 'plain' }))));
}
