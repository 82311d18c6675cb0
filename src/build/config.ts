/**
 * Instructions that only change the image config (ENV, LABEL, CMD, …): how
 * each one edits the RunConfig, and the history line BuildKit records for it.
 */
import { InvalidArgumentError } from '../errors';
import type { HealthConfig, RunConfig } from '../image/types';
import type { Command } from './dockerfile';
import { goQuote } from './dockerfile/text';

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

export interface ConfigState {
  config: RunConfig;
  author?: string;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

/** Go's `%v` of a []string: `[a b]`. */
export const goList = (xs: readonly string[]): string => `[${xs.join(' ')}]`;
/** Go's `%q` of a []string: `["a" "b"]`. */
export const goQuotedList = (xs: readonly string[]): string => `[${xs.map(goQuote).join(' ')}]`;

export function envKey(kv: string): string {
  const i = kv.indexOf('=');
  return i < 0 ? kv : kv.slice(0, i);
}

export function envValue(env: readonly string[] | undefined, key: string): string | undefined {
  for (const kv of env ?? []) if (envKey(kv) === key) return kv.slice(key.length + 1);
  return undefined;
}

export function setEnv(env: readonly string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((kv) => envKey(kv) === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

const DURATION_UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration ("30s", "1m30s", "500ms", "0") in whole nanoseconds; undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ns = 0;
  let end = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    ns += Number(m[1]) * DURATION_UNITS_NS[m[2]];
    end = re.lastIndex;
  }
  return text && end === text.length ? Math.round(ns) : undefined;
}

/** Go's time.Duration String() for whole nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trim(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    out = `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trim(n / 1e9)}s`;
  }
  return neg ? `-${out}` : out;
}

const trim = (x: number): string => String(Number(x.toFixed(9)));

/** "80", "80/udp", "8000-8002" → the ExposedPorts keys. */
function portKeys(spec: string): string[] {
  const [ports, proto = 'tcp'] = spec.split('/');
  const m = /^(\d+)(?:-(\d+))?$/.exec(ports);
  if (!m || !/^(tcp|udp|sctp)$/i.test(proto)) throw new InvalidArgumentError(`invalid containerPort: ${spec}`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from || to > 65535) throw new InvalidArgumentError(`invalid range format for --expose: ${spec}`);
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

function healthConfig(cmd: Extract<Command, { kind: 'healthcheck' }>): HealthConfig {
  const hc: HealthConfig & { StartInterval?: number } = { Test: cmd.test };
  if (cmd.interval) hc.Interval = cmd.interval;
  if (cmd.timeout) hc.Timeout = cmd.timeout;
  if (cmd.startPeriod) hc.StartPeriod = cmd.startPeriod;
  if (cmd.startInterval) hc.StartInterval = cmd.startInterval;
  if (cmd.retries) hc.Retries = cmd.retries;
  return hc;
}

/** Docker's history text of a HEALTHCHECK: Go's `%v` of the config struct. */
function healthHistory(cmd: Extract<Command, { kind: 'healthcheck' }>): string {
  const d = [cmd.interval, cmd.timeout, cmd.startPeriod, cmd.startInterval].map((x) => goQuote(goDuration(x)));
  const retries = `'\\x${cmd.retries.toString(16).padStart(2, '0')}'`;
  return `HEALTHCHECK &{${goQuotedList(cmd.test)} ${d.join(' ')} ${retries}}`;
}

/** CMD/ENTRYPOINT arguments: exec form as written, shell form wrapped in the stage's SHELL. */
export function withShell(cmd: { shell: boolean; cmd: string[] }, shell: readonly string[]): string[] {
  return cmd.shell ? [...shell, cmd.cmd.join(' ')] : [...cmd.cmd];
}

/**
 * Applies a config-only instruction (already variable-expanded); returns its
 * history line. ARG is the builder's (it changes the build's variables, not the config).
 */
export function applyConfigCommand(st: ConfigState, cmd: Command): string {
  const c = st.config;
  const shell = c.Shell ?? DEFAULT_SHELL;
  switch (cmd.kind) {
    case 'env':
      for (const p of cmd.pairs) c.Env = setEnv(c.Env, p.key, p.value);
      return `ENV ${cmd.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'label':
      c.Labels = { ...(c.Labels ?? {}) };
      for (const p of cmd.pairs) c.Labels[p.key] = p.value;
      return `LABEL ${cmd.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'maintainer':
      st.author = cmd.maintainer;
      return `MAINTAINER ${cmd.maintainer}`;
    case 'cmd':
      c.Cmd = withShell(cmd, shell);
      st.cmdSet = true;
      return `CMD ${goQuotedList(c.Cmd)}`;
    case 'entrypoint':
      c.Entrypoint = cmd.cmd.length === 0 ? null : withShell(cmd, shell);
      if (!st.cmdSet) c.Cmd = null;
      return `ENTRYPOINT ${goQuotedList(c.Entrypoint ?? [])}`;
    case 'expose': {
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const spec of cmd.ports) for (const k of portKeys(spec)) c.ExposedPorts[k] = {};
      const keys = Object.keys(c.ExposedPorts).sort();
      return `EXPOSE map[${keys.map((k) => `${k}:{}`).join(' ')}]`;
    }
    case 'volume':
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const p of cmd.paths) c.Volumes[p] = {};
      return `VOLUME ${goList(cmd.paths)}`;
    case 'user':
      c.User = cmd.user;
      return `USER ${cmd.user}`;
    case 'stopsignal':
      if (!/^(SIG)?[A-Z0-9+-]+$|^\d+$/i.test(cmd.signal)) throw new InvalidArgumentError(`Invalid signal: ${cmd.signal}`);
      c.StopSignal = cmd.signal;
      return `STOPSIGNAL ${cmd.signal}`;
    case 'healthcheck':
      c.Healthcheck = healthConfig(cmd);
      return healthHistory(cmd);
    case 'shell':
      c.Shell = [...cmd.shell];
      return `SHELL ${goList(cmd.shell)}`;
    case 'onbuild':
      c.OnBuild = [...(c.OnBuild ?? []), cmd.expression];
      return `ONBUILD ${cmd.expression}`;
    default:
      throw new InvalidArgumentError(`${cmd.kind.toUpperCase()} is not a config instruction`);
  }
}

/** The RunConfig in a fixed key order with empty fields left out: the same config always gives the same JSON. */
export function normalizeRunConfig(c: RunConfig): RunConfig {
  const out: RunConfig = {};
  if (c.User) out.User = c.User;
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length) out.ExposedPorts = sortKeys(c.ExposedPorts);
  if (c.Env?.length) out.Env = [...c.Env];
  if (c.Entrypoint?.length) out.Entrypoint = [...c.Entrypoint];
  if (c.Cmd?.length) out.Cmd = [...c.Cmd];
  if (c.Volumes && Object.keys(c.Volumes).length) out.Volumes = sortKeys(c.Volumes);
  if (c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (c.Labels && Object.keys(c.Labels).length) out.Labels = sortKeys(c.Labels);
  if (c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c.OnBuild?.length) out.OnBuild = [...c.OnBuild];
  if (c.Shell?.length) out.Shell = [...c.Shell];
  return out;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}
