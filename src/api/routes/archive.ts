/** `cp` (archive HEAD/GET/PUT) and `export`: HTTP shapes over src/engine/copy.ts. */
import type { Readable } from 'node:stream';
import type { Engine } from '../../engine/engine';
import { archiveContainerPath, cleanContainerPath, exportContainer, extractIntoContainer, type PathStat, statContainerPath } from '../../engine/copy';
import type { Router } from '../router';
import { pump } from '../stream';

function statHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

export function archiveRoutes(r: Router, engine: Engine): void {
  const C = engine.containers;
  r.add('HEAD', '/containers/{id}/archive', async (ctx) => {
    const stat = await statContainerPath(C, ctx.params.id, cleanContainerPath(ctx.query.get('path') ?? ''));
    ctx.send(200, undefined, { 'X-Docker-Container-Path-Stat': statHeader(stat) });
  });

  r.add('GET', '/containers/{id}/archive', async (ctx) => {
    await archiveContainerPath(C, ctx.params.id, cleanContainerPath(ctx.query.get('path') ?? ''), async (stat, tar) => {
      const res = ctx.stream('application/x-tar', 200, { 'X-Docker-Container-Path-Stat': statHeader(stat) });
      if (await pump(res, tar)) res.end();
      else res.destroy();
    });
  });

  r.add('PUT', '/containers/{id}/archive', async (ctx) => {
    await extractIntoContainer(C, ctx.params.id, cleanContainerPath(ctx.query.get('path') ?? ''), ctx.req as unknown as Readable);
    ctx.send(200);
  });

  r.add('GET', '/containers/{id}/export', async (ctx) => {
    await exportContainer(C, ctx.params.id, async (tar) => {
      const res = ctx.stream('application/x-tar');
      if (await pump(res, tar)) res.end();
      else res.destroy();
    });
  });
}
