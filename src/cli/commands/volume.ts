/** volume create / ls / inspect / rm / prune. */
import { connect } from '../client';
import { renderFormat, renderOne } from '../format';
import { eachName, ExitError, filtersJson, humanSize, keyValues, out } from '../util';

interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels: Record<string, string> | null;
  Scope: string;
}


export async function create(name: string | undefined, f: { driver?: string; opt?: string[]; label?: string[] }): Promise<void> {
  const client = await connect();
  const v = await client.json<Volume>('POST', '/volumes/create', { body: { Name: name ?? '', Driver: f.driver ?? 'local', DriverOpts: keyValues(f.opt), Labels: keyValues(f.label) } });
  out(`${v.Name}\n`);
}

export async function ls(f: { quiet?: boolean; filter?: string[]; format?: string }): Promise<void> {
  const client = await connect();
  const r = await client.json<{ Volumes: Volume[] | null }>('GET', '/volumes', { query: { filters: filtersJson(f.filter) } });
  const vols = r.Volumes ?? [];
  if (f.quiet) {
    out(vols.map((v) => `${v.Name}\n`).join(''));
    return;
  }
  const rows = vols.map((v) => ({ Driver: v.Driver, Name: v.Name, Mountpoint: v.Mountpoint, Scope: v.Scope, Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(',') }));
  out(renderFormat(f.format ?? '', rows, { defaultFormat: 'table {{.Driver}}\t{{.Name}}', headers: { Driver: 'DRIVER', Name: 'VOLUME NAME', Mountpoint: 'MOUNTPOINT', Scope: 'SCOPE', Labels: 'LABELS' } }));
}

export async function inspect(names: string[], f: { format?: string }): Promise<number> {
  const client = await connect();
  const res: unknown[] = [];
  const code = await eachName(names, async (n) => void res.push(await client.json('GET', `/volumes/${encodeURIComponent(n)}`)));
  if (f.format) for (const r of res) out(renderOne(f.format, r));
  else out(`${JSON.stringify(res, null, 4)}\n`);
  return code;
}

export async function rm(names: string[], f: { force?: boolean }): Promise<number> {
  const client = await connect();
  return eachName(names, async (n) => {
    await client.call('DELETE', `/volumes/${encodeURIComponent(n)}`, { query: { force: f.force ? 1 : undefined } });
    out(`${n}\n`);
  });
}

export async function prune(f: { all?: boolean; force?: boolean }): Promise<void> {
  const client = await connect();
  const r = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/volumes/prune', { query: { filters: f.all ? JSON.stringify({ all: ['true'] }) : undefined } });
  const del = r.VolumesDeleted ?? [];
  if (del.length) out(`Deleted Volumes:\n${del.join('\n')}\n\n`);
  out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  void ExitError;
}
