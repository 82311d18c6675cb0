/** /containers/*: decode Docker's request shapes, call the container manager, encode its answers. */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Engine } from '../../engine/engine';
import { ConflictError, InvalidArgumentError, NotModifiedError } from '../../errors';
import type { Container, WaitCondition } from '../../runtime/containers';
import type { ContainerConfig, ContainerUpdate, HostConfig, NetworkingConfig } from '../../runtime/types';
import { parseTimestamp, type LogRecord } from '../../runtime/logs';
import { frame, STDERR, STDOUT } from '../stdcopy';
import { writeOut } from '../stream';
import type { RequestContext, Router } from '../router';
import { matchLabel, parseFilters, pruneFilter } from '../filters';
import { API_VERSION } from '../../config';
import { joinedContainer, networkName } from '../../runtime/config';
import { archiveRoutes } from './archive';

export function humanDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

function ago(iso: string): number {
  return (Date.now() - Date.parse(iso)) / 1000;
}

/** docker ps: "Up 3 minutes (healthy)", "(health: starting)". */
function healthSuffix(status: string | undefined): string {
  if (!status) return '';
  return status === 'starting' ? ' (health: starting)' : ` (${status})`;
}

export function statusText(c: Container): string {
  const st = c.state;
  if (st.Restarting) return `Restarting (${st.ExitCode}) ${humanDuration(ago(st.FinishedAt))} ago`;
  if (st.Running) return `Up ${humanDuration(ago(st.StartedAt))}${st.Paused ? ' (Paused)' : healthSuffix(st.Health?.Status)}`;
  if (st.Status === 'removing') return 'Removal In Progress';
  if (st.StartedAt.startsWith('0001')) return 'Created';
  return `Exited (${st.ExitCode}) ${humanDuration(ago(st.FinishedAt))} ago`;
}

function shellJoin(args: string[]): string {
  return args.map((a) => (/[\s"'\\]/.test(a) || a === '' ? JSON.stringify(a) : a)).join(' ');
}

export function containerSummary(engine: Engine, c: Container) {
  return {
    Id: c.rec.Id,
    Names: [c.rec.Name],
    Image: c.rec.Config.Image,
    ImageID: c.rec.Image,
    Command: shellJoin([c.rec.Path, ...c.rec.Args]),
    Created: Math.floor(Date.parse(c.rec.Created) / 1000),
    Ports: portsList(c),
    Labels: c.rec.Config.Labels ?? {},
    State: c.state.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.rec.HostConfig.NetworkMode ?? 'default' },
    NetworkSettings: { Networks: c.state.Running ? (c.net?.networks ?? {}) : {} },
    Mounts: mountsJson(c),
  };
}

/** The Mounts array of ps and inspect, in the Engine API's MountPoint shape. */
function mountsJson(c: Container) {
  return (c.rec.MountPoints ?? []).map((m) => ({
    Type: m.Type,
    ...(m.Name ? { Name: m.Name } : {}),
    Source: m.Type === 'tmpfs' ? '' : m.Source,
    Destination: m.Destination,
    ...(m.Driver ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  }));
}

export function containerInspect(engine: Engine, c: Container, apiVersion = API_VERSION) {
  const image = engine.images.byId(c.rec.Image as `sha256:${string}`);
  return {
    Id: c.rec.Id,
    Created: c.rec.Created,
    Path: c.rec.Path,
    Args: c.rec.Args,
    State: { ...c.state, Status: c.state.Status },
    Image: c.rec.Image,
    ResolvConfPath: `${c.dir}/resolv.conf`,
    HostnamePath: `${c.dir}/hostname`,
    HostsPath: `${c.dir}/hosts`,
    LogPath: c.rec.LogPath,
    Name: c.rec.Name,
    RestartCount: c.rec.RestartCount,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: c.rec.HostConfig,
    GraphDriver: {
      Name: 'overlay',
      Data: { UpperDir: `${c.dir}/upper`, WorkDir: `${c.dir}/work`, MergedDir: `${c.dir}/rootfs`, LowerDir: image ? '' : '' },
    },
    Mounts: mountsJson(c),
    Config: c.rec.Config,
    NetworkSettings: networkSettings(engine, c, apiVersion),
  };
}

/**
 * A stopped or created container's networks, from its configuration (as Docker
 * shows them: no addresses yet). Clients such as docker-compose 1.x read them
 * to decide whether a network still needs connecting.
 */
function configuredNetworks(engine: Engine, c: Container): Record<string, Record<string, unknown>> {
  const mode = networkName(c.rec.HostConfig.NetworkMode);
  const names = [...new Set([...(c.rec.PrimaryNetworkDetached ? [] : [mode]), ...Object.keys(c.rec.NetworkingConfig?.EndpointsConfig ?? {}).map(networkName)])];
  const out: Record<string, Record<string, unknown>> = {};
  for (const n of names) {
    if (n === 'none' || n === 'host' || joinedContainer(n) !== undefined) continue;
    let id = '';
    try {
      id = engine.networks.get(n).Id;
    } catch {
      continue;
    }
    const cfg = c.rec.NetworkingConfig?.EndpointsConfig?.[n] ?? (n === 'bridge' ? c.rec.NetworkingConfig?.EndpointsConfig?.default : undefined);
    out[n] = { IPAMConfig: null, Links: null, Aliases: cfg?.Aliases?.length ? [...cfg.Aliases] : null, NetworkID: id, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null };
  }
  return out;
}

/** Docker's NetworkSettings: per-network endpoints, and the bridge network's address at the top level. */
function networkSettings(engine: Engine, c: Container, apiVersion: string) {
  const nets = c.state.Running ? (c.net?.networks ?? {}) : {};
  const shown: Record<string, Record<string, unknown>> = c.state.Running
    ? Object.fromEntries(Object.entries(nets).map(([n, ep]) => [n, { ...ep, IPAMConfig: null, Links: null, DriverOpts: null }]))
    : configuredNetworks(engine, c);
  // Before API 1.44, Docker listed the short container ID among a user network's aliases (docker-compose 1.x relies on it).
  if (versionBelow(apiVersion, '1.44'))
    for (const [n, ep] of Object.entries(shown)) if (n !== 'bridge') ep.Aliases = [...new Set([...((ep.Aliases as string[] | null) ?? []), c.rec.Id.slice(0, 12)])];
  const primary = nets.bridge ?? Object.values(nets)[0];
  return {
    Bridge: '',
    SandboxID: c.state.Running ? c.rec.Id : '',
    HairpinMode: false,
    Ports: portsMap(c),
    SandboxKey: c.net?.nsPath ?? '',
    IPAddress: nets.bridge?.IPAddress ?? '',
    IPPrefixLen: nets.bridge?.IPPrefixLen ?? 0,
    Gateway: nets.bridge?.Gateway ?? '',
    MacAddress: primary?.MacAddress ?? '',
    Networks: shown,
  };
}

function versionBelow(v: string, than: string): boolean {
  const [a, b] = v.split('.').map(Number);
  const [c, d] = than.split('.').map(Number);
  return a < c || (a === c && b < d);
}

/** `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]}` for inspect and `port`. */
function portsMap(c: Container): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const p of Object.keys(c.rec.Config.ExposedPorts ?? {})) out[p] = null;
  if (!c.state.Running) return out;
  for (const m of c.net?.ports ?? []) {
    const key = `${m.containerPort}/${m.protocol}`;
    (out[key] ??= []).push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
  }
  return out;
}

/** The Ports array of container list: published ports, then exposed ones nothing publishes (`80/tcp` in `ps`), as Docker. */
function portsList(c: Container): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
  if (!c.state.Running) return [];
  const published = (c.net?.ports ?? []).map((m) => ({ IP: m.hostIp || '0.0.0.0', PrivatePort: m.containerPort, PublicPort: m.hostPort, Type: m.protocol }));
  const seen = new Set(published.map((p) => `${p.PrivatePort}/${p.Type}`));
  const exposed = Object.keys(c.rec.Config.ExposedPorts ?? {})
    .map((k) => /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(k))
    .filter((m): m is RegExpExecArray => !!m && !seen.has(`${m[1]}/${m[2] ?? 'tcp'}`))
    .map((m) => ({ PrivatePort: Number(m[1]), Type: m[2] ?? 'tcp' }));
  return [...published, ...exposed];
}

function bool(v: string | null): boolean {
  return v === '1' || v === 'true' || v === 'True';
}

function listContainers(engine: Engine, ctx: RequestContext) {
  const all = bool(ctx.query.get('all'));
  const limit = Number(ctx.query.get('limit') ?? -1);
  const f = parseFilters(ctx.query.get('filters'));
  let list = engine.containers.list();
  if (!all && limit <= 0 && !f.status && !f.exited) list = list.filter((c) => c.state.Running || c.state.Restarting);
  if (f.status) list = list.filter((c) => f.status.includes(c.state.Status));
  if (f.exited) list = list.filter((c) => c.state.Status === 'exited' && f.exited.includes(String(c.state.ExitCode)));
  if (f.health) list = list.filter((c) => f.health.includes(c.state.Running && c.state.Health ? c.state.Health.Status : 'none'));
  if (f.name) list = list.filter((c) => f.name.some((n) => new RegExp(n).test(c.rec.Name.slice(1))));
  if (f.id) list = list.filter((c) => f.id.some((i) => c.rec.Id.startsWith(i)));
  if (f.label) list = list.filter((c) => f.label.every((l) => matchLabel(c.rec.Config.Labels, l)));
  if (f.ancestor) {
    const ids = new Set(f.ancestor.map((a) => engine.images.find(a)?.id).filter(Boolean));
    list = list.filter((c) => ids.has(c.rec.Image as `sha256:${string}`) || f.ancestor.includes(c.rec.Config.Image));
  }
  if (f.before) {
    const pivot = engine.containers.get(f.before[0]).rec.Created;
    list = list.filter((c) => c.rec.Created < pivot);
  }
  if (f.since) {
    const pivot = engine.containers.get(f.since[0]).rec.Created;
    list = list.filter((c) => c.rec.Created > pivot);
  }
  if (limit > 0) list = list.slice(0, limit);
  const summaries = list.map((c) => containerSummary(engine, c));
  return bool(ctx.query.get('size')) ? Promise.all(list.map(async (c, i) => ({ ...summaries[i]!, ...(await containerSizes(engine, c)) }))) : summaries;
}

/** `size=1` on list and inspect, and `system df`: what the container wrote (its upper dir) and that plus its image. */
export async function containerSizes(engine: Engine, c: Container): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const rw = await engine.containers.sizeRw(c);
  return { SizeRw: rw, SizeRootFs: rw + (engine.images.byId(c.rec.Image as `sha256:${string}`)?.size ?? 0) };
}

/** Docker's --since/--until: RFC3339, Unix seconds with fraction, or a duration like 10m. */
export function parseTimeArg(v: string | null): bigint | undefined {
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return BigInt(s) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9) || '0');
  }
  const d = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (d) {
    const mult = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[d[2] as 'ns'];
    return BigInt(Date.now()) * 1_000_000n - BigInt(Math.round(Number(d[1]) * mult * 1e9));
  }
  const ns = parseTimestamp(v.replace(/Z$/, '+00:00').replace(/\+00:00\+00:00$/, '+00:00'));
  if (ns === 0n) {
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`invalid value for time: ${v}`);
    return BigInt(ms) * 1_000_000n;
  }
  return ns;
}

/** RFC3339Nano in UTC as Docker prints log timestamps. */
export function formatNano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac ? '.' + frac : ''}Z`;
}

function encodeRecord(rec: LogRecord, tty: boolean, timestamps: boolean): Buffer {
  const data = timestamps ? Buffer.concat([Buffer.from(formatNano(rec.time) + ' '), rec.data]) : rec.data;
  return tty ? data : frame(rec.stream === 'stdout' ? STDOUT : STDERR, data);
}

/**
 * conmon's attach socket is SOCK_SEQPACKET and conmon reads it 32 KiB at a time: one write is one
 * packet, and whatever a packet holds beyond 32 KiB is silently dropped. So stdin goes out in
 * pieces of at most this size, one write in flight at a time (Node would otherwise merge queued
 * writes into one writev, i.e. one oversized packet).
 */
export const CONMON_PACKET = 32 * 1024;

/** Pipes client stdin into a conmon attach socket, connecting once the container runs. */
export function pipeStdin(engine: Engine, client: Duplex, head: Buffer, connect: () => Socket, waitRunning?: Promise<void>): void {
  let target: Socket | undefined;
  const queue: Buffer[] = head.length ? [head] : [];
  let queued = head.length;
  let ended = false;
  let writing = false;
  let done = false;
  const flush = () => {
    if (!target || writing || done) return;
    const next = queue.shift();
    if (!next) {
      if (ended) {
        done = true;
        target.end();
      } else if (client.isPaused()) client.resume();
      return;
    }
    const piece = next.subarray(0, CONMON_PACKET);
    if (next.length > CONMON_PACKET) queue.unshift(next.subarray(CONMON_PACKET));
    queued -= piece.length;
    writing = true;
    target.write(piece, (err) => {
      writing = false;
      if (err) {
        done = true;
        return;
      }
      flush();
    });
  };
  const open = () => {
    try {
      target = connect();
    } catch {
      return;
    }
    target.on('error', () => undefined);
    target.resume(); // conmon echoes output here too; the log is our output path.
    flush();
  };
  client.on('data', (d: Buffer) => {
    queue.push(d);
    queued += d.length;
    // Backpressure: stop reading the client while a megabyte waits for the container.
    if (queued > 1 << 20) client.pause();
    flush();
  });
  client.on('end', () => {
    ended = true;
    flush();
  });
  client.on('close', () => {
    if (!ended) {
      done = true;
      target?.destroy();
    }
  });
  if (waitRunning) void waitRunning.then(open);
  else open();
  // The server may have paused the socket while it read a request body from it.
  client.resume();
}

async function attach(engine: Engine, ctx: RequestContext): Promise<void> {
  const c = engine.containers.get(ctx.params.id);
  const tty = !!c.rec.Config.Tty;
  const q = ctx.query;
  const wantOut = bool(q.get('stdout'));
  const wantErr = bool(q.get('stderr'));
  const wantIn = bool(q.get('stdin'));
  const logs = bool(q.get('logs'));
  const stream = q.get('stream') === null ? true : bool(q.get('stream'));
  const { socket, head } = ctx.hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
  const abort = new AbortController();
  socket.on('close', () => abort.abort());
  socket.on('error', () => abort.abort());
  if (wantIn && c.rec.Config.OpenStdin) {
    const running = c.state.Running
      ? undefined
      : new Promise<void>((resolve) => {
          const off = engine.events.subscribe((e) => {
            if (e.Type === 'container' && e.Action === 'start' && e.Actor.ID === c.rec.Id) {
              off();
              resolve();
            }
          });
          abort.signal.addEventListener('abort', () => off());
        });
    pipeStdin(engine, socket, head, () => engine.containers.attachStdin(c.rec.Id), running);
  }
  if (wantOut || wantErr) {
    const done = engine.containers.readerDone(c);
    try {
      const records = engine.containers.attachOutput(c, { logs, stream, signal: abort.signal });
      for await (const rec of records) {
        if ((rec.stream === 'stdout' && !wantOut) || (rec.stream === 'stderr' && !wantErr)) continue;
        if (!(await writeOut(socket, encodeRecord(rec, tty, false)))) break;
      }
    } finally {
      done();
    }
  } else if (stream) {
    await engine.containers.wait(c.rec.Id, 'next-exit');
  }
  socket.end();
}

async function logs(engine: Engine, ctx: RequestContext): Promise<void> {
  const c = engine.containers.get(ctx.params.id);
  const q = ctx.query;
  const wantOut = bool(q.get('stdout'));
  const wantErr = bool(q.get('stderr'));
  if (!wantOut && !wantErr) throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
  const follow = bool(q.get('follow'));
  const timestamps = bool(q.get('timestamps'));
  const tailArg = q.get('tail') ?? 'all';
  const tail = tailArg === 'all' || tailArg === '' ? -1 : Number(tailArg);
  if (Number.isNaN(tail)) throw new InvalidArgumentError(`invalid tail value: ${tailArg}`);
  const since = parseTimeArg(q.get('since'));
  const until = parseTimeArg(q.get('until'));
  const tty = !!c.rec.Config.Tty;
  const res = ctx.stream(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const keep = (r: LogRecord) => (r.stream === 'stdout' ? wantOut : wantErr);
  if (tail >= 0 && !follow) {
    // One pass: keep the last `tail` records.
    const last: LogRecord[] = [];
    for await (const r of engine.containers.logs(c.rec.Id, { since, until })) {
      if (!keep(r) || tail === 0) continue;
      last.push(r);
      if (last.length > tail) last.shift();
    }
    for (const r of last) if (!(await writeOut(res, encodeRecord(r, tty, timestamps)))) break;
    res.end();
    return;
  }
  let skip = 0;
  if (tail >= 0) {
    // Following: count first, then skip all but the last `tail` before following on.
    let n = 0;
    for await (const r of engine.containers.logs(c.rec.Id, { since, until })) if (keep(r)) n++;
    skip = Math.max(0, n - tail);
  }
  const done = follow ? engine.containers.readerDone(c) : () => undefined;
  try {
    for await (const r of engine.containers.logs(c.rec.Id, { since, until, follow, signal: abort.signal })) {
      if (!keep(r)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      if (!(await writeOut(res, encodeRecord(r, tty, timestamps)))) break;
    }
  } finally {
    done();
  }
  res.end();
}

/**
 * The docker CLI (API >= 1.44) sends `NetworkingConfig.EndpointsConfig` keyed by the network
 * mode, which is "default" unless --network was given; dockerd reads "default" as the bridge.
 */
export function normalizeNetworking(nc: NetworkingConfig | null | undefined): NetworkingConfig | undefined {
  const eps = nc?.EndpointsConfig;
  if (!eps || !('default' in eps)) return nc ?? undefined;
  const { default: def, ...rest } = eps;
  return { ...nc, EndpointsConfig: { ...rest, ...(rest.bridge === undefined ? { bridge: def } : {}) } };
}

export function containerRoutes(r: Router, engine: Engine): void {
  const C = engine.containers;
  r.add('GET', '/containers/json', async (ctx) => ctx.send(200, await listContainers(engine, ctx)));
  r.add('POST', '/containers/create', async (ctx) => {
    const body = (await ctx.json<ContainerConfig & { HostConfig?: HostConfig; NetworkingConfig?: NetworkingConfig }>()) ?? ({ Image: '' } as ContainerConfig & { HostConfig?: HostConfig; NetworkingConfig?: NetworkingConfig });
    const { HostConfig: hc, NetworkingConfig: nc, ...config } = body;
    const name = ctx.query.get('name') || undefined;
    const hostConfig: HostConfig = { ...(hc ?? {}) };
    // The docker CLI always sends LogConfig, with Type "" unless --log-driver was given: that means
    // the daemon's default driver (its --log-opt values still apply).
    if (hostConfig.LogConfig && !hostConfig.LogConfig.Type) hostConfig.LogConfig = { Type: 'k8s-file', Config: hostConfig.LogConfig.Config ?? {} };
    const created = await C.create(config as ContainerConfig, hostConfig, name, normalizeNetworking(nc));
    // Berth's own CLI says when a start follows at once (`berth run`): the runtime is made meanwhile.
    if (ctx.req.headers['x-berth-start'] === 'now') C.prestart(created.Id);
    ctx.send(201, created);
  });
  r.add('GET', '/containers/{id}/json', async (ctx) => {
    const c = C.get(ctx.params.id);
    const body = containerInspect(engine, c, ctx.apiVersion);
    ctx.send(200, bool(ctx.query.get('size')) ? { ...body, ...(await containerSizes(engine, c)) } : body);
  });
  r.add('POST', '/containers/{id}/start', async (ctx) => {
    const c = C.get(ctx.params.id);
    try {
      await C.start(c.rec.Id);
    } catch (e) {
      // As dockerd: a --rm container whose start failed is removed; `docker run --rm` waits for
      // condition=removed after a failed start and would hang otherwise.
      if (!(e instanceof NotModifiedError) && !(e instanceof ConflictError) && c.rec.HostConfig.AutoRemove && !c.state.Running)
        await C.remove(c.rec.Id, { force: true, volumes: true }).catch(() => undefined);
      throw e;
    }
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/stop', async (ctx) => {
    const t = ctx.query.get('t');
    await C.stop(ctx.params.id, t === null || t === '' ? undefined : Number(t), ctx.query.get('signal') ?? undefined);
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/restart', async (ctx) => {
    const t = ctx.query.get('t');
    await C.restart(ctx.params.id, t === null || t === '' ? undefined : Number(t));
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/kill', async (ctx) => {
    await C.kill(ctx.params.id, ctx.query.get('signal') || 'SIGKILL');
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/pause', async (ctx) => {
    await C.pause(ctx.params.id);
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/unpause', async (ctx) => {
    await C.unpause(ctx.params.id);
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/rename', async (ctx) => {
    const name = ctx.query.get('name');
    if (!name) throw new InvalidArgumentError('Neither old nor new names may be empty');
    await C.rename(ctx.params.id, name);
    ctx.send(204);
  });
  r.add('POST', '/containers/{id}/resize', async (ctx) => {
    await C.resize(ctx.params.id, Number(ctx.query.get('h') ?? 0), Number(ctx.query.get('w') ?? 0));
    ctx.send(200);
  });
  r.add('POST', '/containers/{id}/wait', async (ctx) => {
    const cond = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw new InvalidArgumentError(`invalid condition: "${cond}"`);
    const c = C.get(ctx.params.id);
    const p = C.wait(c.rec.Id, cond);
    // Headers go out at once so the client knows the wait is registered before it starts the container.
    const res = ctx.stream('application/json');
    const result = await p;
    res.end(JSON.stringify({ StatusCode: result.StatusCode, ...(result.Error ? { Error: result.Error } : {}) }) + '\n');
  });
  r.add('POST', '/containers/{id}/attach', (ctx) => attach(engine, ctx));
  r.add('GET', '/containers/{id}/logs', (ctx) => logs(engine, ctx));
  r.add('GET', '/containers/{id}/top', async (ctx) => ctx.send(200, await C.top(ctx.params.id, ctx.query.get('ps_args') || '-ef')));
  r.add('POST', '/containers/{id}/update', async (ctx) => ctx.send(200, await C.update(ctx.params.id, (await ctx.json<ContainerUpdate>()) ?? {})));
  r.add('GET', '/containers/{id}/stats', async (ctx) => {
    // Docker: stream by default, one sample a second; stream=false waits for a second sample so
    // CPU deltas are filled, unless one-shot asks for just one.
    const stream = ctx.query.get('stream') === null || bool(ctx.query.get('stream'));
    const oneShot = bool(ctx.query.get('one-shot'));
    let sample = await C.stats(ctx.params.id);
    if (!stream) {
      if (!oneShot && C.get(ctx.params.id).state.Running) {
        await new Promise((r) => setTimeout(r, 1000));
        sample = await C.stats(ctx.params.id, sample);
      }
      ctx.send(200, sample);
      return;
    }
    const res = ctx.stream('application/json');
    let closed = false;
    ctx.req.on('close', () => (closed = true));
    res.write(JSON.stringify(sample) + '\n');
    while (!closed) {
      await new Promise((r) => setTimeout(r, 1000));
      if (closed) break;
      try {
        sample = await C.stats(ctx.params.id, sample);
      } catch {
        break; // removed meanwhile
      }
      res.write(JSON.stringify(sample) + '\n');
    }
    res.end();
  });
  r.add('GET', '/containers/{id}/changes', async (ctx) => ctx.send(200, await engine.changes(ctx.params.id)));
  r.add('DELETE', '/containers/{id}', async (ctx) => {
    await C.remove(ctx.params.id, { force: bool(ctx.query.get('force')), volumes: bool(ctx.query.get('v')) });
    ctx.send(204);
  });
  r.add('POST', '/containers/prune', async (ctx) => {
    const { matches } = pruneFilter(ctx.query.get('filters'));
    ctx.send(200, await C.prune((c) => matches(c.rec.Config.Labels, c.rec.Created)));
  });
  archiveRoutes(r, engine);
}
