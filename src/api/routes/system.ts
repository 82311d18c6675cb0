/** _ping, version, info, events. */
import { API_VERSION } from '../../config';
import type { Engine } from '../../engine/engine';
import type { EngineEvent } from '../../engine/events';
import type { Router } from '../router';
import { parseFilters, matchLabel } from '../filters';

export function systemRoutes(r: Router, engine: Engine): void {
  const ping = (ctx: Parameters<Parameters<Router['add']>[2]>[0]) => {
    const headers = {
      'Api-Version': API_VERSION,
      'Builder-Version': '1',
      'Docker-Experimental': 'false',
      'Ostype': 'linux',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      'Pragma': 'no-cache',
      'Content-Type': 'text/plain; charset=utf-8',
    };
    const res = ctx.res!;
    const body = ctx.req.method === 'HEAD' ? '' : 'OK';
    res.writeHead(200, { ...headers, 'Content-Length': ctx.req.method === 'HEAD' ? '0' : '2' });
    res.end(body);
  };
  r.add('GET', '/_ping', ping);
  r.add('HEAD', '/_ping', ping);
  r.add('GET', '/version', async (ctx) => ctx.send(200, await engine.version()));
  r.add('GET', '/info', async (ctx) => ctx.send(200, await engine.info()));
  r.add('GET', '/events', (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'));
    const since = ctx.query.get('since');
    const until = ctx.query.get('until');
    const res = ctx.stream('application/json');
    const keep = (e: EngineEvent) =>
      (!filters.type || filters.type.includes(e.Type)) &&
      (!filters.event || filters.event.includes(e.Action)) &&
      (!filters.container || (e.Type === 'container' && filters.container.some((c) => e.Actor.ID.startsWith(c) || e.Actor.Attributes.name === c))) &&
      (!filters.image || filters.image.some((i) => e.Actor.Attributes.image === i || e.Actor.ID === i)) &&
      (!filters.label || filters.label.every((l) => matchLabel(e.Actor.Attributes, l)));
    const untilSec = until ? Number(until) : undefined;
    const unsubscribe = engine.events.subscribe(
      (e) => {
        if (untilSec !== undefined && e.time > untilSec) return;
        if (keep(e)) res.write(JSON.stringify(e) + '\n');
      },
      since ? Number(since) : undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    if (untilSec !== undefined) timer = setTimeout(() => res.end(), Math.max(0, untilSec * 1000 - Date.now()));
    ctx.req.on('close', () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    });
  });
}
