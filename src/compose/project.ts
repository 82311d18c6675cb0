/**
 * Runs a ComposeProject against the Engine API, as docker compose does: a
 * client of the daemon, so it works on any Docker-compatible socket. Objects
 * carry compose's labels (com.docker.compose.project, .service, …), so `ps`
 * and `down` find them, and docker compose sees them as its own.
 *
 * `up` starts services in dependency order and waits for each dependency's
 * condition first: service_started, service_healthy (its healthcheck says
 * healthy; unhealthy or exited fails the up), service_completed_successfully
 * (exit 0). A container whose configuration changed is recreated.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { writeTar } from '../image/tar';
import { ComposeError } from './interpolate';
import { order } from './load';
import type { ComposeProject, ServiceSpec } from './model';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  /** A raw request body (a tar for the archive API). */
  stream?: NodeJS.ReadableStream;
  headers?: Record<string, string>;
}

/** What the project needs of an Engine API client (the CLI's Client fits). */
export interface EngineApi {
  json<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
  call(method: string, path: string, opts?: RequestOptions): Promise<number>;
}

export const LABEL_PROJECT = 'com.docker.compose.project';
export const LABEL_SERVICE = 'com.docker.compose.service';
const LABEL_NUMBER = 'com.docker.compose.container-number';
const LABEL_HASH = 'com.docker.compose.config-hash';
export const LABEL_ONEOFF = 'com.docker.compose.oneoff';
const LABEL_WORKDIR = 'com.docker.compose.project.working_dir';
const LABEL_CONFIG_FILES = 'com.docker.compose.project.config_files';
const LABEL_NETWORK = 'com.docker.compose.network';
const LABEL_VOLUME = 'com.docker.compose.volume';

/** One line of progress, as docker compose prints it ("Container app-db-1  Started"). */
export type Report = (kind: 'Network' | 'Volume' | 'Container', name: string, status: string) => void;

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID?: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels: Record<string, string>;
}

interface Inspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; Health?: { Status: string } };
  Config: { Labels?: Record<string, string> };
}

/** `<project>-<service>-<n>` (the n-th replica), or the service's container_name. */
export function containerName(p: ComposeProject, s: ServiceSpec, n = 1): string {
  return s.containerName ?? `${p.name}-${s.name}-${n}`;
}

/** A container's replica number (com.docker.compose.container-number, 1 when unlabelled). */
export function replicaNumber(c: ContainerSummary): number {
  return Number(c.Labels[LABEL_NUMBER] ?? 1);
}

/** A service's containers (not one-offs), by replica number. */
function replicasOf(list: ContainerSummary[], service: string): ContainerSummary[] {
  return list.filter((c) => c.Labels[LABEL_SERVICE] === service && c.Labels[LABEL_ONEOFF] !== 'True').sort((a, b) => replicaNumber(a) - replicaNumber(b));
}

/** The project's containers (all states), by label. */
export async function projectContainers(api: EngineApi, project: string, all = true): Promise<ContainerSummary[]> {
  return api.json<ContainerSummary[]>('GET', '/containers/json', { query: { all, filters: JSON.stringify({ label: [`${LABEL_PROJECT}=${project}`] }) } });
}

export interface UpOptions {
  /** Only these services (and what they depend on). */
  services?: string[];
  /** After starting: wait until every service is running, and healthy where it has a healthcheck. */
  wait?: boolean;
  waitTimeoutS?: number;
  removeOrphans?: boolean;
  report: Report;
  warn: (msg: string) => void;
  /** Builds a service's image (services with `build`): when it is missing, or always with `always`. */
  build?: (s: ServiceSpec) => Promise<void>;
  alwaysBuild?: boolean;
  /** --force-recreate (always), --no-recreate (never); default: when the configuration or image changed. */
  recreate?: Recreate;
  /** --no-deps: the named services only, not what they depend on. */
  noDeps?: boolean;
  /** `compose create`: containers made (or recreated) but not started. */
  noStart?: boolean;
}

export type Recreate = 'changed' | 'always' | 'never';

export async function up(api: EngineApi, p: ComposeProject, o: UpOptions): Promise<string[]> {
  const wanted = o.noDeps && o.services?.length ? selected(p, o.services).filter((n) => o.services!.includes(n)) : selected(p, o.services);
  const existing = await projectContainers(api, p.name);
  const orphans = existing.filter((c) => !p.services[c.Labels[LABEL_SERVICE] ?? ''] && !p.disabled.includes(c.Labels[LABEL_SERVICE] ?? ''));
  if (orphans.length) {
    if (o.removeOrphans) for (const c of orphans) await removeContainer(api, c.Id, shortName(c), 10, false, o.report);
    else o.warn(`Found orphan containers (${orphans.map(shortName).join(', ')}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
  }
  await ensureResources(api, p, wanted, o.report);
  for (const name of wanted) {
    const s = p.services[name];
    if (!s.build || !o.build) continue;
    if (!o.alwaysBuild && (await imageExists(api, s.image))) continue;
    await o.build(s);
  }
  // Each service starts as soon as its own dependencies allow, independent ones side by side
  // (as docker compose does); a failure stops what depends on it, and the up reports the first.
  const ids: Record<string, string[]> = {};
  // Services whose containers this up replaced: a service in one's network namespace must follow.
  const recreated = new Set<string>();
  const started = new Map<string, Promise<string[]>>();
  const conditions = new Map<string, Promise<void>>();
  const start = (name: string): Promise<string[]> => {
    let run = started.get(name);
    if (!run) {
      const s = p.services[name];
      run = (async () => {
        await Promise.all(Object.entries(s.dependsOn).filter(([dep]) => wanted.includes(dep)).map(([dep, d]) => optional(condition(dep, d.condition), dep, d.required, o.warn)));
        const targets = [s.networkMode, s.host.pid, s.host.ipc].filter((m) => m?.startsWith('service:')).map((m) => m!.slice(8));
        const mode = targets.some((t) => recreated.has(t)) && o.recreate !== 'never' ? 'always' : (o.recreate ?? 'changed');
        ids[name] = await ensureScaled(api, p, s, existing, o.report, mode, !o.noStart);
        const before = replicasOf(existing, name).map((c) => c.Id);
        if (ids[name].some((id) => !before.includes(id)) && before.length) recreated.add(name);
        return ids[name];
      })();
      started.set(name, run);
    }
    return run;
  };
  // One wait per dependency and condition, however many services depend on it.
  const condition = (dep: string, cond: string): Promise<void> => {
    const key = `${dep}\0${cond}`;
    let w = conditions.get(key);
    if (!w) {
      // Every replica of the dependency meets the condition.
      w = start(dep).then((list) => Promise.all(list.map((id, i) => waitFor(api, containerName(p, p.services[dep], i + 1), dep, id, cond, o.report))).then(() => undefined));
      conditions.set(key, w);
    }
    return w;
  };
  const all = wanted.map((n) => start(n));
  // Let every started attempt settle before reporting, so no start is left running unobserved.
  const settled = await Promise.allSettled(all);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (o.wait) await waitAll(api, p, wanted, ids, o);
  return wanted.flatMap((n) => ids[n] ?? []);
}

/**
 * The service's replicas 1..scale created (or recreated) and started, in order; those
 * numbered above scale (a scale down) stopped and removed, as docker compose does.
 */
async function ensureScaled(api: EngineApi, p: ComposeProject, s: ServiceSpec, existing: ContainerSummary[], report: Report, recreate: Recreate, start = true): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 1; n <= s.scale; n++) ids.push(await ensureRunning(api, p, s, existing, report, n, recreate, start));
  for (const c of replicasOf(existing, s.name).filter((x) => replicaNumber(x) > s.scale)) await removeContainer(api, c.Id, shortName(c), s.stopGracePeriod ?? 10, false, report);
  return ids;
}

/** As docker compose: a dependency marked `required: false` that fails its condition only warns. */
async function optional(wait: Promise<void>, dep: string, required: boolean, warn: (msg: string) => void): Promise<void> {
  if (required) return wait;
  await wait.catch((e: Error) => warn(`optional dependency "${dep}" is not running or is unhealthy: ${e.message}`));
}

/** The requested services plus everything they depend on, in start order. */
function selected(p: ComposeProject, services?: string[]): string[] {
  const all = order(p.services);
  if (!services?.length) return all;
  for (const s of services) if (!p.services[s]) throw new ComposeError(`no such service: ${s}`);
  const need = new Set<string>();
  const add = (n: string) => {
    if (need.has(n)) return;
    need.add(n);
    for (const d of Object.keys(p.services[n].dependsOn)) add(d);
  };
  services.forEach(add);
  return all.filter((n) => need.has(n));
}

/** The networks and named volumes these services use, created when missing. */
export async function ensureResources(api: EngineApi, p: ComposeProject, services: string[], report: Report): Promise<void> {
  const usedNets = new Set(services.flatMap((n) => Object.keys(p.services[n].networks)));
  for (const key of usedNets) await ensureNetwork(api, p, key, report);
  const usedVols = new Set(services.flatMap((n) => p.services[n].volumes.filter((m) => m.type === 'volume' && m.source).map((m) => m.source!)));
  for (const key of usedVols) await ensureVolume(api, p, key, report);
}

export async function imageExists(api: EngineApi, image: string): Promise<boolean> {
  return api.json('GET', `/images/${encodeURIComponent(image)}/json`).then(
    () => true,
    (e: { status?: number }) => {
      if (e.status === 404) return false;
      throw e;
    },
  );
}

async function ensureNetwork(api: EngineApi, p: ComposeProject, key: string, report: Report): Promise<void> {
  const n = p.networks[key];
  const found = await api.json<{ Id: string }>('GET', `/networks/${encodeURIComponent(n.name)}`).then(
    () => true,
    (e: { status?: number }) => {
      if (e.status === 404) return false;
      throw e;
    },
  );
  if (found) return;
  if (n.external) throw new ComposeError(`network ${n.name} declared as external, but could not be found`);
  const pool = n.subnet || n.gateway ? { IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] } } : {};
  await api.json('POST', '/networks/create', { body: { Name: n.name, Driver: 'bridge', Internal: n.internal, Options: n.options, ...pool, Labels: { ...n.labels, [LABEL_PROJECT]: p.name, [LABEL_NETWORK]: key } } });
  report('Network', n.name, 'Created');
}

async function ensureVolume(api: EngineApi, p: ComposeProject, key: string, report: Report): Promise<void> {
  const v = p.volumes[key];
  const found = await api.json('GET', `/volumes/${encodeURIComponent(v.name)}`).then(
    () => true,
    (e: { status?: number }) => {
      if (e.status === 404) return false;
      throw e;
    },
  );
  if (found) return;
  if (v.external) throw new ComposeError(`external volume "${v.name}" not found`);
  await api.json('POST', '/volumes/create', { body: { Name: v.name, Driver: 'local', DriverOpts: v.options, Labels: { ...v.labels, [LABEL_PROJECT]: p.name, [LABEL_VOLUME]: key } } });
  report('Volume', v.name, 'Created');
}

/** Creates (or recreates, when its configuration changed) and starts one container (replica n) of a service. */
async function ensureRunning(api: EngineApi, p: ComposeProject, s: ServiceSpec, existing: ContainerSummary[], report: Report, n = 1, recreate: Recreate = 'changed', start = true): Promise<string> {
  const name = containerName(p, s, n);
  const body = createBody(p, s, n);
  const hash = (body.Labels as Record<string, string>)[LABEL_HASH];
  const current = existing.find((c) => c.Labels[LABEL_SERVICE] === s.name && shortName(c) === name);
  let id = current?.Id;
  // A new image under the same name (a rebuild, a pull) also means a new container, as in docker compose.
  const imageId = current ? await api.json<{ Id: string }>('GET', `/images/${encodeURIComponent(s.image)}/json`).then((i) => i.Id, () => undefined) : undefined;
  const running = current ? await api.json<{ Image: string }>('GET', `/containers/${current.Id}/json`).then((c) => c.Image, () => undefined) : undefined;
  const changed = !!current && (current.Labels[LABEL_HASH] !== hash || (imageId !== undefined && running !== undefined && imageId !== running));
  if (current && recreate !== 'never' && (changed || recreate === 'always')) {
    report('Container', name, 'Recreate');
    await removeContainer(api, current.Id, name, s.stopGracePeriod ?? 10, false, () => undefined);
    id = undefined;
  }
  if (!id) {
    const created = await api.json<{ Id: string }>('POST', '/containers/create', { query: { name }, body });
    id = created.Id;
    await injectFiles(api, id, s);
    // Further networks join after create, as docker compose does.
    for (const key of Object.keys(s.networks).slice(1))
      await api.call('POST', `/networks/${encodeURIComponent(p.networks[key].name)}/connect`, { body: { Container: id, EndpointConfig: endpoint(s, key) } });
    report('Container', name, 'Created');
  } else if (current?.State === 'running') {
    report('Container', name, 'Running');
    return id;
  }
  if (!start) return id;
  report('Container', name, 'Starting');
  await api.call('POST', `/containers/${id}/start`);
  report('Container', name, 'Started');
  return id;
}

/**
 * Secrets and configs given as values, written into a created container before it starts
 * (through the archive API, as docker compose does without Swarm); missing parents are made.
 */
export async function injectFiles(api: EngineApi, id: string, s: ServiceSpec): Promise<void> {
  await putFiles(api, id, s.injected);
}

/** A file to write into a container (absolute target path). */
export interface ContainerFile {
  target: string;
  mode?: number;
  uid?: number;
  gid?: number;
  content: string | Buffer;
}

/** Writes files into a container through the archive API (also `kube play`'s configMap and secret volumes). */
export async function putFiles(api: EngineApi, id: string, files: ContainerFile[]): Promise<void> {
  if (!files.length) return;
  const tar = writeTar(files.map((f) => ({ entry: { name: f.target.replace(/^\/+/, ''), type: 'file' as const, mode: f.mode, uid: f.uid, gid: f.gid }, body: Buffer.from(f.content) })));
  await api.call('PUT', `/containers/${id}/archive`, { query: { path: '/' }, stream: Readable.from(tar), headers: { 'Content-Type': 'application/x-tar' } });
}

/** The Engine API create body for a service; its hash label detects configuration changes. */
/** A service's endpoint on one project network: the service name and its aliases, and its fixed address if any. */
function endpoint(s: ServiceSpec, key: string): { Aliases: string[]; IPAMConfig?: { IPv4Address: string } } {
  const ip = s.addresses?.[key];
  return { Aliases: [s.name, ...s.networks[key]], ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}) };
}

export function createBody(p: ComposeProject, s: ServiceSpec, n = 1): Record<string, unknown> {
  const nets = Object.keys(s.networks);
  const first = nets[0];
  const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  const exposed: Record<string, object> = {};
  for (const e of s.expose) exposed[`${e.target}/${e.protocol}`] = {};
  for (const port of s.ports) {
    const key = `${port.target}/${port.protocol}`;
    exposed[key] = {};
    (portBindings[key] ??= []).push({ HostIp: port.hostIp ?? '', HostPort: port.published ?? '' });
  }
  const h = s.healthcheck;
  const [policy, max] = (s.restart ?? 'no').split(':');
  const body: Record<string, unknown> = {
    Image: s.image,
    Cmd: s.command,
    Entrypoint: s.entrypoint,
    Env: Object.entries(s.environment).map(([k, v]) => `${k}=${v}`),
    WorkingDir: s.workingDir ?? '',
    User: s.user ?? '',
    Hostname: s.hostname ?? '',
    Domainname: s.host.domainname,
    Tty: s.tty,
    OpenStdin: s.stdinOpen,
    ExposedPorts: exposed,
    StopSignal: s.stopSignal,
    StopTimeout: s.stopGracePeriod,
    Healthcheck: h ? { Test: h.test, Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod, StartInterval: h.startInterval, Retries: h.retries } : undefined,
    Labels: {
      ...s.labels,
      [LABEL_PROJECT]: p.name,
      [LABEL_SERVICE]: s.name,
      [LABEL_NUMBER]: String(n),
      [LABEL_ONEOFF]: 'False',
      [LABEL_WORKDIR]: p.workingDir,
      [LABEL_CONFIG_FILES]: p.configFiles.join(','),
    },
    HostConfig: {
      NetworkMode: s.networkMode?.startsWith('service:') ? `container:${containerName(p, p.services[s.networkMode.slice(8)]!)}` : (s.networkMode ?? (first ? p.networks[first].name : 'none')),
      PortBindings: portBindings,
      // Binds as -v takes them (a missing host directory is created, as docker compose does); a path
      // with a colon cannot be written that way and goes as a mount, which needs the path to exist.
      Binds: s.volumes.filter((m) => m.type === 'bind' && !colon(m)).map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`),
      Mounts: s.volumes
        .filter((m) => m.type !== 'bind' || colon(m))
        .map((m) => ({ Type: m.type, Source: m.type === 'volume' && m.source ? p.volumes[m.source].name : m.type === 'bind' ? m.source : undefined, Target: m.target, ReadOnly: m.readOnly })),
      RestartPolicy: { Name: policy, MaximumRetryCount: max ? Number(max) : 0 },
      Init: s.init,
      Privileged: s.privileged,
      ReadonlyRootfs: s.readOnly,
      CapAdd: s.capAdd,
      CapDrop: s.capDrop,
      ExtraHosts: s.extraHosts,
      PidMode: joinMode(p, s.host.pid),
      // A service others join by `ipc: service:<it>` must be shareable (the engine refuses private donors).
      IpcMode: joinMode(p, s.host.ipc) ?? (Object.values(p.services).some((o) => o.host.ipc === `service:${s.name}`) ? 'shareable' : undefined),
      ShmSize: s.host.shmSize,
      Sysctls: s.host.sysctls,
      Ulimits: s.host.ulimits?.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      SecurityOpt: s.host.securityOpt,
      Dns: s.host.dns,
      DnsSearch: s.host.dnsSearch,
      DnsOptions: s.host.dnsOpt,
      Tmpfs: s.host.tmpfs,
      GroupAdd: s.host.groupAdd,
      Devices: s.host.devices?.map((d) => ({ PathOnHost: d.source, PathInContainer: d.target, CgroupPermissions: d.permissions })),
      LogConfig: s.host.logging ? { Type: s.host.logging.driver, Config: s.host.logging.options } : undefined,
      Memory: s.resources.memory,
      MemoryReservation: s.resources.memoryReservation,
      NanoCpus: s.resources.nanoCpus,
      PidsLimit: s.resources.pidsLimit,
    },
    NetworkingConfig: first ? { EndpointsConfig: { [p.networks[first].name]: endpoint(s, first) } } : undefined,
  };
  // Injected values count by digest: a changed secret recreates, and no value lands in a label.
  const injected = s.injected.map((f) => ({ ...f, content: createHash('sha256').update(f.content).digest('hex') }));
  const wiring = s.addresses ? { networks: s.networks, addresses: s.addresses } : { networks: s.networks };
  const hash = createHash('sha256').update(JSON.stringify(injected.length ? { body, ...wiring, injected } : { body, ...wiring })).digest('hex');
  (body.Labels as Record<string, string>)[LABEL_HASH] = hash;
  return body;
}

/** pid:/ipc: `service:<name>` as the engine takes it: `container:<that service's first container>`. */
function joinMode(p: ComposeProject, mode: string | undefined): string | undefined {
  return mode?.startsWith('service:') ? `container:${containerName(p, p.services[mode.slice(8)]!)}` : mode;
}

function colon(m: { source?: string; target: string }): boolean {
  return (m.source ?? '').includes(':') || m.target.includes(':');
}

const POLL_MS = 200;

async function inspect(api: EngineApi, id: string): Promise<Inspect> {
  return api.json<Inspect>('GET', `/containers/${id}/json`);
}

/** Waits for a dependency's condition; fails as docker compose does when it cannot hold. */
async function waitFor(api: EngineApi, name: string, dep: string, id: string | undefined, condition: string, report: Report): Promise<void> {
  if (condition === 'service_started' || !id) return;
  report('Container', name, 'Waiting');
  if (condition === 'service_completed_successfully') {
    const r = await api.json<{ StatusCode: number }>('POST', `/containers/${id}/wait`, { query: { condition: 'not-running' } });
    if (r.StatusCode !== 0) throw new ComposeError(`service "${dep}" didn't complete successfully: exit ${r.StatusCode}`);
    report('Container', name, 'Exited');
    return;
  }
  for (;;) {
    const c = await inspect(api, id);
    const health = c.State.Health?.Status;
    if (!c.State.Health || health === 'none') throw new ComposeError(`container ${name} has no healthcheck configured`);
    if (health === 'healthy') {
      report('Container', name, 'Healthy');
      return;
    }
    if (health === 'unhealthy') throw new ComposeError(`dependency failed to start: container ${name} is unhealthy`);
    if (!c.State.Running) throw new ComposeError(`dependency failed to start: container ${name} exited (${c.State.ExitCode})`);
    await sleep(POLL_MS);
  }
}

/**
 * The conditions a service puts on its dependencies (`compose run` waits for them before
 * creating its one-off container, as docker compose does, unless --no-deps).
 */
export async function waitDependencies(api: EngineApi, p: ComposeProject, s: ServiceSpec, report: Report, warn: (msg: string) => void = () => undefined): Promise<void> {
  const existing = await projectContainers(api, p.name);
  await Promise.all(
    Object.entries(s.dependsOn).map(([dep, d]) => {
      const replicas = replicasOf(existing, dep);
      const waits = replicas.length ? replicas.map((c) => waitFor(api, shortName(c), dep, c.Id, d.condition, report)) : [waitFor(api, containerName(p, p.services[dep]), dep, undefined, d.condition, report)];
      return optional(Promise.all(waits).then(() => undefined), dep, d.required, warn);
    }),
  );
}

/** `up --wait`: every service running, and healthy where it has a healthcheck. */
async function waitAll(api: EngineApi, p: ComposeProject, names: string[], ids: Record<string, string[]>, o: UpOptions): Promise<void> {
  const deadline = o.waitTimeoutS ? Date.now() + o.waitTimeoutS * 1000 : Infinity;
  // One entry per replica: its container ID → its name.
  const names1 = new Map(names.flatMap((n) => (ids[n] ?? []).map((id, i): [string, string] => [id, containerName(p, p.services[n], i + 1)])));
  const pending = new Set(names1.keys());
  while (pending.size) {
    for (const n of [...pending]) {
      const name = names1.get(n)!;
      const c = await inspect(api, n);
      const health = c.State.Health?.Status;
      if (!c.State.Running) {
        // A one-shot service that finished well is what it was meant to do.
        if (c.State.ExitCode === 0 && !c.State.Health) {
          o.report('Container', name, 'Exited');
          pending.delete(n);
          continue;
        }
        throw new ComposeError(`container ${name} exited (${c.State.ExitCode})`);
      }
      if (health === 'unhealthy') throw new ComposeError(`container ${name} is unhealthy`);
      if (!c.State.Health || health === 'none' || health === 'healthy') {
        o.report('Container', name, health === 'healthy' ? 'Healthy' : 'Running');
        pending.delete(n);
      }
    }
    if (!pending.size) return;
    if (Date.now() > deadline) throw new ComposeError(`timeout waiting for ${[...pending].map((n) => names1.get(n)).join(', ')}`);
    await sleep(POLL_MS);
  }
}

export interface DownOptions {
  /** Also remove named volumes declared by the project, and anonymous ones. */
  volumes?: boolean;
  timeoutS?: number;
  /** Also containers of services the compose file no longer has. */
  removeOrphans?: boolean;
  report: Report;
  warn?: (msg: string) => void;
}

/**
 * Stops and removes the project's containers, then its networks (and volumes with -v).
 * As docker compose, containers of services the file no longer defines (orphans) stay
 * unless removeOrphans, with a warning; a network they still use stays too.
 */
export async function down(api: EngineApi, p: ComposeProject, o: DownOptions): Promise<void> {
  const known = new Set([...Object.keys(p.services), ...p.disabled]);
  const all = await projectContainers(api, p.name);
  const orphans = all.filter((c) => !known.has(c.Labels[LABEL_SERVICE] ?? ''));
  const containers = o.removeOrphans ? all : all.filter((c) => !orphans.includes(c));
  if (orphans.length && !o.removeOrphans) o.warn?.(`Found orphan containers (${orphans.map(shortName).join(', ')}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
  // Dependents first: reverse start order; containers of unknown services last.
  const rank = new Map(order(p.services).map((n, i) => [n, i]));
  containers.sort((a, b) => (rank.get(b.Labels[LABEL_SERVICE]) ?? -1) - (rank.get(a.Labels[LABEL_SERVICE]) ?? -1));
  for (const c of containers) {
    const s = p.services[c.Labels[LABEL_SERVICE] ?? ''];
    await removeContainer(api, c.Id, shortName(c), o.timeoutS ?? s?.stopGracePeriod ?? 10, !!o.volumes, o.report);
  }
  const nets = await api.json<Array<{ Name: string }>>('GET', '/networks', { query: { filters: JSON.stringify({ label: [`${LABEL_PROJECT}=${p.name}`] }) } });
  for (const n of nets) {
    try {
      await api.call('DELETE', `/networks/${encodeURIComponent(n.Name)}`);
      o.report('Network', n.Name, 'Removed');
    } catch (e) {
      // Orphans left running keep their network; anything else is an error.
      if (orphans.length && !o.removeOrphans) o.warn?.(`network ${n.Name}: ${(e as Error).message}`);
      else throw e;
    }
  }
  if (o.volumes) {
    const vols = await api.json<{ Volumes: Array<{ Name: string }> | null }>('GET', '/volumes', { query: { filters: JSON.stringify({ label: [`${LABEL_PROJECT}=${p.name}`] }) } });
    for (const v of vols.Volumes ?? []) {
      await api.call('DELETE', `/volumes/${encodeURIComponent(v.Name)}`);
      o.report('Volume', v.Name, 'Removed');
    }
  }
}

async function removeContainer(api: EngineApi, id: string, name: string, timeoutS: number, volumes: boolean, report: Report): Promise<void> {
  report('Container', name, 'Stopping');
  await api.call('POST', `/containers/${id}/stop`, { query: { t: timeoutS } }).catch((e: { status?: number }) => {
    if (e.status !== 304 && e.status !== 409) throw e;
  });
  report('Container', name, 'Stopped');
  await api.call('DELETE', `/containers/${id}`, { query: { force: true, v: volumes } });
  report('Container', name, 'Removed');
}

export function shortName(c: ContainerSummary): string {
  return (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
