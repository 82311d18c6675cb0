/**
 * `cp` in and out of containers and `export`. Paths are resolved inside the
 * container's rootfs by the kernel (openat2 RESOLVE_IN_ROOT) and a running
 * container is paused meanwhile, so a racing symlink swap cannot redirect
 * Berth onto host files (CVE-2018-15664).
 */
import { closeSync, constants, fstatSync, readlinkSync } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import { Readable } from 'node:stream';
import type { Engine } from '../../engine/engine';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { openInRoot } from '../../sys/inroot';
import { SysError } from '../../sys/libc';
import { applyLayer } from '../../image/snapshot/apply';
import { packDirectory } from '../../image/snapshot/pack';
import { writeTar } from '../../image/tar/writer';
import { decompress } from '../../image/compression';
import type { RequestContext, Router } from '../router';
import { pump } from '../stream';

const O_PATH = 0o10000000;

/** Go's os.FileMode bits, which the docker CLI decodes from the path-stat header. */
function goFileMode(mode: number): number {
  const perm = mode & 0o777;
  const t = mode & 0o170000;
  let m = perm;
  if (t === 0o040000) m |= 2 ** 31;
  else if (t === 0o120000) m |= 2 ** 27;
  else if (t === 0o010000) m |= 2 ** 25;
  else if (t === 0o140000) m |= 2 ** 24;
  else if (t === 0o020000) m |= 2 ** 26 + 2 ** 21;
  else if (t === 0o060000) m |= 2 ** 26;
  if (mode & 0o4000) m |= 2 ** 23;
  if (mode & 0o2000) m |= 2 ** 22;
  if (mode & 0o1000) m |= 2 ** 20;
  // JS bit operators work on int32: the directory bit (1<<31) made this negative, which Go's
  // uint32 FileMode refuses ("cannot unmarshal number -2147483155").
  return m >>> 0;
}

function containerPath(ctx: RequestContext): string {
  const p = ctx.query.get('path');
  if (!p) throw new InvalidArgumentError('path is required');
  return posix.normalize(p.startsWith('/') ? p : `/${p}`);
}

/** Opens `path` in the rootfs without following a final symlink; ENOENT → 404 as Docker. */
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

function statHeader(fd: number, path: string): string {
  const st = fstatSync(fd);
  let linkTarget = '';
  if ((st.mode & 0o170000) === 0o120000) linkTarget = readlinkSync(`/proc/self/fd/${fd}`);
  const stat = { name: basename(path) || '/', size: st.size, mode: goFileMode(st.mode), mtime: st.mtime.toISOString(), linkTarget };
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

async function paused<T>(engine: Engine, id: string, fn: () => Promise<T>): Promise<T> {
  const c = engine.containers.get(id);
  const pause = c.state.Running && !c.state.Paused;
  if (pause) await engine.containers.pause(c.rec.Id);
  try {
    return await fn();
  } finally {
    if (pause) await engine.containers.unpause(c.rec.Id).catch(() => undefined);
  }
}

export function archiveRoutes(r: Router, engine: Engine): void {
  r.add('HEAD', '/containers/{id}/archive', async (ctx) => {
    const path = containerPath(ctx);
    await engine.containers.withRootfs(ctx.params.id, async (rootfs) => {
      const fd = openPath(rootfs, path);
      try {
        ctx.send(200, undefined, { 'X-Docker-Container-Path-Stat': statHeader(fd, path) });
      } finally {
        closeSync(fd);
      }
    });
  });

  r.add('GET', '/containers/{id}/archive', async (ctx) => {
    const path = containerPath(ctx);
    await paused(engine, ctx.params.id, () =>
      engine.containers.withRootfs(ctx.params.id, async (rootfs) => {
        const fd = openPath(rootfs, path);
        try {
          const header = statHeader(fd, path);
          const parentFd = openPath(rootfs, dirname(path));
          try {
            const res = ctx.stream('application/x-tar', 200, { 'X-Docker-Container-Path-Stat': header });
            const name = basename(path);
            const items = packDirectory(`/proc/self/fd/${parentFd}`, { mode: 'plain', ...(path === '/' ? {} : { include: [name] }) });
            if (await pump(res, writeTar(items))) res.end();
            else res.destroy();
          } finally {
            closeSync(parentFd);
          }
        } finally {
          closeSync(fd);
        }
      }),
    );
  });

  r.add('PUT', '/containers/{id}/archive', async (ctx) => {
    const path = containerPath(ctx);
    await paused(engine, ctx.params.id, () =>
      engine.containers.withRootfs(ctx.params.id, async (rootfs) => {
        const fd = openPath(rootfs, path);
        try {
          if ((fstatSync(fd).mode & 0o170000) !== 0o040000) throw new InvalidArgumentError(`extraction point is not a directory`);
          await applyLayer(`/proc/self/fd/${fd}`, decompress(ctx.req as unknown as Readable));
        } finally {
          closeSync(fd);
        }
      }),
    );
    ctx.send(200);
  });

  r.add('GET', '/containers/{id}/export', async (ctx) => {
    await engine.containers.withRootfs(ctx.params.id, async (rootfs) => {
      const res = ctx.stream('application/x-tar');
      if (await pump(res, writeTar(packDirectory(rootfs, { mode: 'plain' })))) res.end();
      else res.destroy();
    });
  });
}
