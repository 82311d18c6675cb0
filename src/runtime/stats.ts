/**
 * Resource usage of a running container in the Engine API's stats shape
 * (what `docker stats` reads): cgroup counters for CPU, memory, pids and
 * block I/O, the container's network namespace counters, and the host's CPU
 * time so clients can turn deltas into percentages.
 */
import { promises as fsp } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface NetworkCounters {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

export interface ContainerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: { io_service_bytes_recursive: BlkioEntry[] | null; io_serviced_recursive: BlkioEntry[] | null };
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats | Record<string, never>;
  memory_stats: { usage?: number; max_usage?: number; limit?: number; stats?: Record<string, number> };
  name: string;
  id: string;
  networks?: Record<string, NetworkCounters>;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
/** /proc/stat counts in USER_HZ ticks; Linux fixes USER_HZ at 100. */
const NS_PER_TICK = 10_000_000;
/** cgroup v1 reports "no limit" as the largest page-aligned int64. */
const V1_UNLIMITED = 0x7ffffffffffff000;

async function read(path: string): Promise<string | undefined> {
  return fsp.readFile(path, 'utf8').catch(() => undefined);
}

async function num(path: string): Promise<number | undefined> {
  const s = await read(path);
  if (s === undefined) return undefined;
  const n = Number(s.trim());
  return Number.isFinite(n) ? n : undefined;
}

function keyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** Host CPU time in ns, summed over every state, as Docker's getSystemCPUUsage. */
export async function systemCpuUsage(): Promise<number> {
  const line = (await read('/proc/stat'))?.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  return line.trim().split(/\s+/).slice(1, 8).reduce((s, v) => s + Number(v), 0) * NS_PER_TICK;
}

function blkio(text: string | undefined): BlkioEntry[] | null {
  if (!text) return null;
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3].toLowerCase(), value: Number(m[4]) });
  }
  return out;
}

/** Interface counters of the network namespace `pid` lives in (loopback left out, as Docker). */
export async function networkCounters(pid: number): Promise<Record<string, NetworkCounters> | undefined> {
  const text = await read(`/proc/${pid}/net/dev`);
  if (!text) return undefined;
  const out: Record<string, NetworkCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (name === 'lo') continue;
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    out[name] = { rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3], tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11] };
  }
  return out;
}

/** cgroup v1 (one directory per controller, as runc lays out `/berth/<id>`). */
async function v1(cgroup: string): Promise<Pick<ContainerStats, 'cpu_stats' | 'memory_stats' | 'pids_stats' | 'blkio_stats'>> {
  const base = '/sys/fs/cgroup';
  const [usage, percpu, acct, throttle, memUsage, memMax, memLimit, memStat, pids, pidsMax, ioBytes, ioOps] = await Promise.all([
    num(`${base}/cpuacct${cgroup}/cpuacct.usage`),
    read(`${base}/cpuacct${cgroup}/cpuacct.usage_percpu`),
    read(`${base}/cpuacct${cgroup}/cpuacct.stat`),
    read(`${base}/cpu${cgroup}/cpu.stat`),
    num(`${base}/memory${cgroup}/memory.usage_in_bytes`),
    num(`${base}/memory${cgroup}/memory.max_usage_in_bytes`),
    num(`${base}/memory${cgroup}/memory.limit_in_bytes`),
    read(`${base}/memory${cgroup}/memory.stat`),
    num(`${base}/pids${cgroup}/pids.current`),
    read(`${base}/pids${cgroup}/pids.max`),
    read(`${base}/blkio${cgroup}/blkio.throttle.io_service_bytes_recursive`).then(async (t) => t ?? read(`${base}/blkio${cgroup}/blkio.throttle.io_service_bytes`)),
    read(`${base}/blkio${cgroup}/blkio.throttle.io_serviced_recursive`).then(async (t) => t ?? read(`${base}/blkio${cgroup}/blkio.throttle.io_serviced`)),
  ]);
  const ticks = keyValues(acct);
  const thr = keyValues(throttle);
  const limitText = pidsMax?.trim();
  return {
    cpu_stats: {
      cpu_usage: {
        total_usage: usage ?? 0,
        percpu_usage: percpu?.trim().split(/\s+/).filter(Boolean).map(Number),
        usage_in_kernelmode: (ticks.system ?? 0) * NS_PER_TICK,
        usage_in_usermode: (ticks.user ?? 0) * NS_PER_TICK,
      },
      system_cpu_usage: 0,
      online_cpus: cpus().length,
      throttling_data: { periods: thr.nr_periods ?? 0, throttled_periods: thr.nr_throttled ?? 0, throttled_time: thr.throttled_time ?? 0 },
    },
    memory_stats: {
      usage: memUsage,
      max_usage: memMax,
      // Without a limit, Docker reports the host's memory.
      limit: memLimit !== undefined && memLimit < V1_UNLIMITED ? memLimit : totalmem(),
      stats: keyValues(memStat),
    },
    pids_stats: { current: pids, ...(limitText && limitText !== 'max' ? { limit: Number(limitText) } : {}) },
    blkio_stats: { io_service_bytes_recursive: blkio(ioBytes), io_serviced_recursive: blkio(ioOps) },
  };
}

/** cgroup v2 (a unified hierarchy), for hosts that have it. */
async function v2(cgroup: string): Promise<Pick<ContainerStats, 'cpu_stats' | 'memory_stats' | 'pids_stats' | 'blkio_stats'>> {
  const dir = `/sys/fs/cgroup${cgroup}`;
  const [cpuStat, memCur, memMax, memStat, pids, pidsMax] = await Promise.all([
    read(`${dir}/cpu.stat`),
    num(`${dir}/memory.current`),
    read(`${dir}/memory.max`),
    read(`${dir}/memory.stat`),
    num(`${dir}/pids.current`),
    read(`${dir}/pids.max`),
  ]);
  const c = keyValues(cpuStat);
  const max = memMax?.trim();
  return {
    cpu_stats: {
      cpu_usage: { total_usage: (c.usage_usec ?? 0) * 1000, usage_in_kernelmode: (c.system_usec ?? 0) * 1000, usage_in_usermode: (c.user_usec ?? 0) * 1000 },
      system_cpu_usage: 0,
      online_cpus: cpus().length,
      throttling_data: { periods: c.nr_periods ?? 0, throttled_periods: c.nr_throttled ?? 0, throttled_time: (c.throttled_usec ?? 0) * 1000 },
    },
    memory_stats: { usage: memCur, limit: max && max !== 'max' ? Number(max) : totalmem(), stats: keyValues(memStat) },
    pids_stats: { current: pids, ...(pidsMax && pidsMax.trim() !== 'max' ? { limit: Number(pidsMax.trim()) } : {}) },
    blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
  };
}

/** One sample; `prev` (the sample before, if any) fills precpu_stats as Docker does. */
export async function sampleStats(
  c: { id: string; name: string; pid: number; cgroup: string; cgroupV2: boolean },
  prev?: ContainerStats,
): Promise<ContainerStats> {
  const [usage, system, networks] = await Promise.all([c.cgroupV2 ? v2(c.cgroup) : v1(c.cgroup), systemCpuUsage(), c.pid ? networkCounters(c.pid) : undefined]);
  usage.cpu_stats.system_cpu_usage = system;
  return {
    read: new Date().toISOString(),
    preread: prev?.read ?? ZERO_TIME,
    ...usage,
    num_procs: 0,
    storage_stats: {},
    precpu_stats: prev?.cpu_stats ?? {},
    name: c.name,
    id: c.id,
    ...(networks ? { networks } : {}),
  };
}

/** Zero stats for a container that is not running (Docker sends these too). */
export function emptyStats(id: string, name: string): ContainerStats {
  const cpu: CpuStats = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 0, online_cpus: 0, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: cpu,
    memory_stats: {},
    name,
    id,
  };
}
