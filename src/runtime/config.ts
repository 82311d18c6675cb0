/**
 * A container's configuration as Docker derives it: the image's defaults
 * merged in at create time, the environment, host-config checks, security
 * options, published ports.
 */
import { statSync } from 'node:fs';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_PATH, type HealthConfig, type ImageRecord } from '../image/types';
import type { PortMapping } from '../network';
import type { RuntimeSpecInput } from './spec';
import type { ContainerConfig, ContainerRecord, HostConfig } from './types';

export function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

/** Later entries replace earlier ones with the same key (Docker's ReplaceOrAppendEnvValues). */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const k = envKey(e);
    const i = out.findIndex((x) => envKey(x) === k);
    if (!e.includes('=')) {
      const v = process.env[k];
      if (v === undefined) continue;
      if (i >= 0) out[i] = `${k}=${v}`;
      else out.push(`${k}=${v}`);
    } else if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

export function containerEnv(cfg: ContainerConfig, home: string): string[] {
  let env = mergeEnv([`PATH=${DEFAULT_PATH}`, `HOSTNAME=${cfg.Hostname}`], cfg.Tty ? ['TERM=xterm'] : []);
  env = mergeEnv(env, cfg.Env ?? []);
  if (!env.some((e) => envKey(e) === 'HOME')) env.push(`HOME=${home || '/'}`);
  return env;
}

/** Docker's `default` network is `bridge`. */
export function networkName(mode: string | undefined): string {
  return !mode || mode === 'default' ? 'bridge' : mode;
}

/** `-p` bindings and `-P` (every exposed port on a random host port). */
export function portMappings(rec: ContainerRecord): PortMapping[] {
  const out: PortMapping[] = [];
  const seen = new Set<string>();
  for (const [key, binds] of Object.entries(rec.HostConfig.PortBindings ?? {})) {
    const [port, proto = 'tcp'] = key.split('/');
    for (const b of binds ?? [{}]) {
      // "8000-8010" (one container port): the first free port of the range, as Docker.
      const [first, last] = (b.HostPort || '0').split('-').map((x) => (/^\d+$/.test(x.trim()) ? Number(x) : NaN));
      out.push({ hostIp: b.HostIp || undefined, hostPort: first!, ...(last !== undefined && last !== first ? { hostPortEnd: last } : {}), containerPort: Number(port), protocol: proto === 'udp' ? 'udp' : 'tcp' });
      seen.add(key);
    }
  }
  if (rec.HostConfig.PublishAllPorts) {
    for (const key of Object.keys(rec.Config.ExposedPorts ?? {})) {
      if (seen.has(key)) continue;
      const [port, proto = 'tcp'] = key.split('/');
      out.push({ hostPort: 0, containerPort: Number(port), protocol: proto === 'udp' ? 'udp' : 'tcp' });
    }
  }
  return out;
}

/** Fills a container's config from its image, as Docker does at create time. */
export function mergeImageConfig(config: ContainerConfig, image: ImageRecord): ContainerConfig {
  const ic = image.config.config ?? {};
  const out: ContainerConfig = { ...config };
  out.Env = mergeEnv(ic.Env ?? [], config.Env ?? []);
  if (config.Entrypoint && config.Entrypoint.length > 0) {
    out.Cmd = config.Cmd && config.Cmd.length ? config.Cmd : null;
  } else if (config.Entrypoint && config.Entrypoint.length === 0) {
    out.Entrypoint = null;
    out.Cmd = config.Cmd && config.Cmd.length ? config.Cmd : ic.Cmd ?? null;
  } else {
    out.Entrypoint = ic.Entrypoint ?? null;
    out.Cmd = config.Cmd && config.Cmd.length ? config.Cmd : ic.Cmd ?? null;
  }
  out.WorkingDir = config.WorkingDir || ic.WorkingDir || '';
  out.User = config.User || ic.User || '';
  out.Labels = { ...(ic.Labels ?? {}), ...(config.Labels ?? {}) };
  out.ExposedPorts = { ...(ic.ExposedPorts ?? {}), ...(config.ExposedPorts ?? {}) };
  out.Volumes = { ...(ic.Volumes ?? {}), ...(config.Volumes ?? {}) };
  out.StopSignal = config.StopSignal || ic.StopSignal || undefined;
  out.Healthcheck = mergeHealthcheck(config.Healthcheck, ic.Healthcheck);
  if (config.Shell?.length || ic.Shell?.length) out.Shell = config.Shell?.length ? config.Shell : ic.Shell;
  if (out.WorkingDir && !out.WorkingDir.startsWith('/')) throw new InvalidArgumentError(`the working directory '${out.WorkingDir}' is invalid, it needs to be an absolute path`);
  return out;
}

/** moby merge: each healthcheck field the user leaves unset comes from the image. */
function mergeHealthcheck(user: HealthConfig | undefined, image: HealthConfig | undefined): HealthConfig | undefined {
  if (!user) return image;
  if (!image) return user;
  return {
    Test: user.Test?.length ? user.Test : image.Test,
    Interval: user.Interval || image.Interval,
    Timeout: user.Timeout || image.Timeout,
    StartPeriod: user.StartPeriod || image.StartPeriod,
    StartInterval: user.StartInterval || image.StartInterval,
    Retries: user.Retries || image.Retries,
  };
}

/** The container named by a `container:<name|id>` mode, or undefined for other modes. */
export function joinedContainer(mode: string | undefined): string | undefined {
  return mode?.startsWith('container:') ? mode.slice('container:'.length) : undefined;
}

/**
 * PortBindings as Docker's nat package reads them ("port[/proto]" keys, each
 * null or a list of {HostIp, HostPort} strings): anything else is refused
 * here with Docker's wording, not met as a TypeError or a NaN port at start.
 */
function validatePortBindings(pb: unknown): void {
  if (pb === undefined || pb === null) return;
  if (typeof pb !== 'object' || Array.isArray(pb)) throw new InvalidArgumentError('invalid PortBindings: want a map of container ports to bindings');
  for (const [key, binds] of Object.entries(pb)) {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(key);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new InvalidArgumentError(`invalid port specification: "${key}"`);
    if (binds === null) continue;
    if (!Array.isArray(binds)) throw new InvalidArgumentError(`invalid port bindings of ${key}: want a list of {HostIp, HostPort}`);
    for (const b of binds as unknown[]) {
      if (!b || typeof b !== 'object') throw new InvalidArgumentError(`invalid port binding of ${key}: want {HostIp, HostPort}`);
      const { HostIp: ip, HostPort: port } = b as Record<string, unknown>;
      if (ip !== undefined && ip !== null && typeof ip !== 'string') throw new InvalidArgumentError(`invalid HostIp of ${key}: want a string`);
      if (port !== undefined && port !== null && (typeof port !== 'string' || !/^\s*(\d+(-\d+)?)?\s*$/.test(port))) throw new InvalidArgumentError(`invalid hostPort: ${String(port)}`);
    }
  }
}

/**
 * Docker's checks (daemon verifyNetworkingConfig, runconfig): a container that
 * joins another's network namespace takes its hostname, DNS and ports from it.
 */
export function validateHostConfig(hc: HostConfig, config: Pick<ContainerConfig, 'Hostname'> = {}): void {
  const joined = joinedContainer(hc.NetworkMode);
  if (joined !== undefined) {
    if (!joined) throw new InvalidArgumentError('invalid network mode: container: needs a container name or ID');
    if (config.Hostname) throw new InvalidArgumentError('conflicting options: hostname and the network mode');
    if (hc.Dns?.length || hc.DnsSearch?.length || hc.DnsOptions?.length) throw new InvalidArgumentError('conflicting options: dns and the network mode');
    if (hc.ExtraHosts?.length) throw new InvalidArgumentError('conflicting options: custom host-to-IP mapping and the network mode');
    if (hc.PublishAllPorts || Object.keys(hc.PortBindings ?? {}).length) throw new InvalidArgumentError('conflicting options: port publishing and the container type network mode');
  }
  validatePortBindings(hc.PortBindings);
  validateDevices(hc.Devices);
  for (const l of hc.Links ?? []) parseLink(l);
  if (hc.Links?.length && joined !== undefined) throw new InvalidArgumentError('conflicting options: links and the network mode');
  if (hc.OomScoreAdj !== undefined && (!Number.isInteger(hc.OomScoreAdj) || hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000)) throw new InvalidArgumentError(`Invalid value ${hc.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  if (joinedContainer(hc.PidMode) === '') throw new InvalidArgumentError('invalid PID mode: container: needs a container name or ID');
  const ipc = hc.IpcMode ?? '';
  if (!['', 'none', 'private', 'shareable', 'host'].includes(ipc) && !(ipc.startsWith('container:') && ipc.length > 'container:'.length))
    throw new InvalidArgumentError(`invalid IPC mode: ${ipc}`);
  if (hc.Memory && hc.Memory < 6 * 1024 * 1024) throw new InvalidArgumentError('Minimum memory limit allowed is 6MB');
  if (hc.NanoCpus && hc.NanoCpus < 0) throw new InvalidArgumentError('invalid --cpus: must be positive');
  const rp = hc.RestartPolicy?.Name ?? '';
  if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(rp)) throw new InvalidArgumentError(`invalid restart policy '${rp}'`);
  if (hc.AutoRemove && rp && rp !== 'no') throw new InvalidArgumentError('can\'t create \'AutoRemove\' container with restart policy');
}

/** A `--link` entry, `name[:alias]` (the docker CLI's) or `/name:/container/alias` (dockerd's stored form). */
export function parseLink(link: string): { name: string; alias: string } {
  const [rawName = '', rawAlias] = link.split(':');
  const name = rawName.replace(/^\//, '');
  const alias = rawAlias ? rawAlias.slice(rawAlias.lastIndexOf('/') + 1) : name;
  if (!name || !alias) throw new InvalidArgumentError(`invalid link: ${JSON.stringify(link)}`);
  return { name, alias };
}

/** `--device`: a device node or a directory of them on the host, a container path, cgroup permissions (Docker's checks, at create). */
function validateDevices(devices: HostConfig['Devices']): void {
  if (devices !== undefined && devices !== null && !Array.isArray(devices)) throw new InvalidArgumentError('invalid Devices: want a list');
  for (const d of devices ?? []) {
    const host = d?.PathOnHost;
    if (typeof host !== 'string' || !host.startsWith('/')) throw new InvalidArgumentError(`invalid device: PathOnHost ${JSON.stringify(host)} must be an absolute path`);
    if (d.PathInContainer && !d.PathInContainer.startsWith('/')) throw new InvalidArgumentError(`invalid device: ${d.PathInContainer} is not an absolute path`);
    const perms = d.CgroupPermissions || 'rwm';
    if (!/^[rwm]{1,3}$/.test(perms) || new Set(perms).size !== perms.length) throw new InvalidArgumentError(`invalid device mode: ${perms}`);
    let st;
    try {
      st = statSync(host);
    } catch (e) {
      throw new InvalidArgumentError(`error gathering device information while adding custom device "${host}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    if (!st.isCharacterDevice() && !st.isBlockDevice() && !st.isDirectory()) throw new InvalidArgumentError(`error gathering device information while adding custom device "${host}": not a device node`);
  }
}

export function parseSecurityOpts(opts: string[]): { noNewPrivileges: boolean; seccomp: RuntimeSpecInput['seccomp'] } {
  let noNewPrivileges = false;
  let seccomp: RuntimeSpecInput['seccomp'] = 'default';
  for (const o of opts) {
    const [k, v = ''] = o.includes('=') ? [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)] : o.split(':', 2);
    if (k === 'no-new-privileges') noNewPrivileges = v === '' || v === 'true';
    else if (k === 'seccomp') seccomp = v === 'unconfined' ? 'unconfined' : { profileJson: v };
    else if (k === 'apparmor' || k === 'label') continue;
    else throw new InvalidArgumentError(`invalid --security-opt: ${JSON.stringify(o)}`);
  }
  return { noNewPrivileges, seccomp };
}
