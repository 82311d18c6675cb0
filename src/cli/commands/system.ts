/** version, info, events, system df, system prune. */
import { BERTH_VERSION, API_VERSION } from '../../config';
import { connect } from '../client';
import { renderFormat, renderOne } from '../format';
import { ExitError, filtersJson, humanSize, out, since, table } from '../util';

export async function version(f: { format?: string }): Promise<void> {
  const clientInfo = { Version: BERTH_VERSION, ApiVersion: API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, NodeVersion: process.version };
  const client = await connect();
  const server = await client.json<Record<string, unknown>>('GET', '/version');
  if (f.format) {
    out(renderOne(f.format, { Client: clientInfo, Server: server }));
    return;
  }
  out(
    `Client: Berth\n Version:     ${clientInfo.Version}\n API version: ${clientInfo.ApiVersion}\n Node:        ${clientInfo.NodeVersion}\n OS/Arch:     linux/${clientInfo.Arch}\n\n` +
      `Server: Berth Engine\n Engine:\n  Version:     ${server.Version}\n  API version: ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  OS/Arch:     ${server.Os}/${server.Arch}\n  Kernel:      ${server.KernelVersion}\n` +
      ((server.Components as Array<{ Name: string; Version: string }> | undefined) ?? []).filter((c) => c.Name !== 'Engine').map((c) => ` ${c.Name}:\n  Version:     ${c.Version}\n`).join(''),
  );
}

export async function info(f: { format?: string }): Promise<void> {
  const client = await connect();
  const i = await client.json<Record<string, unknown>>('GET', '/info');
  if (f.format) {
    out(renderOne(f.format, i));
    return;
  }
  const b = i.Berth as { Conmon: string; Runc: string };
  out(
    [
      'Server:',
      ` Containers: ${i.Containers}`,
      `  Running: ${i.ContainersRunning}`,
      `  Paused: ${i.ContainersPaused}`,
      `  Stopped: ${i.ContainersStopped}`,
      ` Images: ${i.Images}`,
      ` Server Version: ${i.ServerVersion}`,
      ` Storage Driver: ${i.Driver}`,
      ` Logging Driver: ${i.LoggingDriver}`,
      ` Cgroup Driver: ${i.CgroupDriver}`,
      ` Cgroup Version: ${i.CgroupVersion}`,
      ` Default Runtime: ${i.DefaultRuntime} (${b.Runc})`,
      ` Monitor: ${b.Conmon}`,
      ` Init Binary: ${i.InitBinary || '(none: install tini for --init)'}`,
      ` Kernel Version: ${i.KernelVersion}`,
      ` Operating System: ${i.OperatingSystem}`,
      ` Architecture: ${i.Architecture}`,
      ` CPUs: ${i.NCPU}`,
      ` Total Memory: ${((i.MemTotal as number) / 1024 ** 3).toFixed(2)}GiB`,
      ` Name: ${i.Name}`,
      ` Berth Root Dir: ${i.DockerRootDir}`,
      '',
    ].join('\n'),
  );
  for (const w of (i.Warnings as string[]) ?? []) process.stderr.write(`${w}\n`);
}

export async function events(f: { filter?: string[]; since?: string; until?: string; format?: string }): Promise<void> {
  const client = await connect();
  const res = await client.raw('GET', '/events', { query: { filters: filtersJson(f.filter), since: f.since, until: f.until } });
  let buf = '';
  await new Promise<void>((resolve) => {
    res.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(buf.slice(0, nl)) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; timeNano: number };
        buf = buf.slice(nl + 1);
        if (f.format) out(renderOne(f.format, e));
        else {
          const t = new Date(Math.floor(e.timeNano / 1e6)).toISOString().replace('Z', '000000+00:00');
          const attrs = Object.entries(e.Actor.Attributes).map(([k, v]) => `${k}=${v}`).join(', ');
          out(`${t} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}\n`);
        }
      }
    });
    res.on('end', resolve);
  });
}

interface DfImage { Id: string; RepoTags: string[] | null; Created: number; Size: number; SharedSize: number; Containers: number }
interface DfContainer { Id: string; Names: string[]; Image: string; Command: string; Created: number; State: string; Status: string; Mounts?: unknown[]; SizeRw: number }
interface DfVolume { Name: string; UsageData: { Size: number; RefCount: number } }
interface DfCache { ID: string; Type: string; Size: number; InUse: boolean; Shared: boolean; CreatedAt: string; LastUsedAt: string; UsageCount: number }
interface Df { LayersSize?: number; Images?: DfImage[]; Containers?: DfContainer[]; Volumes?: DfVolume[]; BuildCache?: DfCache[] }

/** docker/go-units HumanSize, and the share of a total Docker appends ("1.2MB (40%)"). */
const size4 = (n: number) => humanSize(n, 4);
const share = (part: number, total: number) => (total > 0 ? `${size4(part)} (${Math.floor((part * 100) / total)}%)` : size4(part));

/** The four rows of `system df`, computed as docker/cli's formatter does. */
export function dfRows(d: Df): Array<{ Type: string; TotalCount: number; Active: number; Size: string; Reclaimable: string }> {
  const images = d.Images ?? [];
  const layers = d.LayersSize ?? 0;
  const usedByActive = images.filter((i) => i.Containers > 0).reduce((a, i) => a + i.Size - i.SharedSize, 0);
  const ctrs = d.Containers ?? [];
  const active = (c: DfContainer) => ['running', 'paused', 'restarting'].includes(c.State);
  const ctrSize = ctrs.reduce((a, c) => a + c.SizeRw, 0);
  const vols = d.Volumes ?? [];
  const volSize = vols.reduce((a, v) => a + Math.max(0, v.UsageData.Size), 0);
  const cache = d.BuildCache ?? [];
  const cacheSize = cache.filter((c) => !c.Shared).reduce((a, c) => a + c.Size, 0);
  return [
    { Type: 'Images', TotalCount: images.length, Active: images.filter((i) => i.Containers > 0).length, Size: size4(layers), Reclaimable: share(layers - usedByActive, layers) },
    { Type: 'Containers', TotalCount: ctrs.length, Active: ctrs.filter(active).length, Size: size4(ctrSize), Reclaimable: share(ctrs.filter((c) => !active(c)).reduce((a, c) => a + c.SizeRw, 0), ctrSize) },
    { Type: 'Local Volumes', TotalCount: vols.length, Active: vols.filter((v) => v.UsageData.RefCount > 0).length, Size: size4(volSize), Reclaimable: share(vols.filter((v) => v.UsageData.RefCount === 0).reduce((a, v) => a + Math.max(0, v.UsageData.Size), 0), volSize) },
    { Type: 'Build Cache', TotalCount: cache.length, Active: cache.filter((c) => c.InUse).length, Size: size4(cacheSize), Reclaimable: size4(cache.filter((c) => !c.InUse && !c.Shared).reduce((a, c) => a + c.Size, 0)) },
  ];
}

/** `system df [-v] [--format]`: what images, containers, volumes and the build cache take, and what a prune frees. */
export async function df(f: { verbose?: boolean; format?: string }): Promise<void> {
  const client = await connect();
  const d = await client.json<Df>('GET', '/system/df');
  if (!f.verbose) {
    out(renderFormat(f.format ?? '', dfRows(d), { defaultFormat: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', headers: { TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' } }));
    return;
  }
  if (f.format) throw new ExitError('--format is not supported with --verbose here', 125);
  const images = (d.Images ?? []).flatMap((i) =>
    (i.RepoTags?.length ? i.RepoTags : ['<none>:<none>']).map((t) => {
      const colon = t.lastIndexOf(':');
      return [t.slice(0, colon), t.slice(colon + 1), i.Id.replace(/^sha256:/, '').slice(0, 12), since(i.Created), size4(i.Size), size4(i.SharedSize), size4(i.Size - i.SharedSize), String(i.Containers)];
    }),
  );
  const ctrs = (d.Containers ?? []).map((c) => [c.Id.slice(0, 12), c.Image, JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command), String((c.Mounts ?? []).length), size4(c.SizeRw), since(c.Created), c.Status, c.Names.map((n) => n.replace(/^\//, '')).join(',')]);
  const vols = (d.Volumes ?? []).map((v) => [v.Name, String(v.UsageData.RefCount), size4(Math.max(0, v.UsageData.Size))]);
  const cache = (d.BuildCache ?? []).map((c) => [c.ID.slice(0, 12), c.Type, size4(c.Size), c.CreatedAt ? since(Date.parse(c.CreatedAt) / 1000) : '', c.LastUsedAt ? since(Date.parse(c.LastUsedAt) / 1000) : '', String(c.UsageCount), String(c.Shared)]);
  out(
    `Images space usage:\n\n${table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'], ...images])}\n` +
      `Containers space usage:\n\n${table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'], ...ctrs])}\n` +
      `Local Volumes space usage:\n\n${table([['VOLUME NAME', 'LINKS', 'SIZE'], ...vols])}\n` +
      `Build cache usage: ${dfRows(d)[3]!.Size}\n\n${table([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'USAGE', 'SHARED'], ...cache])}`,
  );
}

/**
 * `system prune`: stopped containers, unused networks, dangling (with -a:
 * unused) images, the build cache, and with --volumes unused anonymous
 * volumes, as docker system prune does.
 */
export async function prune(f: { all?: boolean; volumes?: boolean; force?: boolean; filter?: string[] }): Promise<void> {
  // As the docker CLI: volume prune takes no until, and nothing may go before that is known.
  if (f.volumes && (f.filter ?? []).some((x) => /^until=/.test(x))) throw new ExitError('The "until" filter is not supported with "--volumes"', 125);
  const lines = ['all stopped containers', 'all networks not used by at least one container', ...(f.volumes ? ['all anonymous volumes not used by at least one container'] : []), f.all ? 'all images without at least one container associated to them' : 'all dangling images', f.all ? 'all build cache' : 'unused build cache'];
  if (!f.force && !(await confirm(`WARNING! This will remove:\n${lines.map((l) => `  - ${l}\n`).join('')}\nAre you sure you want to continue? [y/N] `))) return;
  const client = await connect();
  const filters = filtersJson(f.filter);
  let space = 0;
  const section = (title: string, items: string[]) => {
    if (items.length) out(`${title}:\n${items.join('\n')}\n\n`);
  };
  const c = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune', { query: { filters } });
  section('Deleted Containers', c.ContainersDeleted ?? []);
  space += c.SpaceReclaimed;
  const n = await client.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune', { query: { filters } });
  section('Deleted Networks', n.NetworksDeleted ?? []);
  if (f.volumes) {
    // Anonymous ones only, -a or not, as docker system prune (named ones: `volume prune -a`).
    const v = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters } });
    section('Deleted Volumes', v.VolumesDeleted ?? []);
    space += v.SpaceReclaimed;
  }
  const i = await client.json<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }>('POST', '/images/prune', { query: { filters: f.all ? JSON.stringify({ ...(filters ? (JSON.parse(filters) as object) : {}), dangling: ['false'] }) : filters } });
  section('Deleted Images', (i.ImagesDeleted ?? []).map((x) => (x.Untagged ? `untagged: ${x.Untagged}` : `deleted: ${x.Deleted}`)));
  space += i.SpaceReclaimed;
  const b = await client.json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/build/prune', { query: { all: f.all ? 1 : undefined } });
  section('Deleted build cache objects', b.CachesDeleted ?? []);
  space += b.SpaceReclaimed;
  out(`Total reclaimed space: ${humanSize(space)}\n`);
}

/** A y/N question on the terminal; no terminal (a script) answers no, as the docker CLI's prompt reads EOF. */
async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const answer = await new Promise<string>((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('utf8');
      if (got.includes('\n')) done();
    };
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve(got);
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', done);
  });
  return /^y(es)?$/i.test(answer.trim());
}

