/** /volumes/*: the local volume driver over the Engine API. */
import type { Engine } from '../../engine/engine';
import type { VolumeRecord } from '../../volume/store';
import type { Router } from '../router';
import { matchLabel, parseFilters, pruneFilter } from '../filters';

function volumeJson(v: VolumeRecord) {
  return { Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt, Labels: v.Labels, Scope: v.Scope, Options: v.Options, Status: {} };
}

export function volumeRoutes(r: Router, engine: Engine): void {
  r.add('GET', '/volumes', (ctx) => {
    const f = parseFilters(ctx.query.get('filters'));
    let list = engine.volumes.list();
    if (f.dangling) {
      const want = f.dangling[0] === 'true' || f.dangling[0] === '1';
      list = list.filter((v) => (engine.containers.usersOfVolume(v.Name).length === 0) === want);
    }
    if (f.name) list = list.filter((v) => f.name.some((n) => v.Name.includes(n)));
    if (f.label) list = list.filter((v) => f.label.every((l) => matchLabel(v.Labels, l)));
    if (f.driver) list = list.filter((v) => f.driver.includes(v.Driver));
    ctx.send(200, { Volumes: list.map(volumeJson), Warnings: [] });
  });
  r.add('POST', '/volumes/create', async (ctx) => {
    const body = (await ctx.json<{ Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> }>()) ?? {};
    ctx.send(201, volumeJson(await engine.createVolume(body)));
  });
  r.add('POST', '/volumes/prune', async (ctx) => {
    // dockerd's volume prune takes no until.
    const { filters: f, matches } = pruneFilter(ctx.query.get('filters'), ['all'], ['label', 'label!']);
    ctx.send(200, await engine.pruneVolumes(f.all?.[0] === 'true' || f.all?.[0] === '1', (v) => matches(v.Labels, undefined)));
  });
  r.add('GET', '/volumes/{id}', (ctx) => ctx.send(200, volumeJson(engine.volumes.get(ctx.params.id))));
  r.add('DELETE', '/volumes/{id}', async (ctx) => {
    const force = ctx.query.get('force') === '1' || ctx.query.get('force') === 'true';
    await engine.removeVolume(ctx.params.id, force);
    ctx.send(204);
  });
}
