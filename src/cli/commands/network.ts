/** network create / ls / inspect / rm / prune / connect / disconnect. */
import { connect as connectClient } from '../client';
import { renderFormat, renderOne } from '../format';
import { eachName, filtersJson, goTime, keyValues, out } from '../util';

interface Net {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Labels: Record<string, string> | null;
  Created: string;
}


export async function create(name: string, f: { driver?: string; subnet?: string; gateway?: string; internal?: boolean; label?: string[]; opt?: string[] }): Promise<void> {
  const client = await connectClient();
  const r = await client.json<{ Id: string }>('POST', '/networks/create', {
    body: { Name: name, Driver: f.driver ?? 'bridge', Internal: !!f.internal, Labels: keyValues(f.label), Options: keyValues(f.opt), IPAM: { Driver: 'default', Config: f.subnet || f.gateway ? [{ Subnet: f.subnet, Gateway: f.gateway }] : [] } },
  });
  out(`${r.Id}\n`);
}

export async function ls(f: { quiet?: boolean; filter?: string[]; format?: string; trunc?: boolean }): Promise<void> {
  const client = await connectClient();
  const list = await client.json<Net[]>('GET', '/networks', { query: { filters: filtersJson(f.filter) } });
  const id = (n: Net) => (f.trunc === false ? n.Id : n.Id.slice(0, 12));
  if (f.quiet) {
    out(list.map((n) => `${id(n)}\n`).join(''));
    return;
  }
  const rows = list.map((n) => ({ ID: id(n), Name: n.Name, Driver: n.Driver, Scope: n.Scope, Internal: String(n.Internal), CreatedAt: goTime(new Date(n.Created), true), Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','), IPv6: 'false' }));
  out(renderFormat(f.format ?? '', rows, { defaultFormat: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', headers: { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', Internal: 'INTERNAL', CreatedAt: 'CREATED', Labels: 'LABELS', IPv6: 'IPV6' } }));
}

export async function inspect(names: string[], f: { format?: string }): Promise<number> {
  const client = await connectClient();
  const res: unknown[] = [];
  const code = await eachName(names, async (n) => void res.push(await client.json('GET', `/networks/${encodeURIComponent(n)}`)));
  if (f.format) for (const r of res) out(renderOne(f.format, r));
  else out(`${JSON.stringify(res, null, 4)}\n`);
  return code;
}

export async function rm(names: string[]): Promise<number> {
  const client = await connectClient();
  return eachName(names, async (n) => {
    await client.call('DELETE', `/networks/${encodeURIComponent(n)}`);
    out(`${n}\n`);
  });
}

export async function prune(): Promise<void> {
  const client = await connectClient();
  const r = await client.json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune');
  const del = r.NetworksDeleted ?? [];
  if (del.length) out(`Deleted Networks:\n${del.join('\n')}\n`);
}

export async function connect(network: string, container: string, f: { alias?: string[]; ip?: string }): Promise<void> {
  const client = await connectClient();
  await client.call('POST', `/networks/${encodeURIComponent(network)}/connect`, { body: { Container: container, EndpointConfig: { Aliases: f.alias ?? [], IPAMConfig: f.ip ? { IPv4Address: f.ip } : undefined } } });
}

export async function disconnect(network: string, container: string): Promise<void> {
  const client = await connectClient();
  await client.call('POST', `/networks/${encodeURIComponent(network)}/disconnect`, { body: { Container: container } });
}
