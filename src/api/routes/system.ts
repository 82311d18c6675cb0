/** _ping, version, info, system df, events. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { builderOf } from '../../build/builder';
import { API_VERSION } from '../../config';
import { treeSize } from '../../sys/fsutil';
import type { Engine } from '../../engine/engine';
import type { EngineEvent } from '../../engine/events';
import type { Router } from '../router';
import { parseFilters, matchLabel } from '../filters';
import { imageSummary } from './images';
import { containerSizes, containerSummary } from './containers';

export function systemRoutes(r: Router, engine: Engine): void {
  const ping = (ctx: Parameters<Parameters<Router['add']>[2]>[0]) => {
    const headers = {
      'Api-Version': API_VERSION,
      'Builder-Version': '1',
      'Docker-Experimental': String(engine.experimental),
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
  r.add('GET', '/version', async (ctx) => ctx.send(200, versionBody(await engine.version())));
  r.add('GET', '/info', async (ctx) => ctx.send(200, infoBody(await engine.info())));
  // `docker system df`: the usage summary, from the same list shapes as /images/json and /containers/json.
  // `type` (API 1.42) limits the answer to some kinds; sizes are measured on request, as dockerd does.
  r.add('GET', '/system/df', async (ctx) => {
    const types = new Set(ctx.query.getAll('type'));
    const want = (t: string) => !types.size || types.has(t);
    const images = engine.images.list();
    const layers = new Map<string, number>();
    const users = new Map<string, number>();
    for (const i of images)
      for (const l of i.manifest.layers) {
        layers.set(l.digest, l.size);
        users.set(l.digest, (users.get(l.digest) ?? 0) + 1);
      }
    // Docker's SharedSize: the bytes of an image's layers that other images use too.
    const shared = (i: (typeof images)[number]) => i.manifest.layers.filter((l) => (users.get(l.digest) ?? 0) > 1).reduce((a, l) => a + l.size, 0);
    const C = engine.containers;
    ctx.send(200, {
      ...(want('image') ? { LayersSize: [...layers.values()].reduce((a, b) => a + b, 0), Images: images.map((i) => ({ ...imageSummary(i, C.usersOfImage(i.id).length), SharedSize: shared(i) })) } : {}),
      ...(want('container')
        ? {
            Containers: await Promise.all(C.list().map(async (c) => ({ ...containerSummary(engine, c), ...(await containerSizes(engine, c)) }))),
          }
        : {}),
      ...(want('volume')
        ? {
            Volumes: await Promise.all(
              engine.volumes.list().map(async (v) => ({
                Name: v.Name,
                Driver: v.Driver,
                Mountpoint: v.Mountpoint,
                CreatedAt: v.CreatedAt,
                Labels: v.Labels,
                Scope: v.Scope,
                Options: v.Options,
                UsageData: { Size: await engine.volumes.size(v), RefCount: C.usersOfVolume(v.Name).length },
              })),
            ),
          }
        : {}),
      ...(want('build-cache') ? { BuildCache: await buildCache(engine, new Set(layers.keys())) } : {}),
    });
  });
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

/**
 * The docker CLI prints the server's Engine component from `Components[].Details` (Go version,
 * Git commit, Built, Experimental): fill those from the top-level fields it also carries.
 */
export function versionBody(v: Record<string, unknown>): Record<string, unknown> {
  const components = (v.Components as Array<{ Name: string; Version: string; Details?: Record<string, unknown> }> | undefined) ?? [];
  const top = { GitCommit: v.GitCommit, GoVersion: v.GoVersion, KernelVersion: v.KernelVersion, BuildTime: v.BuildTime };
  return {
    ...v,
    Components: components.map((c) => (c.Name === 'Engine' ? { ...c, Details: { ...top, ...c.Details } } : c)),
  };
}

/** Fields the docker CLI's `info` template reads that Berth has no notion of: Docker's values for "none". */
export function infoBody(info: Record<string, unknown>): Record<string, unknown> {
  return {
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['k8s-file'] },
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: '',
    ...info,
  };
}

/**
 * The build cache as `system df` lists it: a step's layer (Shared while an
 * image uses it: `builder prune` then frees nothing) and cache mounts.
 */
async function buildCache(engine: Engine, inImages: Set<string>): Promise<Array<Record<string, unknown>>> {
  const b = builderOf(engine);
  await b.init();
  const out: Array<Record<string, unknown>> = [];
  for (const { key, rec } of await b.cache.list()) {
    if (!rec.layer) continue;
    const st = await fsp.stat(join(b.cache.dir, `${key}.json`)).catch(() => undefined);
    const at = st ? st.mtime.toISOString() : '';
    out.push({ ID: key.slice(0, 25), Parents: null, Type: 'regular', Description: rec.createdBy, InUse: false, Shared: inImages.has(rec.layer.digest), Size: rec.layer.size, CreatedAt: at, LastUsedAt: at, UsageCount: 1 });
  }
  for (const name of await fsp.readdir(b.cacheMounts.root).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}$/.test(name)) continue;
    const dir = join(b.cacheMounts.root, name);
    const id = (await fsp.readFile(join(dir, 'id'), 'utf8').catch(() => '')).trim();
    const st = await fsp.stat(dir).catch(() => undefined);
    const at = st ? st.mtime.toISOString() : '';
    out.push({ ID: name.slice(0, 25), Parents: null, Type: 'exec.cachemount', Description: `cache mount ${id || name}`, InUse: false, Shared: false, Size: await treeSize(join(dir, 'data')), CreatedAt: at, LastUsedAt: at, UsageCount: 1 });
  }
  return out;
}
