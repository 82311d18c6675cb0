/** /networks/*: user networks over the CNI-based network module. */
import type { Engine } from '../../engine/engine';
import { InvalidArgumentError } from '../../errors';
import type { NetworkConfig } from '../../network';
import type { Router } from '../router';
import { matchLabel, parseFilters, pruneFilter } from '../filters';

function driverName(n: NetworkConfig): string {
  return n.Driver;
}

export function networkJson(engine: Engine, n: NetworkConfig, withContainers = true) {
  const containers: Record<string, unknown> = {};
  if (withContainers) {
    for (const { containerId, name, endpoint } of engine.networks.containersOf(n.Id)) {
      containers[containerId] = { Name: name, EndpointID: endpoint.EndpointID, MacAddress: endpoint.MacAddress, IPv4Address: endpoint.IPAddress ? `${endpoint.IPAddress}/${endpoint.IPPrefixLen}` : '', IPv6Address: '' };
    }
  }
  return {
    Name: n.Name,
    Id: n.Id,
    Created: n.Created,
    Scope: 'local',
    Driver: driverName(n),
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: n.Subnet ? [{ Subnet: n.Subnet, Gateway: n.Gateway }] : [] },
    Internal: n.Internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.Options ?? {},
    Labels: n.Labels,
  };
}

export function networkRoutes(r: Router, engine: Engine): void {
  const N = engine.networks;
  r.add('GET', '/networks', (ctx) => {
    const f = parseFilters(ctx.query.get('filters'));
    let list = N.list();
    if (f.name) list = list.filter((n) => f.name.some((x) => n.Name.includes(x)));
    if (f.id) list = list.filter((n) => f.id.some((x) => n.Id.startsWith(x)));
    if (f.driver) list = list.filter((n) => f.driver.includes(driverName(n)));
    if (f.label) list = list.filter((n) => f.label.every((l) => matchLabel(n.Labels, l)));
    if (f.type) list = list.filter((n) => f.type.includes(['bridge', 'host', 'none'].includes(n.Name) ? 'builtin' : 'custom'));
    ctx.send(200, list.map((n) => networkJson(engine, n)));
  });
  r.add('POST', '/networks/create', async (ctx) => {
    const b = await ctx.json<{ Name?: string; Driver?: string; Internal?: boolean; Labels?: Record<string, string>; Options?: Record<string, string>; IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> }; CheckDuplicate?: boolean }>();
    if (!b?.Name) throw new InvalidArgumentError('network name is required');
    if (b.Driver && b.Driver !== 'bridge') throw new InvalidArgumentError(`plugin "${b.Driver}" not found: Berth supports the bridge driver`);
    const cfg = b.IPAM?.Config?.[0];
    const n = await N.create({ name: b.Name, subnet: cfg?.Subnet || undefined, gateway: cfg?.Gateway || undefined, internal: !!b.Internal, labels: b.Labels ?? {}, options: b.Options ?? {} });
    engine.events.emit('network', 'create', n.Id, { name: n.Name, type: 'bridge' });
    ctx.send(201, { Id: n.Id, Warning: '' });
  });
  r.add('POST', '/networks/prune', async (ctx) => {
    const used = new Set(engine.containers.list().flatMap((c) => [c.rec.HostConfig.NetworkMode ?? '', ...Object.keys(c.rec.NetworkingConfig?.EndpointsConfig ?? {})]));
    const { matches } = pruneFilter(ctx.query.get('filters'));
    const gone = await N.prune((n) => used.has(n.Name) || used.has(n.Id) || !matches(n.Labels, n.Created));
    ctx.send(200, { NetworksDeleted: gone });
  });
  r.add('GET', '/networks/{id}', (ctx) => ctx.send(200, networkJson(engine, N.get(ctx.params.id))));
  r.add('DELETE', '/networks/{id}', async (ctx) => {
    const n = N.get(ctx.params.id);
    const users = engine.containers.list().filter((c) => [c.rec.HostConfig.NetworkMode, ...Object.keys(c.rec.NetworkingConfig?.EndpointsConfig ?? {})].some((m) => m === n.Name || m === n.Id));
    if (users.length) throw new InvalidArgumentError(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    await N.remove(n.Id);
    engine.events.emit('network', 'destroy', n.Id, { name: n.Name, type: 'bridge' });
    ctx.send(204);
  });
  r.add('POST', '/networks/{id}/connect', async (ctx) => {
    const b = await ctx.json<{ Container: string; EndpointConfig?: { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string } } }>();
    if (!b?.Container) throw new InvalidArgumentError('container is required');
    await engine.containers.connectNetwork(b.Container, ctx.params.id, b.EndpointConfig?.Aliases ?? [], b.EndpointConfig?.IPAMConfig?.IPv4Address || undefined);
    ctx.send(200);
  });
  r.add('POST', '/networks/{id}/disconnect', async (ctx) => {
    const b = await ctx.json<{ Container: string; Force?: boolean }>();
    if (!b?.Container) throw new InvalidArgumentError('container is required');
    await engine.containers.disconnectNetwork(b.Container, ctx.params.id);
    ctx.send(200);
  });
}
