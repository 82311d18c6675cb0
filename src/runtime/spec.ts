/**
 * Container settings → the OCI runtime-spec `config.json` runc gets, built the
 * way dockerd builds it (moby daemon/pkg/oci/defaults.go DefaultLinuxSpec,
 * then daemon/oci_linux.go's spec options in createSpec's order).
 *
 * buildRuntimeSpec is a pure function of its input plus a few host facts
 * (kernel, arch, caps of the daemon, cgroup mode, ...) that are probed once
 * and can be passed in explicitly, so tests get the same spec everywhere.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type {
  OciCapabilities,
  OciCpu,
  OciDeviceCgroup,
  OciLinuxDevice,
  OciMemory,
  OciMount,
  OciNamespace,
  OciRlimit,
  OciSeccomp,
  OciSpec,
} from './oci-types';
import { defaultSeccompProfile, parseSeccompProfile, resolveSeccompProfile } from './seccomp';
import { kernelHasX32 } from '../sys/libc';

export type { OciSpec } from './oci-types';

export interface RuntimeSpecInput {
  /** Absolute host path of the container's mounted rootfs (overlay merged dir). */
  rootfs: string;
  readonlyRootfs: boolean;
  /** Entrypoint + cmd, non-empty. */
  args: string[];
  /** 'K=V', used verbatim. */
  env: string[];
  /** Absolute; '/' by default. */
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[]; umask?: number };
  hostname: string;
  domainname?: string;
  terminal: boolean;
  privileged: boolean;
  /** 'NET_ADMIN', 'CAP_NET_ADMIN' or 'ALL' (any case). */
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  /** A custom profile is Docker's format as JSON text. */
  seccomp: 'default' | 'unconfined' | { profileJson: string };
  resources: {
    memory?: number;
    memorySwap?: number;
    memoryReservation?: number;
    cpuShares?: number;
    cpuQuota?: number;
    cpuPeriod?: number;
    cpusetCpus?: string;
    pidsLimit?: number;
    oomKillDisable?: boolean;
  };
  /** 'none' and 'private' both get a new netns ('none' = just loopback); 'path' joins one. */
  network: { mode: 'none' | 'host' | 'private' } | { mode: 'path'; nsPath: string };
  /** 'none': a namespace of its own without /dev/shm; 'path': join another container's (`--ipc container:`). */
  ipc: 'private' | 'host' | 'none' | { path: string };
  /** A host directory bound at /dev/shm instead of a fresh tmpfs: a shareable container's shm, or its donor's. */
  shmSource?: string;
  /** 'path': join another container's pid namespace (`--pid container:<name>`). */
  pid: 'private' | 'host' | { path: string };
  uts: 'private' | 'host';
  /** Volumes, binds, tmpfs; a mount at a default destination replaces the default. */
  mounts: Array<{ destination: string; source: string; type: string; options: string[] }>;
  /** Host files bind-mounted at /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  hostsFile?: string;
  resolvConf?: string;
  hostnameFile?: string;
  /** Bytes; 64 MiB by default. */
  shmSize?: number;
  /** cgroupfs style, e.g. '/berth/<id>'. */
  cgroupsPath: string;
  /** --init: bind this static init at /sbin/docker-init and run the command under it. */
  init?: { hostPath: string };
  sysctls?: Record<string, string>;
  ulimits?: Array<{ name: string; soft: number; hard: number }>;
  oomScoreAdj?: number;
  devices?: Array<{ pathOnHost: string; pathInContainer: string; permissions: string }>;
  annotations?: Record<string, string>;
}

/** What the spec depends on besides the input. probeHost() reads them from this machine. */
export interface HostFacts {
  /** process.arch */
  arch: string;
  /** os.release() */
  kernel: string;
  /** Capabilities the daemon holds: what --privileged and --cap-add ALL grant. */
  capabilities: string[];
  /** Seccomp arches this kernel can't run (x32 without CONFIG_X86_X32_ABI): left out of filters. */
  deadSeccompArches?: string[];
  /** /sys/fs/cgroup is cgroup2 (Docker then gives containers a private cgroupns). */
  cgroupV2: boolean;
  /** The memory controller can limit swap (memsw on v1); otherwise Docker drops the swap limit. */
  swapLimit: boolean;
  /** /sys/devices/system/cpu/cpuN/thermal_throttle dirs present here, masked like Docker does. */
  thermalThrottlePaths: string[];
  sysctlExists(name: string): boolean;
  /** Device nodes under /dev, for --privileged. */
  hostDevices(): OciLinuxDevice[];
}

/** runc 1.1.5 reports spec 1.0.2-dev (`runc --version`); Docker writes the version its runtime-spec module has. */
export const OCI_VERSION = '1.0.2-dev';

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
const INIT_PATH = '/sbin/docker-init';

/** moby daemon/pkg/oci/caps/defaults.go, in that order. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every Linux capability by number (0..40), as runc 1.1.5 knows them (`runc features`). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** moby defaultLinuxMaskedPaths (thermal_throttle dirs are added per host). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/**
 * Docker's device cgroup rules: deny all, allow null/zero/urandom/random/
 * tty/console, deny fuse. runc adds its own default devices on top.
 */
function defaultDeviceRules(): OciDeviceCgroup[] {
  const allow = (major: number, minor: number, allowed = true): OciDeviceCgroup => ({
    allow: allowed,
    type: 'c',
    major,
    minor,
    access: 'rwm',
  });
  return [
    { allow: false, access: 'rwm' },
    allow(1, 5),
    allow(1, 3),
    allow(1, 9),
    allow(1, 8),
    allow(5, 0),
    allow(5, 1),
    allow(10, 229, false),
  ];
}

function defaultMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777'] },
  ];
}

// ---------------------------------------------------------------- capabilities

type CapField = 'CapAdd' | 'CapDrop';

function normalizeCapabilities(names: string[], available: readonly string[], field?: CapField): string[] {
  const out: string[] = [];
  for (const raw of names) {
    let c = raw.toUpperCase();
    if (c !== 'ALL') {
      if (!c.startsWith('CAP_')) c = `CAP_${c}`;
      let why = '';
      if (!KNOWN_CAPABILITIES.includes(c)) why = `unknown capability: "${c}"`;
      // An empty list means the daemon's caps are unknown: trust the name, like Docker.
      else if (available.length > 0 && !available.includes(c)) {
        why = `capability not supported by your kernel or not available in the current environment: "${c}"`;
      }
      if (why) throw new InvalidArgumentError(field ? `invalid ${field}: ${why}` : why);
    }
    out.push(c);
  }
  return out;
}

/**
 * Throws InvalidArgumentError for a capability name Docker would refuse
 * (`unknown capability: "CAP_FOO"`). Accepts 'ALL' and names with or
 * without `CAP_`, any case. `field` prefixes the message like dockerd's
 * create-time check ("invalid CapAdd: ...").
 */
export function validateCapabilities(names: string[], field?: CapField, host: Pick<HostFacts, 'capabilities'> = probeHost()): void {
  normalizeCapabilities(names, host.capabilities, field);
}

/** moby caps.TweakCapabilities: the container's capability set (bounding = effective = permitted). */
export function containerCapabilities(
  input: Pick<RuntimeSpecInput, 'capAdd' | 'capDrop' | 'privileged'>,
  host: Pick<HostFacts, 'capabilities'> = probeHost(),
): string[] {
  const all = host.capabilities;
  if (input.privileged) return [...all];
  if (input.capAdd.length === 0 && input.capDrop.length === 0) return [...DEFAULT_CAPABILITIES];
  const drop = normalizeCapabilities(input.capDrop, all, 'CapDrop');
  const add = normalizeCapabilities(input.capAdd, all, 'CapAdd');
  let caps: string[];
  if (add.includes('ALL')) caps = all.filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  // Docker may list a cap twice (added and default); runc does not care, a set reads better.
  return [...new Set(caps)];
}

// ---------------------------------------------------------------- host facts

let probed: HostFacts | undefined;

/** This machine's facts, probed once per process. */
export function probeHost(): HostFacts {
  probed ??= {
    arch: process.arch,
    kernel: os.release(),
    capabilities: daemonCapabilities(),
    deadSeccompArches: process.arch === 'x64' && !kernelHasX32() ? ['SCMP_ARCH_X32'] : [],
    cgroupV2: isCgroup2('/sys/fs/cgroup'),
    swapLimit: isCgroup2('/sys/fs/cgroup') || fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
    thermalThrottlePaths: thermalThrottlePaths(),
    sysctlExists: (name) => fs.existsSync(path.join('/proc/sys', name.replaceAll('.', '/'))),
    hostDevices: () => listDevices('/dev'),
  };
  return probed;
}

/** Known caps the daemon has in CapEff (containerd cap.Current); all of them if that can't be read. */
function daemonCapabilities(): string[] {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!m) return [...KNOWN_CAPABILITIES];
    const eff = BigInt(`0x${m[1]}`);
    return KNOWN_CAPABILITIES.filter((_, i) => (eff >> BigInt(i)) & 1n);
  } catch {
    return [...KNOWN_CAPABILITIES];
  }
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

function isCgroup2(dir: string): boolean {
  try {
    return fs.statfsSync(dir).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

// GHSA-6fw5-f8r9-fgfm: Docker masks each possible CPU's thermal_throttle dir that exists.
function thermalThrottlePaths(): string[] {
  let possible: string;
  try {
    possible = fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const part of possible.split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) continue;
    for (let cpu = lo; cpu <= hi && cpu - lo < 65536; cpu++) {
      const p = `/sys/devices/system/cpu/cpu${cpu}/thermal_throttle`;
      if (fs.existsSync(p)) out.push(p);
    }
  }
  return out;
}

// ---------------------------------------------------------------- devices

function splitDev(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

/** containerd oci.DeviceFromPath: the node at `p` (not following symlinks), or undefined if it is not a device. */
function deviceFromPath(p: string): OciLinuxDevice | undefined {
  const st = fs.lstatSync(p, { bigint: true });
  let type: string;
  if (st.isBlockDevice()) type = 'b';
  else if (st.isCharacterDevice()) type = 'c';
  else if (st.isFIFO()) type = 'p';
  else return undefined;
  return {
    path: p,
    type,
    ...splitDev(st.rdev),
    fileMode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** containerd getDevices("/dev"): every device node for a privileged container. */
function listDevices(dir: string): OciLinuxDevice[] {
  const out: OciLinuxDevice[] = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) {
      if (['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(ent.name)) continue;
      out.push(...listDevices(p));
      continue;
    }
    if (ent.name === 'console') continue;
    let d: OciLinuxDevice | undefined;
    try {
      d = deviceFromPath(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (d && d.type !== 'p') out.push(d);
  }
  return out;
}

/** moby oci.DevicesFromPath: `--device host[:container[:perms]]`, a node or a directory of nodes. */
function devicesFromPath(
  onHost: string,
  inContainer: string,
  access: string,
): { devices: OciLinuxDevice[]; rules: OciDeviceCgroup[] } {
  const devices: OciLinuxDevice[] = [];
  const rules: OciDeviceCgroup[] = [];
  const add = (d: OciLinuxDevice, p: string) => {
    devices.push({ ...d, path: p });
    rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access });
  };
  let resolved = onHost;
  let failure = 'not a device node';
  try {
    if (fs.lstatSync(onHost).isSymbolicLink()) resolved = fs.realpathSync(onHost);
    const d = deviceFromPath(resolved);
    if (d) {
      add(d, inContainer);
    } else if (fs.statSync(resolved).isDirectory()) {
      const walk = (dir: string) => {
        for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
          const p = path.join(dir, ent.name);
          if (ent.isDirectory()) walk(p);
          else {
            const child = deviceFromPath(p);
            if (child) add(child, p.replace(resolved, inContainer));
          }
        }
      };
      walk(resolved);
    }
  } catch (e) {
    failure = (e as Error).message;
  }
  if (devices.length === 0) {
    throw new InvalidArgumentError(`error gathering device information while adding custom device "${onHost}": ${failure}`);
  }
  return { devices, rules };
}

// ---------------------------------------------------------------- mounts

function cleanDest(p: string): string {
  const c = path.posix.normalize(p);
  return c.length > 1 && c.endsWith('/') ? c.slice(0, -1) : c;
}

function depth(p: string): number {
  return (cleanDest(p).match(/\//g) ?? []).length;
}

function withoutRo(m: OciMount): void {
  if (m.options) m.options = m.options.filter((o) => o !== 'ro');
}

/** moby withMounts (plus the --init bind from withCommonOptions, which lands among the defaults). */
function buildMounts(input: RuntimeSpecInput, initBind: OciMount | undefined): OciMount[] {
  for (const m of input.mounts) {
    if (!path.posix.isAbsolute(m.destination)) {
      throw new InvalidArgumentError(`invalid mount config: mount path must be absolute: "${m.destination}"`);
    }
    if (cleanDest(m.destination) === '/') throw new InvalidArgumentError(`invalid mount config: destination can't be '/'`);
  }
  const user: OciMount[] = input.mounts.map((m) => ({
    destination: m.destination,
    type: m.type,
    source: m.source,
    options: [...m.options],
  }));
  const has = (dest: string) => user.some((m) => cleanDest(m.destination) === dest);

  // The engine's /etc files are mounts like volumes; a user mount on the same path wins.
  const fileOpts = input.readonlyRootfs ? ['rbind', 'ro', 'rprivate'] : ['rbind', 'rprivate'];
  const files: OciMount[] = [];
  for (const [dest, src] of [
    ['/etc/resolv.conf', input.resolvConf],
    ['/etc/hostname', input.hostnameFile],
    ['/etc/hosts', input.hostsFile],
  ] as const) {
    if (src && !has(dest)) files.push({ destination: dest, type: 'bind', source: src, options: [...fileOpts] });
  }
  if (!has('/dev/shm')) {
    const shm = input.ipc === 'host' ? '/dev/shm' : input.shmSource;
    if (shm) files.push({ destination: '/dev/shm', type: 'bind', source: shm, options: ['rbind', 'rprivate'] });
  }
  const extra = [...user, ...files];
  const userDests = new Set(extra.map((m) => cleanDest(m.destination)));
  // Parents before children so no mount hides another (moby sortMounts; stable here).
  extra.sort((a, b) => depth(a.destination) - depth(b.destination));

  const userDev = userDests.has('/dev');
  const shmSize = input.shmSize && input.shmSize > 0 ? input.shmSize : DEFAULT_SHM_SIZE;
  const mounts: OciMount[] = [];
  for (const m of initBind ? [...defaultMounts(), initBind] : defaultMounts()) {
    if (userDests.has(m.destination)) continue;
    if (userDev && m.destination.startsWith('/dev/')) continue;
    // Docker's --ipc none: no /dev/shm at all.
    if (m.destination === '/dev/shm' && input.ipc === 'none') continue;
    if (m.destination === '/dev/shm') m.options = [...(m.options ?? []), `size=${shmSize}`];
    mounts.push(m);
  }
  mounts.push(...extra);

  if (input.readonlyRootfs) {
    for (const m of mounts) {
      if (['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev'].includes(m.destination)) continue;
      if (userDests.has(cleanDest(m.destination))) continue;
      if (!m.options?.includes('ro')) m.options = [...(m.options ?? []), 'ro'];
    }
  }
  if (input.privileged) {
    // Privileged: writable /sys and cgroupfs.
    for (const m of mounts) if (m.destination === '/sys' || m.type === 'cgroup') withoutRo(m);
  }
  return mounts;
}

// ---------------------------------------------------------------- resources

function buildMemory(r: RuntimeSpecInput['resources'], host: HostFacts): OciMemory | undefined {
  const mem: OciMemory = {};
  if (r.memory && r.memory > 0) mem.limit = r.memory;
  if (r.memoryReservation && r.memoryReservation > 0) mem.reservation = r.memoryReservation;
  let swap = r.memorySwap ?? 0;
  // adaptContainerSettings: swap defaults to twice the memory limit; verifyPlatformContainerResources
  // drops it when the kernel cannot limit swap.
  if (r.memory && r.memory > 0 && swap === 0) swap = r.memory * 2;
  if (r.memory && r.memory > 0 && !host.swapLimit) swap = -1;
  if (swap > 0) mem.swap = swap;
  if (r.oomKillDisable !== undefined) mem.disableOOMKiller = r.oomKillDisable;
  return Object.keys(mem).length > 0 ? mem : undefined;
}

function buildCpu(r: RuntimeSpecInput['resources']): OciCpu | undefined {
  const cpu: OciCpu = {};
  if (r.cpuShares) {
    if (r.cpuShares < 0) throw new InvalidArgumentError(`invalid CPU shares (${r.cpuShares}): value must be a positive integer`);
    cpu.shares = r.cpuShares;
  }
  if (r.cpuQuota) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  return Object.keys(cpu).length > 0 ? cpu : undefined;
}

const ULIMIT_NAMES = new Set([
  'as',
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);
const RLIM_INFINITY = 2n ** 64n - 1n;

function buildRlimits(ulimits: RuntimeSpecInput['ulimits']): OciRlimit[] {
  return (ulimits ?? []).map((u) => {
    if (!ULIMIT_NAMES.has(u.name)) throw new InvalidArgumentError(`invalid ulimit type: ${u.name}`);
    if (u.soft > u.hard) {
      throw new InvalidArgumentError(`ulimit soft limit must be less than or equal to hard limit: ${u.soft} > ${u.hard}`);
    }
    // Go's uint64(int64(-1)): a negative limit is RLIM_INFINITY.
    const v = (n: number): number | bigint => (n < 0 ? RLIM_INFINITY : n);
    return { type: `RLIMIT_${u.name.toUpperCase()}`, soft: v(u.soft), hard: v(u.hard) };
  });
}

// ---------------------------------------------------------------- the spec

/** The `config.json` Docker would hand runc for these settings. */
export function buildRuntimeSpec(input: RuntimeSpecInput, host: HostFacts = probeHost()): OciSpec {
  if (input.args.length === 0) throw new InvalidArgumentError('no command specified');
  const caps = containerCapabilities(input, host);

  // --init only makes sense as pid 1 of a private pid namespace (moby withCommonOptions).
  const init = input.pid === 'private' ? input.init : undefined;
  const initBind: OciMount | undefined = init
    ? { destination: INIT_PATH, type: 'bind', source: init.hostPath, options: ['bind', 'ro'] }
    : undefined;
  const args = init ? [INIT_PATH, '--', ...input.args] : [...input.args];

  const capabilities: OciCapabilities = {};
  if (caps.length > 0) {
    capabilities.bounding = [...caps];
    capabilities.effective = [...caps];
    capabilities.permitted = [...caps];
  }

  const additionalGids = input.user.additionalGids.includes(input.user.gid)
    ? [...input.user.additionalGids]
    : [input.user.gid, ...input.user.additionalGids];
  const rlimits = buildRlimits(input.ulimits);
  const mounts = buildMounts(input, initBind);
  const sysctl = buildSysctls(input, host);
  const devices = buildDevices(input, host);
  const memory = buildMemory(input.resources, host);
  const cpu = buildCpu(input.resources);
  const pidsLimit = input.resources.pidsLimit;
  const seccomp = buildSeccomp(input, caps, host);

  // Keys in runtime-spec's Go field order, so the file reads like Docker's.
  return {
    ociVersion: OCI_VERSION,
    process: {
      ...(input.terminal ? { terminal: true } : {}),
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.umask !== undefined ? { umask: input.user.umask } : {}),
        additionalGids,
      },
      args,
      env: [...input.env],
      cwd: input.cwd || '/',
      capabilities,
      ...(rlimits.length > 0 ? { rlimits } : {}),
      ...(input.noNewPrivileges ? { noNewPrivileges: true } : {}),
      oomScoreAdj: input.oomScoreAdj ?? 0,
    },
    root: { path: input.rootfs, ...(input.readonlyRootfs ? { readonly: true } : {}) },
    ...(input.uts === 'private' && input.hostname ? { hostname: input.hostname } : {}),
    mounts,
    ...(input.annotations && Object.keys(input.annotations).length > 0 ? { annotations: { ...input.annotations } } : {}),
    linux: {
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      resources: {
        devices: devices.rules,
        ...(memory ? { memory } : {}),
        ...(cpu ? { cpu } : {}),
        // 0 or negative means unlimited; runc wants -1 for that.
        ...(pidsLimit !== undefined ? { pids: { limit: pidsLimit > 0 ? pidsLimit : -1 } } : {}),
        blockIO: {},
      },
      cgroupsPath: input.cgroupsPath,
      namespaces: buildNamespaces(input, host),
      ...(devices.nodes.length > 0 ? { devices: devices.nodes } : {}),
      ...(seccomp ? { seccomp } : {}),
      ...(input.privileged
        ? {}
        : { maskedPaths: [...DEFAULT_MASKED_PATHS, ...host.thermalThrottlePaths], readonlyPaths: [...DEFAULT_READONLY_PATHS] }),
    },
  };
}

/** moby WithNamespaces on DefaultLinuxSpec's list (mount, network, uts, pid, ipc). */
function buildNamespaces(input: RuntimeSpecInput, host: HostFacts): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'mount' }];
  const net = input.network;
  if (net.mode === 'path') ns.push({ type: 'network', path: net.nsPath });
  else if (net.mode !== 'host') ns.push({ type: 'network' });
  if (input.uts !== 'host') ns.push({ type: 'uts' });
  if (typeof input.pid === 'object') ns.push({ type: 'pid', path: input.pid.path });
  else if (input.pid !== 'host') ns.push({ type: 'pid' });
  if (typeof input.ipc === 'object') ns.push({ type: 'ipc', path: input.ipc.path });
  else if (input.ipc !== 'host') ns.push({ type: 'ipc' });
  // Docker's default cgroupns mode is private on cgroup v2 only (host on v1, and for privileged on v1).
  if (host.cgroupV2) ns.push({ type: 'cgroup' });
  return ns;
}

function buildSysctls(input: RuntimeSpecInput, host: HostFacts): Record<string, string> {
  const s: Record<string, string> = {};
  // No OCI field for the NIS domain name in Docker's runtime; the sysctl does the same.
  if (input.domainname) s['kernel.domainname'] = input.domainname;
  if (input.network.mode !== 'host') {
    // Docker's "safe" network defaults: ping without CAP_NET_RAW, low ports without CAP_NET_BIND_SERVICE.
    if (host.sysctlExists('net.ipv4.ping_group_range')) s['net.ipv4.ping_group_range'] = '0 2147483647';
    if (host.sysctlExists('net.ipv4.ip_unprivileged_port_start')) s['net.ipv4.ip_unprivileged_port_start'] = '0';
  }
  // The user's values win over the defaults.
  return { ...s, ...(input.sysctls ?? {}) };
}

function buildDevices(input: RuntimeSpecInput, host: HostFacts): { nodes: OciLinuxDevice[]; rules: OciDeviceCgroup[] } {
  const nodes: OciLinuxDevice[] = [];
  if (input.privileged) {
    nodes.push(...host.hostDevices());
    for (const d of input.devices ?? []) {
      // Same path: already there through the host's /dev.
      if (d.pathOnHost === d.pathInContainer) continue;
      nodes.push(...devicesFromPath(d.pathOnHost, d.pathInContainer, 'rwm').devices);
    }
    return { nodes, rules: [{ allow: true, access: 'rwm' }] };
  }
  const rules = defaultDeviceRules();
  for (const d of input.devices ?? []) {
    const access = d.permissions || 'rwm';
    if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
      throw new InvalidArgumentError(`invalid device mode: ${access}`);
    }
    const found = devicesFromPath(d.pathOnHost, d.pathInContainer || d.pathOnHost, access);
    nodes.push(...found.devices);
    rules.push(...found.rules);
  }
  return { nodes, rules };
}

const resolvedDefaults = new Map<string, OciSeccomp | undefined>();

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** moby WithSeccomp: privileged and unconfined run without a filter unless a custom profile is given. */
function buildSeccomp(input: RuntimeSpecInput, caps: string[], host: HostFacts): OciSeccomp | undefined {
  if (input.seccomp === 'unconfined') return undefined;
  const ctx = { arch: host.arch, kernel: host.kernel, capabilities: caps, deadArches: host.deadSeccompArches };
  if (input.seccomp === 'default') {
    if (input.privileged) return undefined;
    // Resolved once per capability set: the default profile is large and every start needs it.
    const key = `${host.arch}|${host.kernel}|${(host.deadSeccompArches ?? []).join(',')}|${caps.join(',')}`;
    let resolved = resolvedDefaults.get(key);
    if (!resolved) {
      // Frozen: one object is shared by every spec made from it.
      resolved = deepFreeze(resolveSeccompProfile(defaultSeccompProfile(), ctx));
      if (resolvedDefaults.size > 64) resolvedDefaults.clear();
      resolvedDefaults.set(key, resolved);
    }
    return resolved;
  }
  return resolveSeccompProfile(parseSeccompProfile(input.seccomp.profileJson), ctx);
}

/**
 * config.json text for a spec. Unlike JSON.stringify it writes bigint values
 * (RLIM_INFINITY in rlimits) as exact integers.
 */
export function serializeRuntimeSpec(spec: OciSpec): string {
  return toJson(spec);
}

function toJson(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : toJson(x))).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function') continue;
      parts.push(`${JSON.stringify(k)}:${toJson(x)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
