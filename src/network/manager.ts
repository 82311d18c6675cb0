/**
 * NetworkManager: Docker-style networks (bridge, host, none and user bridge
 * networks) built from the CNI plugins in /usr/lib/cni.
 *
 * Per network (owned here, created once, removed with the network):
 *   - the Linux bridge (made by the bridge plugin on first ADD, deleted on remove),
 *   - one MASQUERADE rule for the subnet (not for --internal networks),
 *   - DROP rules for --internal networks (no forwarding off the bridge),
 *   - the resolver process and its gateway:53 DNAT (user networks).
 * Per container (the CNI plugins' business, undone by DEL):
 *   - a netns pinned at <run>/netns/<id>, a veth pair, a host-local lease,
 *     portmap DNAT chains and firewall plugin rules.
 *
 * Every ADD is preceded by an on-disk record of exactly what will be run
 * (<root>/networks/endpoints/<id>.json), so DEL can replay it after a crash.
 */
import { existsSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConflictError, ForbiddenError, InternalError, InvalidArgumentError, NotFoundError, messageOf } from '../errors';
import { atomicWriteJson, KeyedMutex } from '../sys/fsutil';
import { execFile } from '../sys/exec';
import { addNetworkList, CniError, CNI_VERSION, delNetworkList, execPlugin, pluginStdin, type CniResult, type NetConfList, type PluginConf } from './cni';
import { contains, formatCidr, ipToInt, isReserved, nthHost, overlaps, parseCidr, type Cidr } from './ipnet';
import { createNetns, removeNetns } from './netns';
import { chainPolicy, deleteEmptyChains, deleteRulesWhere, ensureRule, hasComment, iptables, listRules, deleteRule } from './iptables';
import { allocatePorts, keepHostPorts, toPortmapEntries, type ResolvedPort } from './ports';
import { hostRoutes } from './routes';
import { DnsControl } from './dns/control';
import { DNS_RESOLVER_ARG, type HostsTable } from './dns/server';
import { containerResolvers, readResolvConf } from './resolvconf';
import type { AttachResult, AttachmentState, ContainerNetState, EndpointInfo, EndpointRequest, NamespaceSpec, NetworkConfig, PortMapping } from './types';

export interface NetworkManagerOptions {
  /** Data root: state goes to <root>/networks. */
  root: string;
  /** Run dir: pinned namespaces go to <run>/netns. */
  run: string;
  cniPath?: string;
  /**
   * argv prefix that runs the resolver process (the state dir is appended).
   * Default: this same Node entry point with DNS_RESOLVER_ARG, so the entry
   * point (berthd) must dispatch on it; see index.ts.
   */
  resolverCommand?: string[];
  /** Upstream resolvers for names the embedded DNS does not know ("ip" or "ip:port"). Default: the host's /etc/resolv.conf. */
  upstreamDns?: string[];
  /** Per-upstream forwarding timeout. */
  dnsTimeoutMs?: number;
  /**
   * Whether to chain the CNI firewall plugin. 'auto' (default): only when the
   * host's FORWARD policy is not ACCEPT (Docker-installed hosts set DROP),
   * since it costs two iptables round trips per container start and stop.
   */
  firewall?: 'auto' | 'always' | 'never';
  /** The default 'bridge' network's bridge device and subnet (defaults: berth0, first free of 10.88.0.0/16...). */
  defaultBridge?: { bridgeName?: string; subnet?: string };
  /** Where automatic subnets for user networks come from: /24s of this range (default 10.89.0.0/16). */
  subnetPool?: string;
  /** Warnings from best-effort cleanup. */
  log?: (msg: string) => void;
}

export const PREDEFINED = ['bridge', 'host', 'none'] as const;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const DEFAULT_BRIDGE_SUBNETS = ['10.88.0.0/16', '10.87.0.0/16', '10.86.0.0/16', '172.17.0.0/16', '172.30.0.0/16', '192.168.200.0/24'];
const IFNAME_RE = /^[a-zA-Z0-9_.-]{1,15}$/;
const ISOLATION_1 = 'BERTH-ISOLATION-1';
const ISOLATION_2 = 'BERTH-ISOLATION-2';

function newId(): string {
  return randomBytes(32).toString('hex');
}

function tagOf(net: NetworkConfig): string {
  return `berth-net:${net.Id.slice(0, 12)}`;
}

function dnsTagOf(net: NetworkConfig): string {
  return `berth-dns:${net.Id.slice(0, 12)}`;
}

export class NetworkManager {
  private readonly dir: string;
  private readonly netnsDir: string;
  private readonly ipamDir: string;
  private readonly opts: NetworkManagerOptions;
  private readonly dns: DnsControl;
  private readonly mutex = new KeyedMutex();
  private networks = new Map<string, NetworkConfig>();
  private states = new Map<string, ContainerNetState>();
  /** Networks whose rules and resolver were verified by this process. */
  private ready = new Set<string>();
  private firewallNeeded: boolean | undefined;
  private inFlight = new Set<string>();
  /** Exited containers whose CNI DEL runs off the exit path (see release). */
  private releasing = new Map<string, Promise<void>>();

  constructor(opts: NetworkManagerOptions) {
    this.opts = opts;
    this.dir = join(opts.root, 'networks');
    this.netnsDir = join(opts.run, 'netns');
    this.ipamDir = join(this.dir, 'ipam');
    this.dns = new DnsControl(join(this.dir, 'dns'), opts.resolverCommand ?? [process.execPath, process.argv[1]!, DNS_RESOLVER_ARG]);
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Loads networks and endpoint records, creates the predefined networks,
   * restarts resolvers of networks whose bridge exists. With `live`, also
   * reaps everything of containers not in it (see reap).
   */
  async init(live?: Set<string>): Promise<void> {
    for (const d of ['configs', 'endpoints', 'ipam', 'dns']) await fsp.mkdir(join(this.dir, d), { recursive: true, mode: 0o700 });
    await fsp.chmod(join(this.dir, 'dns'), 0o755).catch(() => undefined);
    await fsp.mkdir(this.netnsDir, { recursive: true, mode: 0o755 });
    this.networks.clear();
    this.states.clear();
    this.ready.clear();
    for (const f of await fsp.readdir(join(this.dir, 'configs'))) {
      if (!f.endsWith('.json')) continue;
      const n = await this.readJson<NetworkConfig>(join(this.dir, 'configs', f));
      if (n?.Id && n.Name) this.networks.set(n.Id, n);
    }
    for (const f of await fsp.readdir(join(this.dir, 'endpoints'))) {
      if (!f.endsWith('.json')) continue;
      const s = await this.readJson<ContainerNetState>(join(this.dir, 'endpoints', f));
      if (s?.containerId) this.states.set(s.containerId, s);
    }
    await this.ensurePredefined();
    for (const n of this.networks.values()) {
      if (n.Driver === 'bridge' && n.Dns && (await this.linkExists(n.BridgeName))) {
        await this.ensureNetworkReady(n).catch((e) => this.log(`network ${n.Name}: ${messageOf(e)}`));
      }
    }
    if (live) await this.reap(live);
  }

  private async readJson<T>(path: string): Promise<T | undefined> {
    try {
      return JSON.parse(await fsp.readFile(path, 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log(`ignoring unreadable ${path}: ${messageOf(e)}`);
      return undefined;
    }
  }

  private async ensurePredefined(): Promise<void> {
    const have = new Set([...this.networks.values()].map((n) => n.Name));
    const base = { Internal: false, Labels: {}, Created: new Date().toISOString(), Dns: false, Options: {} };
    if (!have.has('host')) await this.save({ ...base, Name: 'host', Id: newId(), Driver: 'host', Subnet: '', Gateway: '', BridgeName: '' });
    if (!have.has('none')) await this.save({ ...base, Name: 'none', Id: newId(), Driver: 'null', Subnet: '', Gateway: '', BridgeName: '' });
    if (!have.has('bridge')) {
      const want = this.opts.defaultBridge?.subnet;
      const subnet = want ? parseCidr(want) : this.pickSubnet(DEFAULT_BRIDGE_SUBNETS.map((s) => parseCidr(s)));
      const id = newId();
      // Another engine on this host (tests run several) may own berth0 already.
      const bridgeName = this.opts.defaultBridge?.bridgeName ?? (existsSync('/sys/class/net/berth0') ? `berth-${id.slice(0, 8)}` : 'berth0');
      await this.save({
        ...base,
        Name: 'bridge',
        Id: id,
        Driver: 'bridge',
        Subnet: formatCidr(subnet),
        Gateway: nthHost(subnet, 1),
        BridgeName: bridgeName,
        Options: { 'com.docker.network.bridge.name': bridgeName, 'com.docker.network.bridge.default_bridge': 'true' },
      });
    }
  }

  private async save(n: NetworkConfig): Promise<void> {
    await atomicWriteJson(join(this.dir, 'configs', `${n.Id}.json`), n, 0o600);
    this.networks.set(n.Id, n);
  }

  // ---------------------------------------------------------------- networks

  list(): NetworkConfig[] {
    return [...this.networks.values()].sort((a, b) => a.Created.localeCompare(b.Created) || a.Name.localeCompare(b.Name));
  }

  /** By full ID, then name, then unique ID prefix (Docker's order). */
  get(idOrName: string): NetworkConfig {
    const n = this.find(idOrName);
    if (!n) throw new NotFoundError(`network ${idOrName} not found`);
    return n;
  }

  private find(idOrName: string): NetworkConfig | undefined {
    const byId = this.networks.get(idOrName);
    if (byId) return byId;
    const all = [...this.networks.values()];
    const byName = all.find((n) => n.Name === idOrName);
    if (byName) return byName;
    if (!/^[0-9a-f]+$/.test(idOrName)) return undefined;
    const pre = all.filter((n) => n.Id.startsWith(idOrName));
    if (pre.length > 1) throw new InvalidArgumentError(`network ${idOrName} is ambiguous (${pre.length} matches found based on ID prefix)`);
    return pre[0];
  }

  private pickSubnet(candidates: Cidr[]): Cidr {
    const ours = new Set([...this.networks.values()].map((n) => n.BridgeName).filter(Boolean));
    const busy: Cidr[] = [
      ...[...this.networks.values()].filter((n) => n.Subnet).map((n) => parseCidr(n.Subnet, true)),
      ...hostRoutes().filter((r) => !ours.has(r.iface)),
    ];
    const free = candidates.find((c) => !busy.some((b) => overlaps(b, c)));
    if (!free) throw new ConflictError('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
    return free;
  }

  private autoSubnets(): Cidr[] {
    const pool = parseCidr(this.opts.subnetPool ?? '10.89.0.0/16');
    const out: Cidr[] = [];
    const prefix = Math.max(pool.prefix, 24);
    for (let i = 0; i < 2 ** (prefix - pool.prefix); i++) out.push({ base: (pool.base + i * 2 ** (32 - prefix)) >>> 0, prefix });
    return out;
  }

  async create(o: {
    name: string;
    subnet?: string;
    gateway?: string;
    internal?: boolean;
    labels?: Record<string, string>;
    /** Docker driver options; com.docker.network.bridge.name picks the bridge device. */
    options?: Record<string, string>;
    driver?: string;
  }): Promise<NetworkConfig> {
    return this.mutex.run('networks', async () => {
      if (o.driver && o.driver !== 'bridge') throw new InvalidArgumentError(`network driver ${o.driver} is not supported (only bridge)`);
      if (!NAME_RE.test(o.name)) throw new InvalidArgumentError(`invalid network name "${o.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      if ((PREDEFINED as readonly string[]).includes(o.name) || [...this.networks.values()].some((n) => n.Name === o.name))
        throw new ConflictError(`network with name ${o.name} already exists`);
      if (o.gateway && !o.subnet) throw new InvalidArgumentError('a gateway needs a subnet (--subnet) to go with it');
      let subnet: Cidr;
      if (o.subnet) {
        subnet = parseCidr(o.subnet);
        if (subnet.prefix > 30) throw new InvalidArgumentError(`subnet ${o.subnet} is too small: at least a /30 is needed`);
        const clash = [...this.networks.values()].find((n) => n.Subnet && overlaps(parseCidr(n.Subnet, true), subnet));
        if (clash) throw new ForbiddenError(`invalid pool request: Pool overlaps with other one on this address space (network ${clash.Name} has ${clash.Subnet})`);
      } else {
        subnet = this.pickSubnet(this.autoSubnets());
      }
      const gateway = o.gateway ?? nthHost(subnet, 1);
      if (!contains(subnet, gateway) || isReserved(subnet, gateway)) throw new InvalidArgumentError(`gateway ${gateway} is not a usable address of subnet ${formatCidr(subnet)}`);
      const id = newId();
      const options = { ...(o.options ?? {}) };
      const bridgeName = options['com.docker.network.bridge.name'] || `br-${id.slice(0, 12)}`;
      if (!IFNAME_RE.test(bridgeName)) throw new InvalidArgumentError(`invalid bridge name ${bridgeName}: 1-15 characters of [a-zA-Z0-9_.-]`);
      const user = [...this.networks.values()].find((n) => n.BridgeName === bridgeName);
      if (user) throw new ConflictError(`bridge ${bridgeName} is already used by network ${user.Name}`);
      const net: NetworkConfig = {
        Name: o.name,
        Id: id,
        Driver: 'bridge',
        Subnet: formatCidr(subnet),
        Gateway: gateway,
        Internal: !!o.internal,
        Labels: { ...(o.labels ?? {}) },
        Created: new Date().toISOString(),
        BridgeName: bridgeName,
        Dns: true,
        Options: options,
        UserSubnet: !!o.subnet,
      };
      await this.save(net);
      return net;
    });
  }

  /** Containers attached to a network (for network inspect's Containers). */
  containersOf(idOrName: string): Array<{ containerId: string; name: string; endpoint: EndpointInfo }> {
    const net = this.get(idOrName);
    const out: Array<{ containerId: string; name: string; endpoint: EndpointInfo }> = [];
    for (const s of this.states.values()) {
      if (this.releasing.has(s.containerId)) continue;
      for (const a of s.attachments) if (a.networkId === net.Id) out.push({ containerId: s.containerId, name: s.name, endpoint: this.endpointInfo(net, a) });
    }
    return out;
  }

  async remove(idOrName: string): Promise<void> {
    await this.released();
    await this.mutex.run('networks', async () => {
      const net = this.get(idOrName);
      if (net.Name === 'bridge' || net.Driver !== 'bridge') throw new ForbiddenError(`${net.Name} is a pre-defined network and cannot be removed`);
      const users = [...this.states.values()].filter((s) => s.attachments.some((a) => a.networkId === net.Id));
      if (users.length) throw new ForbiddenError(`error while removing network: network ${net.Name} id ${net.Id} has active endpoints (${users.map((u) => u.name || u.containerId.slice(0, 12)).join(', ')})`);
      await this.teardownNetwork(net);
      await fsp.rm(join(this.dir, 'configs', `${net.Id}.json`), { force: true });
      this.networks.delete(net.Id);
    });
  }

  /**
   * Detaches every container and removes the host side of every network,
   * the default bridge included (bridges, rules, resolvers, leases); the
   * configs stay. For uninstalling a data root, and for tests.
   */
  async destroy(): Promise<void> {
    await this.released();
    for (const cid of [...this.states.keys()]) await this.detach(cid);
    await this.mutex.run('networks', async () => {
      for (const n of this.networks.values()) if (n.Driver === 'bridge') await this.teardownNetwork(n);
    });
  }

  /** Removes user networks without endpoints (those `keep` does not veto); returns their names. */
  async prune(keep?: (n: NetworkConfig) => boolean): Promise<string[]> {
    const gone: string[] = [];
    await this.released();
    for (const n of this.list()) {
      if (n.Driver !== 'bridge' || n.Name === 'bridge' || keep?.(n)) continue;
      if ([...this.states.values()].some((s) => s.attachments.some((a) => a.networkId === n.Id))) continue;
      try {
        await this.remove(n.Id);
        gone.push(n.Name);
      } catch (e) {
        this.log(`prune ${n.Name}: ${messageOf(e)}`);
      }
    }
    return gone;
  }

  private async teardownNetwork(net: NetworkConfig): Promise<void> {
    await this.dns.remove(net.Id);
    const tags = [tagOf(net), dnsTagOf(net)];
    for (const t of ['nat', 'filter'] as const) await deleteRulesWhere(t, (l) => tags.some((tag) => hasComment(l, tag)));
    if (await this.linkExists(net.BridgeName)) await execFile('/usr/sbin/ip', ['link', 'del', net.BridgeName, 'type', 'bridge']);
    await fsp.rm(join(this.ipamDir, net.Name), { recursive: true, force: true });
    this.ready.delete(net.Id);
  }

  private async linkExists(name: string): Promise<boolean> {
    if (!name) return false;
    return fsp.stat(`/sys/class/net/${name}`).then(
      () => true,
      () => false,
    );
  }

  // -------------------------------------------------------- per-network setup

  private async wantFirewall(): Promise<boolean> {
    const mode = this.opts.firewall ?? 'auto';
    if (mode !== 'auto') return mode === 'always';
    this.firewallNeeded ??= (await chainPolicy('filter', 'FORWARD')) !== 'ACCEPT';
    return this.firewallNeeded;
  }

  /** The conflist for one attachment (kept in the endpoint record, so DEL replays exactly this). */
  private async conflist(net: NetworkConfig, withPorts: boolean): Promise<NetConfList> {
    const plugins: PluginConf[] = [
      {
        type: 'bridge',
        bridge: net.BridgeName,
        isGateway: true,
        // NAT is one rule per network (ensureNetworkReady), not a chain per container: ~60 ms less per start/stop.
        ipMasq: false,
        hairpinMode: true,
        capabilities: { ips: true, mac: true },
        ipam: {
          type: 'host-local',
          dataDir: this.ipamDir,
          ranges: [[{ subnet: net.Subnet, gateway: net.Gateway }]],
          routes: net.Internal ? [] : [{ dst: '0.0.0.0/0' }],
        },
      },
    ];
    if (withPorts) plugins.push({ type: 'portmap', snat: true, capabilities: { portMappings: true } });
    if (await this.wantFirewall()) plugins.push({ type: 'firewall', backend: 'iptables' });
    return { cniVersion: CNI_VERSION, name: net.Name, plugins };
  }

  /** Idempotent per-network host setup, done once per process per network after its bridge exists. */
  private async ensureNetworkReady(net: NetworkConfig): Promise<void> {
    if (this.ready.has(net.Id)) {
      if (net.Dns && !(await this.dns.running(net.Id))) this.ready.delete(net.Id);
      else return;
    }
    const tag = ['-m', 'comment', '--comment', tagOf(net)];
    const br = net.BridgeName;
    if (!net.Internal) await ensureRule('nat', 'POSTROUTING', ['-s', net.Subnet, '!', '-o', br, ...tag, '-j', 'MASQUERADE']);
    // Isolation, as Docker's DOCKER-ISOLATION-STAGE-1/2: nothing is forwarded between two Berth
    // networks, and an internal network forwards nothing off its bridge (or onto it) at all.
    await this.ensureIsolationChains();
    if (net.Internal) {
      await ensureRule('filter', ISOLATION_1, ['-i', br, '!', '-o', br, ...tag, '-j', 'DROP'], true);
      await ensureRule('filter', ISOLATION_1, ['-o', br, '!', '-i', br, ...tag, '-j', 'DROP'], true);
    } else {
      await ensureRule('filter', ISOLATION_1, ['-i', br, '!', '-o', br, ...tag, '-j', ISOLATION_2]);
      await ensureRule('filter', ISOLATION_2, ['-o', br, ...tag, '-j', 'DROP']);
      // Published ports from other hosts when FORWARD's policy is DROP (the firewall plugin only
      // accepts replies towards a container): accept what portmap DNATed onto this bridge.
      await ensureRule('filter', 'FORWARD', ['-o', br, '-m', 'conntrack', '--ctstate', 'DNAT', ...tag, '-j', 'ACCEPT']);
    }
    if (net.Dns) await this.ensureDns(net);
    this.ready.add(net.Id);
  }

  /** The isolation chains exist and FORWARD jumps to them first (ahead of the CNI firewall plugin's ACCEPTs). */
  private async ensureIsolationChains(): Promise<void> {
    for (const c of [ISOLATION_1, ISOLATION_2]) {
      const r = await iptables(['-t', 'filter', '-N', c]);
      if (r.code !== 0 && !/exists/i.test(r.stderr)) throw new InternalError(`iptables -N ${c}: ${r.stderr.trim()}`);
    }
    await this.ensureIsolationFirst();
  }

  private async ensureIsolationFirst(): Promise<void> {
    const jump = ['-m', 'comment', '--comment', 'berth-isolation', '-j', ISOLATION_1];
    const forward = (await listRules('filter')).filter((l) => l.startsWith('-A FORWARD '));
    if (forward.length && forward[0]!.endsWith(`-j ${ISOLATION_1}`)) return;
    await deleteRule('filter', 'FORWARD', jump);
    await ensureRule('filter', 'FORWARD', jump, true);
  }

  private upstream(): string[] {
    return this.opts.upstreamDns ?? readResolvConf().nameservers;
  }

  private async ensureDns(net: NetworkConfig): Promise<void> {
    const h = await this.dns.ensure(net.Id, {
      network: net.Name,
      listen: net.Gateway,
      upstream: this.upstream(),
      forward: !net.Internal,
      timeoutMs: this.opts.dnsTimeoutMs ?? 2000,
    });
    await this.writeHosts(net);
    const tag = dnsTagOf(net);
    const to = `${net.Gateway}:${h.port}`;
    const stale = (await listRules('nat')).filter((l) => hasComment(l, tag) && !l.endsWith(`--to-destination ${to}`));
    if (stale.length) await deleteRulesWhere('nat', (l) => stale.includes(l));
    for (const proto of ['udp', 'tcp']) {
      await ensureRule('nat', 'PREROUTING', ['-i', net.BridgeName, '-d', `${net.Gateway}/32`, '-p', proto, '-m', proto, '--dport', '53', '-m', 'comment', '--comment', tag, '-j', 'DNAT', '--to-destination', to]);
    }
  }

  /** The resolver's names table for one network, from all endpoint records. */
  private hostsTable(net: NetworkConfig): HostsTable {
    const names: Record<string, string[]> = {};
    for (const s of this.states.values()) {
      if (this.releasing.has(s.containerId)) continue;
      for (const a of s.attachments) {
        if (a.networkId !== net.Id || !a.result) continue;
        const ip = this.ipOf(a.result, a.ifName)?.ip;
        if (!ip) continue;
        for (const n of a.dnsNames) (names[n.toLowerCase()] ??= []).includes(ip) || names[n.toLowerCase()]!.push(ip);
      }
    }
    return { names };
  }

  private async writeHosts(net: NetworkConfig): Promise<void> {
    if (net.Dns) await this.dns.setHosts(net.Id, this.hostsTable(net));
  }

  // ------------------------------------------------------------- containers

  private statePath(cid: string): string {
    return join(this.dir, 'endpoints', `${cid}.json`);
  }

  private async writeState(s: ContainerNetState): Promise<void> {
    // No fsync: after a power loss the namespaces and rules are gone too, and reap() sweeps leases.
    const tmp = `${this.statePath(s.containerId)}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(s), { mode: 0o600 });
    await fsp.rename(tmp, this.statePath(s.containerId));
    this.states.set(s.containerId, s);
  }

  private netnsPath(cid: string): string {
    return join(this.netnsDir, cid);
  }

  private ipOf(result: CniResult, ifName: string): { ip: string; prefix: number; gateway: string; mac: string } | undefined {
    const ifIndex = result.interfaces?.findIndex((i) => i.name === ifName && i.sandbox) ?? -1;
    const ipc = result.ips?.find((i) => (ifIndex >= 0 ? i.interface === ifIndex : true) && /^\d+\.\d+\.\d+\.\d+\//.test(i.address)) ?? result.ips?.[0];
    if (!ipc) return undefined;
    const [ip, prefix] = ipc.address.split('/');
    const mac = (ipc.interface !== undefined ? result.interfaces?.[ipc.interface]?.mac : undefined) ?? (ifIndex >= 0 ? result.interfaces?.[ifIndex]?.mac : '') ?? '';
    return { ip: ip!, prefix: Number(prefix), gateway: ipc.gateway ?? '', mac };
  }

  private endpointInfo(net: NetworkConfig, a: AttachmentState): EndpointInfo {
    const ip = a.result ? this.ipOf(a.result, a.ifName) : undefined;
    return {
      NetworkID: net.Id,
      EndpointID: a.endpointId,
      IPAddress: ip?.ip ?? '',
      IPPrefixLen: ip?.prefix ?? 0,
      Gateway: net.Internal ? '' : (ip?.gateway ?? ''),
      MacAddress: ip?.mac ?? '',
      Aliases: a.aliases,
    };
  }

  private predefinedEndpoint(net: NetworkConfig): EndpointInfo {
    return { NetworkID: net.Id, EndpointID: newId(), IPAddress: '', IPPrefixLen: 0, Gateway: '', MacAddress: '', Aliases: [] };
  }

  /** All published ports of all containers but `except`. */
  private portsInUse(except: string): ResolvedPort[] {
    return [...this.states.values()].filter((s) => s.containerId !== except).flatMap((s) => s.ports);
  }

  /**
   * Gives a container its network namespace and endpoints. Call before
   * creating the runc container (its spec needs the namespace); on failure
   * everything done so far is undone. A leftover from an earlier start of the
   * same container is detached first.
   */
  /**
   * Gives a container its network namespace and interfaces. `onNamespace` is
   * called once the pinned namespace exists, before the CNI plugins run: a
   * runtime may create the container in it meanwhile, as long as its command
   * starts only after this resolves.
   */
  async attach(containerId: string, name: string, hostname: string, endpoints: EndpointRequest[], ports: PortMapping[], onNamespace?: (ns: NamespaceSpec) => void): Promise<AttachResult> {
    if (!/^[0-9a-zA-Z_.-]{1,128}$/.test(containerId)) throw new InvalidArgumentError(`invalid container id ${containerId}`);
    const reqs = endpoints.length ? endpoints : [{ network: 'bridge' }];
    const nets = reqs.map((r) => this.get(r.network));
    const special = nets.filter((n) => n.Driver !== 'bridge');
    if (special.length && nets.length > 1) throw new InvalidArgumentError(`container cannot be connected to network ${special[0]!.Name} and to other networks`);
    if (new Set(nets.map((n) => n.Id)).size !== nets.length) throw new InvalidArgumentError('a container can be connected to each network only once');
    const first = nets[0]!;
    if (first.Driver === 'host' || first.Driver === 'null') {
      await this.detach(containerId);
      const host = readResolvConf();
      return {
        nsPath: '',
        namespace: { mode: first.Driver === 'host' ? 'host' : 'none' },
        networks: { [first.Name]: this.predefinedEndpoint(first) },
        ports: [],
        dnsServers: first.Driver === 'host' ? host.nameservers : containerResolvers(),
        dnsSearch: host.search,
        dnsOptions: host.options,
        hosts: [],
      };
    }
    reqs.forEach((r, i) => this.checkStaticIp(nets[i]!, r));
    return this.mutex.run(`c:${containerId}`, async () => {
      this.inFlight.add(containerId);
      try {
        if (this.states.has(containerId) || (await fsp.stat(this.netnsPath(containerId)).catch(() => undefined))) await this.detachLocked(containerId);
        const resolved = await this.mutex.run('ports', async () => {
          const r = await allocatePorts(ports, this.portsInUse(containerId));
          const state: ContainerNetState = { containerId, name: name.replace(/^\//, ''), hostname, nsPath: this.netnsPath(containerId), created: new Date().toISOString(), ports: r, attachments: [] };
          await this.writeState(state); // claims the ports before the lock is released
          return r;
        });
        const state = this.states.get(containerId)!;
        try {
          await createNetns(state.nsPath);
          onNamespace?.({ mode: 'path', nsPath: state.nsPath });
          for (let i = 0; i < nets.length; i++) await this.addAttachment(state, nets[i]!, reqs[i]!, i === 0 ? resolved : []);
        } catch (e) {
          await this.detachLocked(containerId).catch((e2) => this.log(`rollback of ${containerId}: ${messageOf(e2)}`));
          throw mapCniError(e);
        }
        return this.resultOf(state);
      } finally {
        this.inFlight.delete(containerId);
      }
    });
  }

  private checkStaticIp(net: NetworkConfig, r: EndpointRequest): void {
    if (!r.ip) return;
    if (!net.UserSubnet) throw new ForbiddenError('user specified IP address is supported only when connecting to networks with user configured subnets');
    const cidr = parseCidr(net.Subnet, true);
    ipToInt(r.ip);
    if (!contains(cidr, r.ip) || isReserved(cidr, r.ip) || r.ip === net.Gateway) throw new InvalidArgumentError(`invalid address ${r.ip}: it is not a free host address of ${net.Subnet}`);
  }

  private async addAttachment(state: ContainerNetState, net: NetworkConfig, req: EndpointRequest, ports: ResolvedPort[]): Promise<void> {
    const used = new Set(state.attachments.map((a) => a.ifName));
    let n = 0;
    while (used.has(`eth${n}`)) n++;
    const aliases = [...new Set((req.aliases ?? []).filter(Boolean))];
    const dnsNames = net.Dns ? [...new Set([state.name, ...aliases, state.containerId.slice(0, 12)].filter(Boolean))] : [];
    const capabilityArgs: Record<string, unknown> = {};
    if (req.ip) capabilityArgs.ips = [req.ip];
    if (req.mac) capabilityArgs.mac = req.mac;
    if (ports.length) capabilityArgs.portMappings = toPortmapEntries(ports);
    const att: AttachmentState = {
      networkId: net.Id,
      networkName: net.Name,
      endpointId: newId(),
      ifName: `eth${n}`,
      aliases,
      dnsNames,
      list: await this.conflist(net, ports.length > 0),
      capabilityArgs,
    };
    state.attachments.push(att);
    await this.writeState(state); // intent first: a crash during ADD leaves a record DEL can replay
    att.result = await addNetworkList(att.list, { containerId: state.containerId, netns: state.nsPath, ifName: att.ifName, capabilityArgs }, { cniPath: this.opts.cniPath });
    await this.writeState(state);
    await this.ensureNetworkReady(net);
    if (att.list.plugins.some((p) => p.type === 'firewall')) await this.ensureIsolationFirst();
    await this.writeHosts(net);
  }

  private resultOf(state: ContainerNetState): AttachResult {
    const networks: Record<string, EndpointInfo> = {};
    const hosts: AttachResult['hosts'] = [];
    for (const a of state.attachments) {
      const net = this.networks.get(a.networkId);
      if (!net) continue;
      const info = this.endpointInfo(net, a);
      networks[net.Name] = info;
      if (info.IPAddress) hosts.push({ ip: info.IPAddress, names: [state.hostname || state.containerId.slice(0, 12)] });
    }
    const primary = state.attachments[0] && this.networks.get(state.attachments[0].networkId);
    const host = readResolvConf();
    const userDns = !!primary?.Dns;
    return {
      nsPath: state.nsPath,
      namespace: { mode: 'path', nsPath: state.nsPath },
      networks,
      ports: state.ports.map((p) => ({ ...p })),
      // The resolver listens on the gateway (DNAT :53 → its port) rather than Docker's 127.0.0.11 inside the container.
      dnsServers: userDns ? [primary.Gateway] : containerResolvers(host),
      dnsSearch: host.search,
      dnsOptions: userDns ? [...new Set([...host.options.filter((o) => !o.startsWith('ndots:')), 'ndots:0'])] : host.options,
      hosts,
    };
  }

  /** The current attach result of a container (for inspect after a daemon restart), if it has endpoints. */
  attachment(containerId: string): AttachResult | undefined {
    const s = this.states.get(containerId);
    return s ? this.resultOf(s) : undefined;
  }

  /** Connects a container that already has a namespace (running) to one more network. */
  async connect(containerId: string, req: EndpointRequest): Promise<EndpointInfo> {
    const net = this.get(req.network);
    if (net.Driver !== 'bridge') throw new ForbiddenError(`container cannot be disconnected from or connected to network ${net.Name} of driver ${net.Driver} while running`);
    this.checkStaticIp(net, req);
    return this.mutex.run(`c:${containerId}`, async () => {
      const state = this.states.get(containerId);
      if (!state) throw new NotFoundError(`container ${containerId} has no network namespace (is it running?)`);
      if (state.attachments.some((a) => a.networkId === net.Id)) throw new ForbiddenError(`endpoint with name ${state.name} already exists in network ${net.Name}`);
      try {
        await this.addAttachment(state, net, req, []);
      } catch (e) {
        const att = state.attachments.find((a) => a.networkId === net.Id);
        if (att) await this.dropAttachment(state, att).catch(() => undefined);
        throw mapCniError(e);
      }
      return this.endpointInfo(net, state.attachments.find((a) => a.networkId === net.Id)!);
    });
  }

  /**
   * Changes a running container's published ports in place (moby#21282, the
   * "add a port without recreating" request): the portmap plugin alone is run
   * DEL with the old mappings and ADD with the new ones, chained on the
   * primary endpoint's recorded result; the interface and its address stay.
   * A mapping the container keeps keeps its host port, also a random one.
   * New host ports are claimed as at attach: inside the ports lock, and in
   * the endpoint record before any plugin runs (with portmap in its list
   * while either mapping is in place, so a DEL replayed after a crash removes
   * the rules: portmap tears down the container's chain whatever the
   * mappings). If the ADD fails, what it left is deleted and the old
   * mappings are put back.
   */
  async updatePorts(containerId: string, ports: PortMapping[]): Promise<ResolvedPort[]> {
    return this.mutex.run(`c:${containerId}`, async () => {
      const state = this.states.get(containerId);
      const att = state?.attachments[0];
      if (!state || !att?.result) throw new ConflictError(`container ${containerId} has no bridge network endpoint to publish ports on`);
      const portmap: PluginConf = { type: 'portmap', snat: true, capabilities: { portMappings: true } };
      const withPortmap = (on: boolean): NetConfList => {
        const rest = att.list.plugins.filter((p) => p.type !== 'portmap');
        return { ...att.list, plugins: on ? [rest[0]!, portmap, ...rest.slice(1)] : rest };
      };
      const { portMappings: old, ...otherArgs } = att.capabilityArgs;
      const before = { list: att.list, capabilityArgs: att.capabilityArgs, ports: state.ports };
      const resolved = await this.mutex.run('ports', async () => {
        const r = await allocatePorts(keepHostPorts(ports, before.ports), this.portsInUse(containerId));
        // Old and new host ports both stay claimed until the swap is done.
        state.ports = [...before.ports, ...r];
        att.list = withPortmap(!!(old || r.length));
        att.capabilityArgs = r.length ? { ...otherArgs, portMappings: toPortmapEntries(r) } : before.capabilityArgs;
        try {
          await this.writeState(state);
        } catch (e) {
          Object.assign(att, { list: before.list, capabilityArgs: before.capabilityArgs });
          state.ports = before.ports;
          throw e;
        }
        return r;
      });
      const next = resolved.length ? toPortmapEntries(resolved) : undefined;
      const only = { cniVersion: att.list.cniVersion, name: att.list.name, plugins: [portmap] };
      const cni = { cniPath: this.opts.cniPath };
      const run = (command: 'ADD' | 'DEL', mappings: unknown) => {
        const rt = { containerId, netns: state.nsPath, ifName: att.ifName, capabilityArgs: { ...otherArgs, portMappings: mappings } };
        return execPlugin(command, pluginStdin(only, portmap, rt, att.result), rt, cni);
      };
      try {
        if (old) await run('DEL', old);
        if (next) await run('ADD', next);
      } catch (e) {
        // A failed ADD may have left rules behind (CNI: DEL after a failed ADD); then the old mappings go back.
        if (next) await run('DEL', next).catch((e2) => this.log(`cleaning up the ports of ${containerId}: ${messageOf(e2)}`));
        if (old) await run('ADD', old).catch((e2) => this.log(`restoring the ports of ${containerId}: ${messageOf(e2)}`));
        att.list = before.list;
        att.capabilityArgs = before.capabilityArgs;
        state.ports = before.ports;
        await this.writeState(state).catch((e2) => this.log(`restoring the endpoint record of ${containerId}: ${messageOf(e2)}`));
        throw mapCniError(e);
      }
      // The endpoint record says what DEL must undo at exit: portmap in the list iff ports are published.
      att.list = withPortmap(!!next);
      att.capabilityArgs = next ? { ...otherArgs, portMappings: next } : otherArgs;
      state.ports = resolved;
      await this.writeState(state);
      return resolved.map((p) => ({ ...p }));
    });
  }

  /** Disconnects a running container from one network. */
  async disconnect(containerId: string, network: string): Promise<void> {
    const net = this.get(network);
    await this.mutex.run(`c:${containerId}`, async () => {
      const state = this.states.get(containerId);
      const att = state?.attachments.find((a) => a.networkId === net.Id);
      if (!state || !att) throw new NotFoundError(`container ${containerId} is not connected to network ${net.Name}`);
      await this.dropAttachment(state, att);
    });
  }

  private async dropAttachment(state: ContainerNetState, att: AttachmentState): Promise<void> {
    await this.delAttachment(state, att);
    state.attachments = state.attachments.filter((a) => a !== att);
    if (att === state.attachments[0] || att.capabilityArgs.portMappings) state.ports = [];
    await this.writeState(state);
    const net = this.networks.get(att.networkId);
    if (net) await this.writeHosts(net);
  }

  /**
   * Undoes attach: CNI DEL for every network (replaying the recorded
   * conflists), then unpins the namespace. Idempotent, works from the
   * on-disk record after a crash, and never throws for plugin failures
   * (they are logged and the leftovers swept).
   *
   * `containerGone: true` (the container's processes have all exited) runs
   * DEL without CNI_NETNS, as the CNI spec allows for a namespace that is
   * going away: the bridge plugin then only releases the lease, and the
   * kernel destroys the veth pair together with the namespace when it is
   * unpinned, instead of berthd waiting ~30-50 ms per veth deletion. Rules
   * and leases are still removed synchronously.
   */
  async detach(containerId: string, opts: { containerGone?: boolean } = {}): Promise<void> {
    // Being released already (the container exited): that DEL does it all; a removal need not wait.
    if (this.releasing.has(containerId)) return;
    await this.mutex.run(`c:${containerId}`, () => this.detachLocked(containerId, !!opts.containerGone));
  }

  /**
   * At a container's exit. Where the CNI DEL only returns the IP lease (bridge
   * alone: no portmap or firewall rules to remove, the veth dies with the
   * namespace), it runs off the exit path, so that an exit (and `run --rm`)
   * does not wait the ~15 ms of plugin execs; the namespace is unpinned before
   * this resolves. The lease stays taken until the DEL; network removal and a
   * new attach of the same container wait for it, and a daemon killed
   * meanwhile replays it from the endpoint record at its next start (reap).
   * Otherwise this is a plain detach.
   */
  async release(containerId: string, opts: { namespaceShared?: boolean } = {}): Promise<void> {
    const state = this.states.get(containerId);
    if (this.releasing.has(containerId)) return;
    // Synchronous, as before, when the DEL does more than return a dynamic lease: rules to remove
    // (portmap, firewall), a static IP a new container may ask for at once, or a namespace other
    // containers joined (their processes keep it, and the veth in it must go with its lease).
    const plain = !state || opts.namespaceShared || state.attachments.some((a) => a.list.plugins.some((p) => p.type !== 'bridge') || a.capabilityArgs.ips !== undefined);
    if (plain) return this.detach(containerId, { containerGone: !opts.namespaceShared });
    let unpinned!: () => void;
    const gone = new Promise<void>((resolve) => (unpinned = resolve));
    const p = this.mutex
      .run(`c:${containerId}`, async () => {
        try {
          await removeNetns(state.nsPath);
        } catch (e) {
          this.log(`unpinning the namespace of ${containerId.slice(0, 12)}: ${messageOf(e)}`);
        } finally {
          unpinned();
        }
        // The resolver stops answering with this container's names now, not after the DEL.
        for (const a of state.attachments) {
          const net = this.networks.get(a.networkId);
          if (net) await this.writeHosts(net).catch(() => undefined);
        }
        await this.detachLocked(containerId, true);
      })
      .catch((e) => this.log(`detach of ${containerId.slice(0, 12)}: ${messageOf(e)}`))
      .finally(() => this.releasing.delete(containerId));
    this.releasing.set(containerId, p);
    await gone;
  }

  /** Resolves when every release in progress has finished. */
  async released(): Promise<void> {
    while (this.releasing.size) await Promise.all([...this.releasing.values()]);
  }

  private async detachLocked(containerId: string, containerGone = false): Promise<void> {
    // Nothing attached (--network none/host, or already detached): cheap stats instead of
    // four trips to the thread pool; this runs at every start, exit and removal.
    const sp = this.statePath(containerId);
    if (!this.states.has(containerId) && !existsSync(sp) && !existsSync(`${sp}.tmp`) && !existsSync(this.netnsPath(containerId))) return;
    const state = this.states.get(containerId) ?? (await this.readJson<ContainerNetState>(this.statePath(containerId)));
    const touched = new Set<string>();
    if (state) {
      for (const att of [...state.attachments].reverse()) {
        await this.delAttachment(state, att, containerGone);
        touched.add(att.networkId);
      }
    }
    await removeNetns(state?.nsPath ?? this.netnsPath(containerId));
    await fsp.rm(this.statePath(containerId), { force: true });
    await fsp.rm(`${this.statePath(containerId)}.tmp`, { force: true });
    this.states.delete(containerId);
    for (const id of touched) {
      const net = this.networks.get(id);
      if (net) await this.writeHosts(net).catch(() => undefined);
    }
  }

  private async delAttachment(state: ContainerNetState, att: AttachmentState, containerGone = false): Promise<void> {
    const rt = { containerId: state.containerId, netns: containerGone ? '' : state.nsPath, ifName: att.ifName, capabilityArgs: att.capabilityArgs };
    // Without a recorded result (crash during ADD), rebuild the part DEL needs (the IP, for the firewall plugin) from the lease.
    const prev = att.result ?? (await this.resultFromLease(att.list.name, state.containerId, att.ifName));
    let failed = !att.result;
    try {
      await delNetworkList(att.list, rt, prev, { cniPath: this.opts.cniPath });
    } catch (e) {
      failed = true;
      this.log(`CNI DEL of ${state.containerId.slice(0, 12)} on ${att.networkName}: ${messageOf(e)}`);
    }
    if (failed) await this.sweepContainer(state.containerId, att.list.name, prev ? this.ipOf(prev, att.ifName)?.ip : undefined);
  }

  /** host-local keeps one file per leased IP, named by the IP, holding "<containerId>\r\n<ifName>". */
  private async leases(netName: string): Promise<Array<{ ip: string; containerId: string; ifName: string; path: string }>> {
    const dir = join(this.ipamDir, netName);
    const out: Array<{ ip: string; containerId: string; ifName: string; path: string }> = [];
    for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
      const text = await fsp.readFile(join(dir, f), 'utf8').catch(() => '');
      const [cid, ifName] = text.split(/\r?\n/);
      if (cid) out.push({ ip: f, containerId: cid.trim(), ifName: (ifName ?? '').trim(), path: join(dir, f) });
    }
    return out;
  }

  private async resultFromLease(netName: string, cid: string, ifName: string): Promise<CniResult | undefined> {
    const net = [...this.networks.values()].find((n) => n.Name === netName);
    const l = (await this.leases(netName)).find((x) => x.containerId === cid && (!x.ifName || x.ifName === ifName));
    if (!l || !net) return undefined;
    const prefix = parseCidr(net.Subnet, true).prefix;
    return {
      cniVersion: CNI_VERSION,
      interfaces: [{ name: net.BridgeName }, { name: 'veth' }, { name: ifName, sandbox: this.netnsPath(cid) }],
      ips: [{ interface: 2, address: `${l.ip}/${prefix}`, gateway: net.Gateway }],
    };
  }

  /** Last resort after a failed DEL: drop the container's leases and any CNI rule or chain that names it. */
  private async sweepContainer(cid: string, netName?: string, ip?: string): Promise<void> {
    const nets = netName ? [netName] : [...this.networks.values()].map((n) => n.Name);
    for (const n of nets) for (const l of await this.leases(n)) if (l.containerId === cid) await fsp.rm(l.path, { force: true });
    await this.sweepRules((id) => id === cid);
    // The firewall plugin's per-container rules carry no id, only the address.
    if (ip) await deleteRulesWhere('filter', (l) => l.startsWith('-A CNI-FORWARD ') && (l.includes(` -s ${ip}/32 `) || l.includes(` -d ${ip}/32 `)));
  }

  /** Deletes CNI plugin rules whose comment names a container matched by `dead` (bridge ipMasq and portmap both tag theirs). */
  private async sweepRules(dead: (cid: string) => boolean): Promise<void> {
    const idOf = (l: string) => /id: \\?"([0-9a-zA-Z_.-]+)\\?"/.exec(l)?.[1];
    for (const t of ['nat', 'filter'] as const) {
      const n = await deleteRulesWhere(t, (l) => {
        const id = idOf(l);
        return !!id && dead(id);
      });
      if (n) await deleteEmptyChains(t, (c) => /^CNI-(DN-)?[0-9a-f]{20,}$/.test(c));
    }
  }

  /**
   * Cleans up after containers that no longer exist: endpoint records and
   * pinned namespaces of containers not in `live` are detached, and leases
   * and CNI rules naming such containers are swept. Call at startup (init
   * does it when given the set), not while attaches are in flight.
   */
  async reap(live: Set<string>): Promise<void> {
    const isDead = (cid: string) => !live.has(cid) && !this.inFlight.has(cid);
    const ids = new Set<string>();
    for (const f of await fsp.readdir(join(this.dir, 'endpoints')).catch(() => [] as string[])) if (f.endsWith('.json')) ids.add(f.slice(0, -5));
    for (const f of await fsp.readdir(this.netnsDir).catch(() => [] as string[])) ids.add(f);
    for (const cid of ids) {
      if (!isDead(cid)) continue;
      try {
        await this.detach(cid);
      } catch (e) {
        this.log(`reap ${cid.slice(0, 12)}: ${messageOf(e)}`);
      }
    }
    for (const n of this.networks.values()) {
      if (n.Driver !== 'bridge') continue;
      for (const l of await this.leases(n.Name)) {
        ids.add(l.containerId);
        if (isDead(l.containerId) && !this.states.has(l.containerId)) await fsp.rm(l.path, { force: true });
      }
      await this.writeHosts(n).catch(() => undefined);
    }
    // Only containers this engine knew (records, namespaces, leases): other engines and
    // Podman's CNI networks on the same host tag their rules with 64-hex IDs too.
    await this.sweepRules((cid) => ids.has(cid) && isDead(cid) && !this.states.has(cid));
  }
}

/** CNI failures as Berth errors with Docker's wording where Docker has one. */
function mapCniError(e: unknown): unknown {
  if (!(e instanceof CniError)) return e;
  const m = /requested IP address (\S+) is not available|(\S+) has been allocated to/.exec(e.message);
  if (m) return new ConflictError(`Address already in use${m[1] ? ` (${m[1]})` : ''}`, { cause: e });
  if (/no IP addresses available/.test(e.message)) return new ConflictError('no available IPv4 addresses on this network\'s address pools', { cause: e });
  return new InternalError(`failed to set up container networking: ${e.message}`, { cause: e });
}
