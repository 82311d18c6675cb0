/** Container verbs: thin flag parsing over the Engine API. */
import { createWriteStream, existsSync, writeFileSync } from 'node:fs';
import { connect, type Client } from '../client';
import { pumpStreams } from '../io';
import type { ContainerSummary } from '../../compose/project';
import { renderFormat, renderOne } from '../format';
import { parseDeviceSpec } from '../../devices';
import { createFailure, eachName, ExitError, filtersJson, goTime, humanSize, keyValues, out, parseBytes, parseDuration, runFailure, since, table } from '../util';

export interface RunFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  readOnly?: boolean;
  label?: string[];
  network?: string;
  init?: boolean;
  stopSignal?: string;
  stopTimeout?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthStartPeriod?: string;
  healthStartInterval?: string;
  healthRetries?: string;
  /** false with --no-healthcheck. */
  healthcheck?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  device?: string[];
  capDrop?: string[];
  securityOpt?: string[];
  restart?: string;
  tmpfs?: string[];
  shmSize?: string;
  addHost?: string[];
  groupAdd?: string[];
  logOpt?: string[];
  sysctl?: string[];
  ulimit?: string[];
  pid?: string;
  ipc?: string;
  uts?: string;
  expose?: string[];
  volume?: string[];
  mount?: string[];
  volumesFrom?: string[];
  publish?: string[];
  publishAll?: boolean;
  networkAlias?: string[];
  ip?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  oomScoreAdj?: string;
  oomKillDisable?: boolean;
  /** Write the container ID to this file (it must not exist yet). */
  cidfile?: string;
  detachKeys?: string;
  macAddress?: string;
  link?: string[];
  /** --pull always|missing|never (docker run's default: missing). */
  pull?: string;
  platform?: string;
  quiet?: boolean;
}

/** `-p [ip:][hostPort:]containerPort[/proto]` (ranges too) into PortBindings + ExposedPorts. */
export function parsePublish(specs: string[] = []): { bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>; exposed: string[] } {
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  const exposed: string[] = [];
  for (const spec of specs) {
    const [main, proto = 'tcp'] = spec.split('/');
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new ExitError(`invalid proto: ${proto}`, 125);
    const parts = main.split(':');
    let ip = '';
    let host = '';
    let ctr: string;
    if (parts.length === 1) ctr = parts[0];
    else if (parts.length === 2) [host, ctr] = parts;
    else [ip, host, ctr] = [parts.slice(0, -2).join(':').replace(/^\[|\]$/g, ''), parts[parts.length - 2], parts[parts.length - 1]];
    const range = (r: string) => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(r);
      if (!m) throw new ExitError(`invalid containerPort: ${r}`, 125);
      const a = Number(m[1]);
      const b = Number(m[2] ?? m[1]);
      if (a < 1 || b > 65535 || b < a) throw new ExitError(`invalid port range: ${r}`, 125);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    };
    const cports = range(ctr);
    const hports = host ? range(host) : [];
    // A host range for one container port means "any free port of the range" (the daemon picks).
    const anyOf = cports.length === 1 && hports.length > 1;
    if (hports.length && hports.length !== cports.length && !anyOf) throw new ExitError(`invalid ranges specified for container and host Ports: ${ctr} and ${host}`, 125);
    cports.forEach((cp, i) => {
      const key = `${cp}/${proto}`;
      (bindings[key] ??= []).push({ HostIp: ip, HostPort: anyOf ? host : hports.length ? String(hports[i]) : '' });
      exposed.push(key);
    });
  }
  return { bindings, exposed };
}

/** `--device host[:container][:perms]` into the API's Devices entry. */
export function parseDevice(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const d = parseDeviceSpec(spec);
  if (!d) throw new ExitError(`invalid device specification: ${spec}`, 125);
  return { PathOnHost: d.source, PathInContainer: d.target, CgroupPermissions: d.permissions };
}

/** `--mount type=bind,source=/a,target=/b,readonly` into the API's Mounts entry. */
export function parseMountFlag(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  const vol: Record<string, unknown> = {};
  const tmpfs: Record<string, unknown> = {};
  const bind: Record<string, unknown> = {};
  for (const field of spec.split(',')) {
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? '' : field.slice(i + 1);
    switch (key) {
      case 'type':
        m.Type = val;
        break;
      case 'source':
      case 'src':
        m.Source = val;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m.Target = val;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = val === '' || val === 'true' || val === '1';
        break;
      case 'volume-nocopy':
        vol.NoCopy = val === '' || val === 'true' || val === '1';
        break;
      case 'tmpfs-size':
        tmpfs.SizeBytes = parseBytes(val);
        break;
      case 'tmpfs-mode':
        tmpfs.Mode = parseInt(val, 8);
        break;
      case 'bind-propagation':
        bind.Propagation = val;
        break;
      default:
        throw new ExitError(`invalid field '${key}' must be a key=value pair`, 125);
    }
  }
  if (Object.keys(vol).length) m.VolumeOptions = vol;
  if (Object.keys(tmpfs).length) m.TmpfsOptions = tmpfs;
  if (Object.keys(bind).length) m.BindOptions = bind;
  return m;
}

function readEnvFiles(files: string[] = []): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const env: string[] = [];
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      env.push(t);
    }
  }
  return env;
}


/** Builds Docker's create body from run/create flags. */
export function createBody(image: string, command: string[], f: RunFlags): Record<string, unknown> {
  const restart = f.restart ? f.restart.split(':') : ['no'];
  const tmpfs: Record<string, string> = {};
  for (const t of f.tmpfs ?? []) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  const cpus = f.cpus ? Number(f.cpus) : 0;
  if (f.cpus && !(cpus > 0)) throw new ExitError(`invalid argument "${f.cpus}" for "--cpus" flag`, 125);
  const exposed: Record<string, Record<string, never>> = {};
  for (const p of f.expose ?? []) exposed[p.includes('/') ? p : `${p}/tcp`] = {};
  const published = parsePublish(f.publish);
  for (const p of published.exposed) exposed[p] = {};
  const net = f.network ?? 'default';
  const endpoint = f.networkAlias?.length || f.ip ? { [net === 'default' ? 'bridge' : net]: { Aliases: f.networkAlias ?? [], IPAMConfig: f.ip ? { IPv4Address: f.ip } : null } } : undefined;
  return {
    Image: image,
    Cmd: command.length ? command : null,
    Entrypoint: f.entrypoint !== undefined ? (f.entrypoint === '' ? [] : [f.entrypoint]) : null,
    Env: [...readEnvFiles(f.envFile), ...(f.env ?? [])],
    WorkingDir: f.workdir ?? '',
    User: f.user ?? '',
    Hostname: f.hostname ?? '',
    ...(f.macAddress ? { MacAddress: f.macAddress } : {}),
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: !!f.interactive && !f.detach,
    AttachStdin: !!f.interactive && !f.detach,
    AttachStdout: !f.detach,
    AttachStderr: !f.detach,
    Labels: keyValues(f.label, 'label'),
    StopSignal: f.stopSignal,
    StopTimeout: f.stopTimeout !== undefined ? Number(f.stopTimeout) : undefined,
    Healthcheck: healthcheck(f),
    ExposedPorts: exposed,
    NetworkingConfig: endpoint ? { EndpointsConfig: endpoint } : undefined,
    HostConfig: {
      PortBindings: published.bindings,
      PublishAllPorts: !!f.publishAll,
      Dns: f.dns ?? null,
      DnsSearch: f.dnsSearch ?? null,
      DnsOptions: f.dnsOption ?? null,
      Binds: f.volume ?? null,
      Mounts: (f.mount ?? []).map(parseMountFlag),
      VolumesFrom: f.volumesFrom ?? null,
      AutoRemove: !!f.rm,
      Memory: f.memory ? parseBytes(f.memory) : 0,
      MemorySwap: f.memorySwap ? (f.memorySwap === '-1' ? -1 : parseBytes(f.memorySwap)) : 0,
      NanoCpus: cpus ? Math.round(cpus * 1e9) : 0,
      CpuShares: f.cpuShares ? Number(f.cpuShares) : 0,
      PidsLimit: f.pidsLimit ? Number(f.pidsLimit) : null,
      ReadonlyRootfs: !!f.readOnly,
      NetworkMode: f.network ?? 'default',
      Init: f.init ? true : null,
      Privileged: !!f.privileged,
      CapAdd: f.capAdd ?? null,
      CapDrop: f.capDrop ?? null,
      Devices: (f.device ?? []).map(parseDevice),
      ...(f.oomScoreAdj !== undefined ? { OomScoreAdj: oomScoreAdj(f.oomScoreAdj) } : {}),
      ...(f.oomKillDisable ? { OomKillDisable: true } : {}),
      SecurityOpt: f.securityOpt ?? null,
      RestartPolicy: { Name: restart[0], MaximumRetryCount: restart[1] ? Number(restart[1]) : 0 },
      Tmpfs: tmpfs,
      ShmSize: f.shmSize ? parseBytes(f.shmSize) : 0,
      ExtraHosts: f.addHost ?? null,
      Links: f.link ?? null,
      GroupAdd: f.groupAdd ?? null,
      LogConfig: { Type: 'k8s-file', Config: keyValues(f.logOpt, 'log-opt') },
      Sysctls: keyValues(f.sysctl, 'sysctl'),
      Ulimits: (f.ulimit ?? []).map((u) => {
        const [name, limits] = u.split('=');
        const [soft, hard] = (limits ?? '').split(':');
        return { Name: name, Soft: Number(soft), Hard: Number(hard ?? soft) };
      }),
      PidMode: f.pid ?? '',
      IpcMode: f.ipc ?? '',
      UTSMode: f.uts ?? '',
    },
  };
}

/** docker run's --health-* flags; unset fields come from the image (the daemon merges them). */
function healthcheck(f: RunFlags): Record<string, unknown> | undefined {
  const timing = [f.healthInterval, f.healthTimeout, f.healthStartPeriod, f.healthStartInterval, f.healthRetries].some((v) => v !== undefined);
  if (f.healthcheck === false) {
    if (f.healthCmd !== undefined || timing) throw new ExitError('--no-healthcheck conflicts with --health-* options', 125);
    return { Test: ['NONE'] };
  }
  if (f.healthCmd === undefined && !timing) return undefined;
  const retries = f.healthRetries !== undefined ? Number(f.healthRetries) : undefined;
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) throw new ExitError('--health-retries cannot be negative', 125);
  return {
    Test: f.healthCmd !== undefined ? ['CMD-SHELL', f.healthCmd] : undefined,
    Interval: f.healthInterval !== undefined ? parseDuration(f.healthInterval, '--health-interval') : undefined,
    Timeout: f.healthTimeout !== undefined ? parseDuration(f.healthTimeout, '--health-timeout') : undefined,
    StartPeriod: f.healthStartPeriod !== undefined ? parseDuration(f.healthStartPeriod, '--health-start-period') : undefined,
    StartInterval: f.healthStartInterval !== undefined ? parseDuration(f.healthStartInterval, '--health-start-interval') : undefined,
    Retries: retries,
  };
}

function oomScoreAdj(v: string): number {
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < -1000 || n > 1000) throw new ExitError(`invalid value "${v}" for --oom-score-adj: must be in the range -1000 to 1000`, 125);
  return n;
}

async function createContainer(client: Client, image: string, command: string[], f: RunFlags, startsNow = false): Promise<string> {
  // As the docker CLI: a cidfile left by another container is an error before anything is made.
  if (f.cidfile && existsSync(f.cidfile)) throw new ExitError(`Container ID file found, make sure the other container isn't running or delete ${f.cidfile}`, 125);
  const policy = f.pull ?? 'missing';
  if (!['always', 'missing', 'never'].includes(policy)) throw new ExitError(`invalid pull option: '${policy}': must be one of "always", "missing" or "never"`, 125);
  if (policy === 'always') await pullFor(image, f);
  let id: string;
  try {
    id = await createOnly(client, image, command, f, startsNow);
  } catch (e) {
    // docker run's way with an image it does not have: say so, pull it, create again.
    if (!((e as { status?: number }).status === 404 && /No such image/.test((e as Error).message))) throw createFailure(e);
    process.stderr.write(`Unable to find image '${image}' locally\n`);
    if (policy !== 'missing') throw createFailure(e);
    await pullFor(image, f);
    id = await createOnly(client, image, command, f, startsNow).catch((e2: unknown) => {
      throw createFailure(e2);
    });
  }
  if (f.cidfile) {
    try {
      writeFileSync(f.cidfile, id, { flag: 'wx', mode: 0o644 });
    } catch (e) {
      throw new ExitError(`failed to write the container ID to the file: ${(e as Error).message}`, 125);
    }
  }
  return id;
}

/** A pull for run/create: progress on stderr (stdout carries the container's output or ID). */
async function pullFor(image: string, f: RunFlags): Promise<void> {
  const { pullImage } = await import('./registry');
  try {
    await pullImage(image, { platform: f.platform, quiet: !!f.quiet, toStderr: true });
  } catch (e) {
    // docker run's code for a failed pull, as for any failed create.
    throw new ExitError(createFailure(e).message, 125);
  }
}

async function createOnly(client: Client, image: string, command: string[], f: RunFlags, startsNow: boolean): Promise<string> {
  const r = await client.json<{ Id: string; Warnings: string[] }>('POST', '/containers/create', {
    query: { name: f.name },
    body: createBody(image, command, f),
    // berthd makes the runtime while our start is on its way (other daemons ignore the header).
    headers: startsNow ? { 'X-Berth-Start': 'now' } : undefined,
  });
  for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  return r.Id;
}

export async function create(image: string, command: string[], f: RunFlags): Promise<void> {
  const client = await connect();
  out(`${await createContainer(client, image, command, f)}\n`);
}

/** `run`: create, attach, wait and start in Docker's order, then exit with the container's code. */
export async function run(image: string, command: string[], f: RunFlags): Promise<number> {
  const t0 = Date.now();
  const mark = (what: string) => process.env.BERTH_DEBUG_TIMING && process.stderr.write(`${(Date.now() % 100_000) / 1000} [${Date.now() - t0} ms] ${what}\n`);
  mark(`uptime at run() ${Math.round(process.uptime() * 1000)} ms`);
  const client = await connect();
  mark('connected');
  if (f.detach && f.rm && f.restart && f.restart !== 'no') throw new ExitError('Conflicting options: --restart and --rm', 125);
  const id = await createContainer(client, image, command, f, true);
  mark('created');
  return runCreated(client, id, f, mark);
}

/**
 * The rest of a `run` once the container exists: start (and print the ID) with
 * `detach`, else attach, wait and start in Docker's order and return the exit code.
 */
export async function runCreated(client: Client, id: string, f: Pick<RunFlags, 'detach' | 'rm' | 'interactive' | 'tty' | 'detachKeys'>, mark: (what: string) => void = () => undefined): Promise<number> {
  if (f.detach) {
    try {
      await client.call('POST', `/containers/${id}/start`);
    } catch (e) {
      throw runFailure(e);
    }
    out(`${id}\n`);
    return 0;
  }
  // The wait goes out while the attach handshake runs: both must be in place before start.
  const waitRes = client.json<{ StatusCode: number }>('POST', `/containers/${id}/wait`, { query: { condition: f.rm ? 'removed' : 'next-exit' } });
  waitRes.catch(() => undefined); // awaited below; a failed attach must not leave it unhandled
  const attaching = client.hijack(`/containers/${id}/attach`, {
    query: { stream: 1, stdout: 1, stderr: 1, stdin: f.interactive ? 1 : 0 },
  });
  // Without stdin the start need not wait for the attach handshake: the daemon replays a
  // fresh container's output from its first byte, whichever request it sees first.
  const starting = f.interactive ? undefined : client.call('POST', `/containers/${id}/start`);
  starting?.catch(() => undefined); // awaited below
  let attach: Awaited<typeof attaching>;
  try {
    attach = await attaching;
  } catch (e) {
    await starting?.catch(() => undefined);
    throw e;
  }
  const pumped = pumpStreams(client, attach.socket, attach.head, { tty: !!f.tty, stdin: !!f.interactive, resizePath: `/containers/${id}/resize`, detachKeys: f.detachKeys });
  mark('attached');
  try {
    await (starting ?? client.call('POST', `/containers/${id}/start`));
    mark('started');
  } catch (e) {
    attach.socket.destroy();
    if (f.rm) await client.call('DELETE', `/containers/${id}`, { query: { force: 1 } }).catch(() => undefined);
    throw runFailure(e);
  }
  void pumped.then(() => mark('stream ended'));
  void waitRes.then(() => mark('wait returned'));
  // Detached (the detach keys): the container runs on and we are done.
  if (await pumped) return 0;
  const status = await waitRes;
  process.on('exit', () => mark(`exit, uptime ${Math.round(process.uptime() * 1000)} ms`));
  return status.StatusCode;
}

export async function start(ids: string[], f: { attach?: boolean; interactive?: boolean; detachKeys?: string }): Promise<number> {
  const client = await connect();
  if (f.attach || f.interactive) {
    const id = ids[0];
    const info = await client.json<{ Id: string; Config: { Tty: boolean } }>('GET', `/containers/${id}/json`);
    const attach = await client.hijack(`/containers/${info.Id}/attach`, { query: { stream: 1, stdout: 1, stderr: 1, stdin: f.interactive ? 1 : 0 } });
    const pumped = pumpStreams(client, attach.socket, attach.head, { tty: info.Config.Tty, stdin: !!f.interactive, resizePath: `/containers/${info.Id}/resize`, detachKeys: f.detachKeys });
    const waitRes = client.json<{ StatusCode: number }>('POST', `/containers/${info.Id}/wait`, { query: { condition: 'next-exit' } });
    waitRes.catch(() => undefined);
    try {
      await client.call('POST', `/containers/${info.Id}/start`);
    } catch (e) {
      attach.socket.destroy();
      throw runFailure(e);
    }
    if (await pumped) return 0;
    return (await waitRes).StatusCode;
  }
  return eachName(ids, async (id) => {
    await client.call('POST', `/containers/${id}/start`);
    out(`${id}\n`);
  });
}


export async function stop(ids: string[], f: { time?: string; signal?: string }): Promise<number> {
  const client = await connect();
  return eachName(ids, async (id) => {
    await client.call('POST', `/containers/${id}/stop`, { query: { t: f.time, signal: f.signal } });
    out(`${id}\n`);
  });
}

export async function restart(ids: string[], f: { time?: string }): Promise<number> {
  const client = await connect();
  return eachName(ids, async (id) => {
    await client.call('POST', `/containers/${id}/restart`, { query: { t: f.time } });
    out(`${id}\n`);
  });
}

export async function kill(ids: string[], f: { signal?: string }): Promise<number> {
  const client = await connect();
  return eachName(ids, async (id) => {
    await client.call('POST', `/containers/${id}/kill`, { query: { signal: f.signal } });
    out(`${id}\n`);
  });
}

export async function rm(ids: string[], f: { force?: boolean; volumes?: boolean }): Promise<number> {
  const client = await connect();
  return eachName(ids, async (id) => {
    await client.call('DELETE', `/containers/${id}`, { query: { force: f.force ? 1 : undefined, v: f.volumes ? 1 : undefined } });
    out(`${id}\n`);
  });
}

export async function simple(verb: 'pause' | 'unpause', ids: string[]): Promise<number> {
  const client = await connect();
  return eachName(ids, async (id) => {
    await client.call('POST', `/containers/${id}/${verb}`);
    out(`${id}\n`);
  });
}

export async function wait(ids: string[]): Promise<number> {
  const client = await connect();
  return eachName(ids, async (id) => {
    const r = await client.json<{ StatusCode: number }>('POST', `/containers/${id}/wait`);
    out(`${r.StatusCode}\n`);
  });
}

export interface UpdateFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  restart?: string;
  publishAdd?: string[];
  publishRm?: string[];
}

type Bindings = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;

/**
 * A container's port bindings after `--publish-rm` then `--publish-add`. A
 * bare container port (`80`, `80/udp`) drops all its bindings; a mapping
 * (`8080:80`) drops just that one.
 */
export function editBindings(current: Bindings, add: string[], rm: string[]): Bindings {
  const out: Bindings = Object.fromEntries(Object.entries(current).map(([k, v]) => [k, v ? [...v] : v]));
  for (const spec of rm) {
    const { bindings } = parsePublish([spec]);
    const bare = !spec.split('/')[0]!.includes(':');
    for (const [key, want] of Object.entries(bindings)) {
      if (!(key in out)) throw new ExitError(`port ${key} is not published (--publish-rm ${spec})`, 125);
      const left = bare ? [] : (out[key] ?? []).filter((b) => !want.some((w) => (b.HostIp ?? '') === w.HostIp && (b.HostPort ?? '') === w.HostPort));
      if (!bare && left.length === (out[key] ?? []).length) throw new ExitError(`no mapping ${spec} is published`, 125);
      if (left.length) out[key] = left;
      else delete out[key];
    }
  }
  for (const [key, binds] of Object.entries(parsePublish(add).bindings)) out[key] = [...(out[key] ?? []), ...binds];
  return out;
}

/** `update`: docker update's flags into the API body; unset flags stay zero (unchanged). */
export async function update(ids: string[], f: UpdateFlags): Promise<number> {
  const num = (v: string | undefined, flag: string) => {
    if (v === undefined) return 0;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new ExitError(`invalid argument "${v}" for "${flag}" flag`, 125);
    return n;
  };
  const [policy, retries] = f.restart ? f.restart.split(':') : [];
  const body = {
    Memory: f.memory ? parseBytes(f.memory) : 0,
    MemorySwap: f.memorySwap ? (f.memorySwap === '-1' ? -1 : parseBytes(f.memorySwap)) : 0,
    MemoryReservation: f.memoryReservation ? parseBytes(f.memoryReservation) : 0,
    NanoCpus: f.cpus ? Math.round(num(f.cpus, '--cpus') * 1e9) : 0,
    CpuShares: num(f.cpuShares, '--cpu-shares'),
    CpuPeriod: num(f.cpuPeriod, '--cpu-period'),
    CpuQuota: num(f.cpuQuota, '--cpu-quota'),
    CpusetCpus: f.cpusetCpus ?? '',
    PidsLimit: f.pidsLimit !== undefined ? num(f.pidsLimit, '--pids-limit') : undefined,
    RestartPolicy: policy ? { Name: policy, MaximumRetryCount: retries ? Number(retries) : 0 } : undefined,
  };
  const client = await connect();
  const ports = !!(f.publishAdd?.length || f.publishRm?.length);
  return eachName(ids, async (id) => {
    const hc = ports ? (await client.json<{ HostConfig: { PortBindings?: Bindings | null; PublishAllPorts?: boolean } }>('GET', `/containers/${id}/json`)).HostConfig : {};
    // -P publishes every exposed port whatever the bindings say: a removal would change nothing.
    if (hc.PublishAllPorts && f.publishRm?.length) throw new ExitError(`container ${id} publishes all exposed ports (-P): --publish-rm cannot unpublish one of them`, 125);
    const current = hc.PortBindings ?? {};
    const PortBindings = ports ? editBindings(current, f.publishAdd ?? [], f.publishRm ?? []) : undefined;
    const r = await client.json<{ Warnings?: string[] }>('POST', `/containers/${id}/update`, { body: { ...body, PortBindings } });
    for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    out(`${id}\n`);
  });
}

export async function rename(from: string, to: string): Promise<void> {
  const client = await connect();
  await client.call('POST', `/containers/${from}/rename`, { query: { name: to } });
}

interface Summary extends ContainerSummary {
  Mounts: Array<{ Type: string; Name?: string; Source?: string }>;
  NetworkSettings?: { Networks?: Record<string, unknown> };
  SizeRw?: number;
  SizeRootFs?: number;
}

/** Docker's ps PORTS column: `0.0.0.0:8080->80/tcp, 443/tcp`. */
export function portsText(ports: Summary['Ports']): string {
  return (ports ?? []).map((p) => (p.PublicPort ? `${p.IP || '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)).join(', ');
}

export async function ps(f: { all?: boolean; quiet?: boolean; last?: string; latest?: boolean; filter?: string[]; format?: string; trunc?: boolean; size?: boolean }): Promise<void> {
  const client = await connect();
  const limit = f.latest ? 1 : f.last ? Number(f.last) : undefined;
  // As the docker CLI: sizes cost a walk of every upper dir, so only when shown.
  const size = !!f.size || /\.Size\b/.test(f.format ?? '');
  const list = await client.json<Summary[]>('GET', '/containers/json', { query: { all: f.all ? 1 : undefined, limit, filters: filtersJson(f.filter), size: size ? 1 : undefined } });
  if (f.quiet) {
    out(list.map((c) => `${f.trunc === false ? c.Id : c.Id.slice(0, 12)}\n`).join(''));
    return;
  }
  const rows = list.map((c) => {
    const cmd = f.trunc === false || c.Command.length <= 20 ? c.Command : `${c.Command.slice(0, 19)}…`;
    return {
      ID: f.trunc === false ? c.Id : c.Id.slice(0, 12),
      Image: c.Image,
      Command: JSON.stringify(cmd),
      CreatedAt: goTime(new Date(c.Created * 1000)),
      RunningFor: since(c.Created),
      Ports: portsText(c.Ports),
      State: c.State,
      Status: c.Status,
      Size: c.SizeRw === undefined ? '' : `${humanSize(c.SizeRw)} (virtual ${humanSize(c.SizeRootFs ?? 0)})`,
      Names: c.Names.map((n) => n.slice(1)).join(','),
      Labels: Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
      Mounts: (c.Mounts ?? []).map((m) => (m.Type === 'volume' ? (m.Name ?? '') : (m.Source ?? ''))).map((n) => (f.trunc === false || n.length <= 15 ? n : `${n.slice(0, 14)}…`)).join(','),
      Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
      Label: (k: string) => c.Labels?.[k] ?? '',
    };
  });
  out(
    renderFormat(f.format ?? '', rows, {
      defaultFormat: `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${f.size ? '\t{{.Size}}' : ''}`,
      headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE', Names: 'NAMES', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS' },
    }),
  );
}

export async function logs(id: string, f: { follow?: boolean; tail?: string; timestamps?: boolean; since?: string; until?: string; details?: boolean; n?: string }): Promise<void> {
  const client = await connect();
  const info = await client.json<{ Id: string; Config: { Tty: boolean } }>('GET', `/containers/${id}/json`);
  const res = await client.raw('GET', `/containers/${info.Id}/logs`, {
    query: { stdout: 1, stderr: 1, follow: f.follow ? 1 : undefined, tail: f.tail ?? f.n, timestamps: f.timestamps ? 1 : undefined, since: f.since, until: f.until },
  });
  if ((res.statusCode ?? 500) >= 400) {
    const { readBody } = await import('../client');
    const body = (await readBody(res)).toString('utf8');
    throw new ExitError(`Error response from daemon: ${(JSON.parse(body) as { message: string }).message}`, 1);
  }
  const { Demuxer } = await import('../../api/stdcopy');
  const demux = new Demuxer((s, d) => (s === 2 ? process.stderr : process.stdout).write(d));
  await new Promise<void>((resolve) => {
    res.on('data', (d: Buffer) => (info.Config.Tty ? process.stdout.write(d) : demux.push(d)));
    res.on('end', resolve);
    res.on('error', () => resolve());
  });
}

export async function exec(container: string, command: string[], f: { interactive?: boolean; tty?: boolean; env?: string[]; workdir?: string; user?: string; detach?: boolean; privileged?: boolean; detachKeys?: string }): Promise<number> {
  const client = await connect();
  if (command.length === 0) throw new ExitError('exec requires at least 2 arguments', 1);
  let execId: string;
  try {
    const r = await client.json<{ Id: string }>('POST', `/containers/${container}/exec`, {
      body: { AttachStdin: !!f.interactive && !f.detach, AttachStdout: !f.detach, AttachStderr: !f.detach, Tty: !!f.tty, Env: f.env ?? [], WorkingDir: f.workdir ?? '', User: f.user ?? '', Privileged: !!f.privileged, Cmd: command },
    });
    execId = r.Id;
  } catch (e) {
    throw runFailure(e);
  }
  if (f.detach) {
    await client.call('POST', `/exec/${execId}/start`, { body: { Detach: true, Tty: !!f.tty } });
    return 0;
  }
  let conn;
  try {
    conn = await client.hijack(`/exec/${execId}/start`, { body: { Detach: false, Tty: !!f.tty } });
  } catch (e) {
    throw runFailure(e);
  }
  if (await pumpStreams(client, conn.socket, conn.head, { tty: !!f.tty, stdin: !!f.interactive, resizePath: `/exec/${execId}/resize`, detachKeys: f.detachKeys })) return 0;
  const info = await client.json<{ ExitCode: number | null }>('GET', `/exec/${execId}/json`);
  return info.ExitCode ?? 0;
}

export async function attach(id: string, f: { noStdin?: boolean; detachKeys?: string }): Promise<number> {
  const client = await connect();
  const info = await client.json<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean } }>('GET', `/containers/${id}/json`);
  const stdin = info.Config.OpenStdin && !f.noStdin;
  const conn = await client.hijack(`/containers/${info.Id}/attach`, { query: { stream: 1, stdout: 1, stderr: 1, stdin: stdin ? 1 : 0 } });
  const waitRes = client.json<{ StatusCode: number }>('POST', `/containers/${info.Id}/wait`);
  waitRes.catch(() => undefined);
  if (await pumpStreams(client, conn.socket, conn.head, { tty: info.Config.Tty, stdin, resizePath: `/containers/${info.Id}/resize`, detachKeys: f.detachKeys })) return 0;
  return (await waitRes).StatusCode;
}

export async function inspect(ids: string[], f: { format?: string; type?: string; size?: boolean }): Promise<number> {
  const client = await connect();
  const results: unknown[] = [];
  let failed = false;
  for (const id of ids) {
    try {
      if (f.type !== 'image') {
        try {
          results.push(await client.json('GET', `/containers/${id}/json`));
          continue;
        } catch (e) {
          if (f.type === 'container' || (e as { status?: number }).status !== 404) throw e;
        }
      }
      results.push(await client.json('GET', `/images/${id}/json`));
    } catch (e) {
      failed = true;
      process.stderr.write(`Error: No such object: ${id}\n`);
      void e;
    }
  }
  if (f.format) for (const r of results) out(renderOne(f.format, r));
  else out(`${JSON.stringify(results, null, 4)}\n`);
  return failed ? 1 : 0;
}

export async function top(id: string, psArgs: string[]): Promise<void> {
  const client = await connect();
  const r = await client.json<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${id}/top`, { query: { ps_args: psArgs.join(' ') || undefined } });
  out(table([r.Titles, ...r.Processes]));
}

export async function port(id: string, which: string | undefined): Promise<number> {
  const client = await connect();
  const info = await client.json<{ NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> } }>('GET', `/containers/${id}/json`);
  const want = which ? (which.includes('/') ? which : `${which}/tcp`) : undefined;
  let found = false;
  for (const [key, binds] of Object.entries(info.NetworkSettings.Ports ?? {})) {
    if (want && key !== want) continue;
    for (const b of binds ?? []) {
      found = true;
      out(want ? `${b.HostIp}:${b.HostPort}\n` : `${key} -> ${b.HostIp}:${b.HostPort}\n`);
    }
  }
  if (want && !found) throw new ExitError(`Error: No public port '${want}' published for ${id}`, 1);
  return 0;
}

export async function diff(id: string): Promise<void> {
  const client = await connect();
  const changes = await client.json<Array<{ Path: string; Kind: number }>>('GET', `/containers/${id}/changes`);
  out(changes.map((c) => `${['C', 'A', 'D'][c.Kind]} ${c.Path}\n`).join(''));
}

export async function exportContainer(id: string, f: { output?: string }): Promise<void> {
  const client = await connect();
  if (!f.output && process.stdout.isTTY) throw new ExitError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
  const res = await client.raw('GET', `/containers/${id}/export`);
  if ((res.statusCode ?? 500) >= 400) throw new ExitError(`Error response from daemon: No such container: ${id}`, 1);
  const dest = f.output ? createWriteStream(f.output) : process.stdout;
  await new Promise<void>((resolve, reject) => {
    res.pipe(dest);
    res.on('end', resolve);
    res.on('error', reject);
  });
}

export async function commit(id: string, ref: string | undefined, f: { message?: string; author?: string; change?: string[]; pause?: boolean }): Promise<void> {
  const client = await connect();
  let repo: string | undefined;
  let tag: string | undefined;
  if (ref) {
    const i = ref.lastIndexOf(':');
    if (i > ref.lastIndexOf('/')) {
      repo = ref.slice(0, i);
      tag = ref.slice(i + 1);
    } else repo = ref;
  }
  const r = await client.json<{ Id: string }>('POST', '/commit', {
    query: { container: id, repo, tag, comment: f.message, author: f.author, changes: f.change, pause: f.pause === false ? 0 : 1 },
    body: {},
  });
  out(`${r.Id}\n`);
}

export async function prune(f: { force?: boolean }): Promise<void> {
  void f;
  const client = await connect();
  const r = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>('POST', '/containers/prune');
  const del = r.ContainersDeleted ?? [];
  if (del.length) out(`Deleted Containers:\n${del.join('\n')}\n\n`);
  out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
}

/** `cp SRC DEST` where one side is CONTAINER:PATH; '-' streams a tar on stdin/stdout. */
/** A `cp` argument: `NAME:PATH` names a container (or a compose service), anything else is a local path. */
export function cpSide(s: string): { container: string; path: string } | undefined {
  const i = s.indexOf(':');
  return i > 0 && !s.startsWith('/') && !s.startsWith('.') ? { container: s.slice(0, i), path: s.slice(i + 1) } : undefined;
}

export async function cp(src: string, dest: string): Promise<void> {
  const client = await connect();
  const from = cpSide(src);
  const to = cpSide(dest);
  if ((from && to) || (!from && !to)) throw new ExitError('copying between containers is not supported; one of source or destination must be a local path', 1);
  // require, not import(): bin/berth runs the bundle in a vm.Script without an ES module loader.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const { statSync } = require('node:fs') as typeof import('node:fs');
  const { basename, dirname, resolve } = require('node:path') as typeof import('node:path');
  if (from) {
    const res = await client.raw('GET', `/containers/${from.container}/archive`, { query: { path: from.path } });
    if ((res.statusCode ?? 500) >= 400) {
      const { readBody } = await import('../client');
      throw new ExitError(`Error response from daemon: ${(JSON.parse((await readBody(res)).toString()) as { message: string }).message}`, 1);
    }
    if (dest === '-') {
      res.pipe(process.stdout);
      await new Promise((r) => res.on('end', r));
      return;
    }
    // Extract with the host's tar into a temp dir beside the target, then move into place.
    const target = resolve(dest);
    let isDir = false;
    try {
      isDir = statSync(target).isDirectory();
    } catch {
      isDir = false;
    }
    const { mkdtempSync, renameSync, rmSync, readdirSync } = require('node:fs') as typeof import('node:fs');
    const tmp = mkdtempSync(`${isDir ? target : dirname(target)}/.berth-cp-`);
    const tar = spawn('tar', ['-x', '-p', '-C', tmp], { stdio: ['pipe', 'inherit', 'inherit'] });
    res.pipe(tar.stdin);
    const code = await new Promise<number>((r) => tar.on('close', (c) => r(c ?? 1)));
    if (code !== 0) throw new ExitError('tar extraction failed', 1);
    const [entry] = readdirSync(tmp);
    const final = isDir ? `${target}/${basename(entry ?? basename(from.path))}` : target;
    rmSync(final, { recursive: true, force: true });
    renameSync(`${tmp}/${entry}`, final);
    rmSync(tmp, { recursive: true, force: true });
    return;
  }
  const target = to!;
  if (src === '-') {
    await client.call('PUT', `/containers/${target.container}/archive`, { query: { path: target.path }, stream: process.stdin });
    return;
  }
  // Docker's rules: into an existing directory keep the name; otherwise the copy takes the destination's name.
  const abs = resolve(src);
  statSync(abs);
  let destIsDir = false;
  const head = await client.raw('HEAD', `/containers/${target.container}/archive`, { query: { path: target.path } });
  head.resume();
  if (head.statusCode === 200) {
    const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat'] ?? ''), 'base64').toString('utf8') || '{}') as { mode?: number };
    destIsDir = ((stat.mode ?? 0) & 2 ** 31) !== 0;
  } else if (head.statusCode === 404) {
    if (target.path.endsWith('/')) throw new ExitError(`Error response from daemon: Could not find the file ${target.path} in container ${target.container}`, 1);
  } else throw new ExitError(`Error response from daemon: cannot stat ${target.path} in ${target.container} (HTTP ${head.statusCode})`, 1);
  const name = basename(abs);
  const targetDir = destIsDir ? target.path : dirname(target.path.replace(/\/+$/, '')) || '/';
  const newName = destIsDir ? name : basename(target.path.replace(/\/+$/, ''));
  const esc = (x: string) => x.replace(/[\\|.*[\]^$]/g, '\\$&');
  const args = ['-c', '-C', dirname(abs)];
  if (newName !== name) args.push(`--transform=s|^${esc(name)}|${newName.replace(/[\\|&]/g, '\\$&')}|`);
  args.push(name);
  const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await client.call('PUT', `/containers/${target.container}/archive`, { query: { path: targetDir }, stream: tar.stdout });
}
