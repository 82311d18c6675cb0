/**
 * Docker-format seccomp profiles (archMap + rules with includes/excludes by
 * arch, capability and kernel) resolved into the plain OCI `linux.seccomp`
 * runc understands — the same filtering moby/profiles' setupSeccomp does.
 */
import { InvalidArgumentError } from '../errors';
import type { OciSeccomp, OciSeccompAction, OciSeccompArg, OciSyscall } from './oci-types';
import embeddedDefault from './seccomp-default.json';

export interface DockerSeccompFilter {
  caps?: string[];
  arches?: string[];
  /** "<kernel>.<major>", e.g. "4.8" */
  minKernel?: string;
}

export interface DockerSeccompRule {
  names?: string[];
  /** Deprecated single-name form still accepted by Docker. */
  name?: string;
  action: OciSeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: DockerSeccompFilter;
  excludes?: DockerSeccompFilter;
}

export interface DockerSeccompArch {
  architecture: string;
  subArchitectures: string[] | null;
}

export interface DockerSeccompProfile {
  defaultAction?: OciSeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[] | null;
  archMap?: DockerSeccompArch[] | null;
  flags?: string[] | null;
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: DockerSeccompRule[] | null;
}

export interface SeccompContext {
  /** process.arch (Go GOARCH and libseccomp names are accepted too). */
  arch: string;
  /** The container's bounding capabilities, `CAP_`-prefixed. */
  capabilities: string[];
  /** os.release() */
  kernel: string;
  /**
   * Arches the kernel cannot execute (x32 on kernels built without it). Their
   * syscalls fail before any filter matters, and each arch in a filter costs
   * runc ~8 ms of libseccomp compilation per container start (measured).
   */
  deadArches?: string[];
}

let cachedDefault: DockerSeccompProfile | undefined;

/** Docker's default profile (moby/profiles seccomp/default.json), embedded at build time. */
export function defaultSeccompProfile(): DockerSeccompProfile {
  cachedDefault ??= parseSeccompProfile(JSON.stringify(embeddedDefault));
  // Callers may mutate what they get; hand out a copy.
  return structuredClone(cachedDefault);
}

// Node's process.arch → libseccomp's native arch name (moby's goToNative;
// Go names map the same way). Node's 'ppc64' on Linux is little-endian.
const nodeToNative: Record<string, string> = {
  x64: 'amd64',
  amd64: 'amd64',
  ia32: 'x86',
  '386': 'x86',
  x86: 'x86',
  arm: 'arm',
  arm64: 'arm64',
  loong64: 'loong64',
  mips64: 'mips64',
  mips64le: 'mipsel64',
  mipsel: 'mipsel',
  mipsle: 'mipsel',
  ppc: 'ppc',
  ppc64: 'ppc64le',
  ppc64le: 'ppc64le',
  riscv64: 'riscv64',
  s390: 's390',
  s390x: 's390x',
};

const nativeToSeccomp: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  loong64: 'SCMP_ARCH_LOONGARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mipsel64n32: 'SCMP_ARCH_MIPSEL64N32',
  mipsel: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
};

/** libseccomp's name for an arch given as Node, Go or libseccomp spelling ('' if unknown). */
export function nativeArch(arch: string): string {
  return nodeToNative[arch] ?? '';
}

interface KernelVersion {
  kernel: number;
  major: number;
}

/** Host release → kernel/major, ignoring the rest ("6.1.0-13-amd64" → 6.1), like moby's parseRelease. */
function parseRelease(release: string): KernelVersion {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) throw new InvalidArgumentError(`failed to parse kernel version "${release}"`);
  return { kernel: Number(m[1]), major: Number(m[2]) };
}

function parseMinKernel(v: string): KernelVersion {
  const bad = (why = '') => new InvalidArgumentError(`invalid kernel version: "${v}", expected "<kernel>.<major>"${why}`);
  const parts = v.split('.');
  if (parts.length !== 2 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) throw bad();
  const k = { kernel: Number(parts[0]), major: Number(parts[1]) };
  if (k.kernel === 0 && k.major === 0) throw bad(': version cannot be 0.0');
  return k;
}

function kernelAtLeast(host: KernelVersion, min: KernelVersion): boolean {
  return host.kernel > min.kernel || (host.kernel === min.kernel && host.major >= min.major);
}

/**
 * Resolves a Docker-format profile for one container: keeps the rules whose
 * includes all match and whose excludes none match, and expands archMap for
 * the host arch. Returns undefined for a profile with neither defaultAction
 * nor syscalls (Docker treats that as "seccomp disabled").
 */
export function resolveSeccompProfile(profile: DockerSeccompProfile, ctx: SeccompContext): OciSeccomp | undefined {
  const rules = profile.syscalls ?? [];
  if (!profile.defaultAction && rules.length === 0) return undefined;
  if (!profile.defaultAction) throw new InvalidArgumentError('seccomp profile has no defaultAction');
  if ((profile.architectures?.length ?? 0) > 0 && (profile.archMap?.length ?? 0) > 0) {
    throw new InvalidArgumentError(
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
  }

  const arch = nativeArch(ctx.arch);
  const caps = new Set(ctx.capabilities);
  let host: KernelVersion | undefined;
  const hostKernel = () => (host ??= parseRelease(ctx.kernel));

  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;

  const architectures = [...(profile.architectures ?? [])];
  const seccompArch = nativeToSeccomp[arch];
  const entry = seccompArch ? profile.archMap?.find((a) => a.architecture === seccompArch) : undefined;
  if (entry) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));
  const dead = new Set(ctx.deadArches ?? []);
  const live = architectures.filter((a) => !dead.has(a));
  if (live.length > 0) out.architectures = live;
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  const syscalls: OciSyscall[] = [];
  for (const rule of rules) {
    if (rule.name && rule.names && rule.names.length > 0) {
      throw new InvalidArgumentError(
        "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'",
      );
    }
    const ex = rule.excludes;
    if (ex) {
      if (ex.arches?.includes(arch)) continue;
      if (ex.caps?.some((c) => caps.has(c))) continue;
      if (ex.minKernel && kernelAtLeast(hostKernel(), parseMinKernel(ex.minKernel))) continue;
    }
    const inc = rule.includes;
    if (inc) {
      if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(arch)) continue;
      if (inc.caps?.some((c) => !caps.has(c))) continue;
      if (inc.minKernel && !kernelAtLeast(hostKernel(), parseMinKernel(inc.minKernel))) continue;
    }
    const sc: OciSyscall = { names: rule.name ? [rule.name] : [...(rule.names ?? [])], action: rule.action };
    if (rule.errnoRet !== undefined) sc.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length > 0) {
      sc.args = rule.args.map((a) => {
        const arg: OciSeccompArg = { index: a.index, value: a.value, op: a.op };
        if (a.valueTwo) arg.valueTwo = a.valueTwo; // omitempty, like Go
        return arg;
      });
    }
    syscalls.push(sc);
  }
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}

const actions = new Set<string>([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const operators = new Set<string>([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

type Json = unknown;
const isObj = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and shape-checks a user-supplied profile (`--security-opt
 * seccomp=file.json`, sent by the CLI as JSON text), so a typo fails at
 * create time with Docker's message prefix instead of inside runc.
 */
export function parseSeccompProfile(text: string): DockerSeccompProfile {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`Decoding seccomp profile failed: ${why}`);
  };
  let raw: Json;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  if (!isObj(raw)) return fail('profile must be a JSON object');

  const strList = (v: Json, what: string): string[] | null | undefined => {
    if (v === undefined || v === null) return v;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return fail(`${what} must be a list of strings`);
    return v as string[];
  };
  const uint = (v: Json, what: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return fail(`${what} must be a non-negative integer`);
    return v;
  };
  const action = (v: Json, what: string): OciSeccompAction => {
    if (typeof v !== 'string' || !actions.has(v)) return fail(`${what}: unknown action ${JSON.stringify(v)}`);
    return v as OciSeccompAction;
  };
  const filter = (v: Json, what: string): DockerSeccompFilter | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) return fail(`${what} must be an object`);
    const f: DockerSeccompFilter = {};
    const caps = strList(v.caps, `${what}.caps`);
    const arches = strList(v.arches, `${what}.arches`);
    if (caps) f.caps = caps;
    if (arches) f.arches = arches;
    if (v.minKernel !== undefined && v.minKernel !== null && v.minKernel !== '') {
      if (typeof v.minKernel !== 'string') return fail(`${what}.minKernel must be a string`);
      parseMinKernel(v.minKernel);
      f.minKernel = v.minKernel;
    }
    return f;
  };

  const p: DockerSeccompProfile = {};
  if (raw.defaultAction !== undefined && raw.defaultAction !== '') p.defaultAction = action(raw.defaultAction, 'defaultAction');
  const der = uint(raw.defaultErrnoRet, 'defaultErrnoRet');
  if (der !== undefined) p.defaultErrnoRet = der;
  const archs = strList(raw.architectures, 'architectures');
  if (archs) p.architectures = archs;
  const flags = strList(raw.flags, 'flags');
  if (flags) p.flags = flags;
  if (typeof raw.listenerPath === 'string') p.listenerPath = raw.listenerPath;
  if (typeof raw.listenerMetadata === 'string') p.listenerMetadata = raw.listenerMetadata;

  if (raw.archMap !== undefined && raw.archMap !== null) {
    if (!Array.isArray(raw.archMap)) return fail('archMap must be a list');
    p.archMap = raw.archMap.map((a, i) => {
      if (!isObj(a) || typeof a.architecture !== 'string') return fail(`archMap[${i}].architecture must be a string`);
      return { architecture: a.architecture, subArchitectures: strList(a.subArchitectures, `archMap[${i}].subArchitectures`) ?? null };
    });
  }

  if (raw.syscalls !== undefined && raw.syscalls !== null) {
    if (!Array.isArray(raw.syscalls)) return fail('syscalls must be a list');
    p.syscalls = raw.syscalls.map((r, i): DockerSeccompRule => {
      const at = `syscalls[${i}]`;
      if (!isObj(r)) return fail(`${at} must be an object`);
      const rule: DockerSeccompRule = { action: action(r.action, `${at}.action`) };
      const names = strList(r.names, `${at}.names`);
      if (names) rule.names = names;
      if (r.name !== undefined && r.name !== null && r.name !== '') {
        if (typeof r.name !== 'string') return fail(`${at}.name must be a string`);
        rule.name = r.name;
      }
      const er = uint(r.errnoRet, `${at}.errnoRet`);
      if (er !== undefined) rule.errnoRet = er;
      if (typeof r.comment === 'string') rule.comment = r.comment;
      const inc = filter(r.includes, `${at}.includes`);
      const exc = filter(r.excludes, `${at}.excludes`);
      if (inc) rule.includes = inc;
      if (exc) rule.excludes = exc;
      if (r.args !== undefined && r.args !== null) {
        if (!Array.isArray(r.args)) return fail(`${at}.args must be a list`);
        rule.args = r.args.map((a, j): OciSeccompArg => {
          const aat = `${at}.args[${j}]`;
          if (!isObj(a)) return fail(`${aat} must be an object`);
          if (typeof a.op !== 'string' || !operators.has(a.op)) return fail(`${aat}: unknown operator ${JSON.stringify(a.op)}`);
          const arg: OciSeccompArg = {
            index: uint(a.index, `${aat}.index`) ?? 0,
            value: uint(a.value, `${aat}.value`) ?? 0,
            op: a.op as OciSeccompArg['op'],
          };
          const v2 = uint(a.valueTwo, `${aat}.valueTwo`);
          if (v2) arg.valueTwo = v2;
          return arg;
        });
      }
      return rule;
    });
  }
  return p;
}
