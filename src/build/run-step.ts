/**
 * A RUN step: the command runs in an ephemeral container that runc starts in
 * the foreground (`runc run`), never through the container manager, so it
 * never shows in `ps`. Its rootfs is a sandbox overlay (rootfs.ts); the caller
 * packs the upper dir into the step's layer afterwards.
 *
 * Isolation is a normal container's: Docker's default capabilities and
 * seccomp profile, no privileged mode, a private network namespace with only
 * loopback unless the daemon allows host networking
 * (BERTH_BUILD_ALLOW_HOST_NETWORK=1; BuildKit's network.host entitlement).
 *
 * runc creates mount-point stubs (/proc, /dev, /sys, /etc/hosts, …) when the
 * image lacks them; they are removed from the upper dir afterwards so they do
 * not end up in the layer. The removal uses unlinkat on a dir fd opened with
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so a command that replaced /etc with a
 * symlink to a host dir cannot make the daemon delete host files
 * (CVE-2024-23652).
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, lstatSync, promises as fsp, readdirSync, readFileSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ForbiddenError, InvalidArgumentError } from '../errors';
import { Runc } from '../runtime/runc';
import { buildRuntimeSpec, serializeRuntimeSpec } from '../runtime/spec';
import { resolveUser } from '../runtime/user';
import { lstatInRoot, mkdirInRoot, openInRoot } from '../sys/inroot';
import {
  AT_FDCWD,
  AT_REMOVEDIR,
  O_CLOEXEC,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  lgetxattr,
  openat2,
  unlinkat,
} from '../sys/libc';
import { OVERLAY_OPAQUE_XATTR } from '../image/snapshot/whiteout';
import type { Sandbox } from './rootfs';
import type { MountTarget, RuntimeMount } from './run-mounts';

export const HOST_NETWORK_ENV = 'BERTH_BUILD_ALLOW_HOST_NETWORK';
const HOSTNAME = 'buildkitsandbox';
/** Deepest first: files before the dirs that may only exist because of them. */
const STUBS = ['etc/hosts', 'etc/resolv.conf', 'etc', 'proc', 'dev', 'sys'];
const HOSTS = '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n';

export interface RunStepOptions {
  sandbox: Sandbox;
  /** `<BERTH_RUN>/runc-build`. */
  runcRoot: string;
  args: string[];
  env: string[];
  /** USER of the stage ('' = root). */
  user: string;
  /** Absolute. */
  cwd: string;
  network: 'none' | 'host';
  onOutput: (data: Buffer) => void;
  onStart?: (id: string) => void;
  signal?: AbortSignal;
  /** RUN --mount mounts, and their mount points (made for the step only). */
  mounts?: RuntimeMount[];
  mountTargets?: MountTarget[];
}

export class RunFailedError extends InvalidArgumentError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The network a step gets: `none` unless host networking was asked for and the daemon allows it. */
export function stepNetwork(requested: string | undefined): 'none' | 'host' {
  if (!requested || requested === 'default' || requested === 'none' || requested === 'bridge') return 'none';
  if (requested !== 'host') throw new InvalidArgumentError(`network mode "${requested}" is not supported for builds (use none or host)`);
  if (process.env[HOST_NETWORK_ENV] !== '1') {
    throw new ForbiddenError(`network.host is not allowed for builds: start berthd with ${HOST_NETWORK_ENV}=1 to grant it`);
  }
  return 'host';
}

function existsInRoot(rootfs: string, path: string, follow = false): boolean {
  try {
    closeSync(openInRoot(rootfs, path, O_PATH | (follow ? 0 : constants.O_NOFOLLOW)));
    return true;
  } catch {
    return false;
  }
}

function createFileInRoot(rootfs: string, path: string): void {
  const root = openat2(AT_FDCWD, rootfs, O_PATH | constants.O_DIRECTORY | O_CLOEXEC, 0, 0);
  try {
    const flags = constants.O_CREAT | constants.O_WRONLY | constants.O_NOFOLLOW | O_CLOEXEC;
    closeSync(openat2(root, path.replace(/^\/+/, ''), flags, 0o644, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
  } finally {
    closeSync(root);
  }
}

/** Runs the command to its end; a non-zero exit (or a container that cannot start) is a RunFailedError. */
export async function runStep(o: RunStepOptions): Promise<void> {
  const { sandbox } = o;
  const rootfs = sandbox.rootfs;
  const user = await resolveUser(rootfs, o.user);
  const env = o.env.some((kv) => kv.startsWith('HOME=')) ? o.env : [...o.env, `HOME=${user.home || '/'}`];
  if (o.cwd !== '/') mkdirInRoot(rootfs, o.cwd);
  const missing = STUBS.filter((s) => !existsInRoot(rootfs, s));
  const etcBefore = lstatInRoot(rootfs, 'etc');
  const targetStubs = makeTargetStubs(rootfs, o.mountTargets ?? []);

  const hosts = join(sandbox.dir, 'hosts');
  const resolv = join(sandbox.dir, 'resolv.conf');
  await fsp.writeFile(hosts, o.network === 'host' ? readFileSync('/etc/hosts') : HOSTS, { mode: 0o644 });
  await fsp.writeFile(resolv, o.network === 'host' ? readFileSync('/etc/resolv.conf') : '', { mode: 0o644 });
  const id = `berth-build-${randomBytes(6).toString('hex')}`;
  const spec = buildRuntimeSpec({
    rootfs,
    readonlyRootfs: false,
    args: o.args,
    env,
    cwd: o.cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    hostname: HOSTNAME,
    terminal: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    noNewPrivileges: false,
    seccomp: 'default',
    resources: {},
    network: { mode: o.network },
    ipc: 'private',
    pid: 'private',
    uts: 'private',
    mounts: o.mounts ?? [],
    hostsFile: hosts,
    resolvConf: resolv,
    cgroupsPath: `/berth-build/${id}`,
  });
  const bundle = join(sandbox.dir, 'bundle');
  await fsp.mkdir(bundle, { mode: 0o700 });
  await fsp.writeFile(join(bundle, 'config.json'), serializeRuntimeSpec(spec), { mode: 0o600 });
  const log = join(sandbox.dir, 'runc.log');
  o.onStart?.(id);
  try {
    const code = await runRunc(new Runc(o.runcRoot), o.runcRoot, id, bundle, log, o);
    if (code !== 0) throw new RunFailedError(runcError(log) ?? '', code);
  } finally {
    await sandbox.unmount();
    removeStubs(sandbox.upper, targetStubs.stubs);
    for (const [path, before] of targetStubs.copiedUp) removeCopiedUpDir(sandbox.upper, path, before);
    removeStubs(sandbox.upper, missing);
    if (etcBefore && missing.some((m) => m.startsWith('etc/'))) removeCopiedUpDir(sandbox.upper, 'etc', etcBefore);
  }
}

/**
 * Mount points for RUN --mount targets the image lacks, made before the run
 * (so we know exactly which) and removed after it, with the parent dirs that
 * overlay copied up only for them: BuildKit's stub cleaner leaves no trace of
 * a mount in the layer either. Deepest first.
 */
function makeTargetStubs(rootfs: string, targets: MountTarget[]): { stubs: string[]; copiedUp: Array<[string, Stats]> } {
  const stubs = new Set<string>();
  const copiedUp = new Map<string, Stats>();
  for (const t of targets) {
    const parts = t.path.split('/').filter(Boolean);
    let firstMissing = parts.length;
    for (let i = 0; i < parts.length; i++) {
      if (!existsInRoot(rootfs, parts.slice(0, i + 1).join('/'), true)) {
        firstMissing = i;
        break;
      }
    }
    if (firstMissing === parts.length) continue;
    for (let i = 0; i < firstMissing; i++) {
      const p = parts.slice(0, i + 1).join('/');
      const st = lstatInRoot(rootfs, p);
      if (st?.isDirectory() && !copiedUp.has(p)) copiedUp.set(p, st);
    }
    for (let i = firstMissing; i < parts.length; i++) stubs.add(parts.slice(0, i + 1).join('/'));
    const dir = t.file ? parts.slice(0, -1).join('/') : t.path;
    if (dir) mkdirInRoot(rootfs, dir);
    if (t.file) createFileInRoot(rootfs, t.path);
  }
  const deepestFirst = (a: string, b: string) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1);
  return { stubs: [...stubs].sort(deepestFirst), copiedUp: [...copiedUp].sort((a, b) => deepestFirst(a[0], b[0])) };
}


/**
 * A lower dir that overlay copied up only because a stub was created in it
 * (busybox's /etc gets /etc/hosts): gone again if it is empty, not opaque and
 * has its old owner and mode.
 */
function removeCopiedUpDir(upper: string, path: string, before: Stats): void {
  const i = path.lastIndexOf('/');
  const leaf = path.slice(i + 1);
  let root: number;
  const top = openat2(AT_FDCWD, upper, O_PATH | constants.O_DIRECTORY | O_CLOEXEC, 0, 0);
  try {
    // The command may have swapped a dir for a symlink to the host: never follow one.
    root = openat2(top, i < 0 ? '.' : path.slice(0, i), O_PATH | constants.O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  } catch {
    return;
  } finally {
    closeSync(top);
  }
  try {
    const st = lstatAt(root, leaf);
    if (!st?.isDirectory() || st.mode !== before.mode || st.uid !== before.uid || st.gid !== before.gid) return;
    const p = `/proc/self/fd/${root}/${leaf}`;
    if (readdirSync(p).length > 0 || lgetxattr(p, OVERLAY_OPAQUE_XATTR)?.toString() === 'y') return;
    unlinkat(root, leaf, AT_REMOVEDIR);
  } catch {
    // keep it
  } finally {
    closeSync(root);
  }
}

function runRunc(runc: Runc, root: string, id: string, bundle: string, log: string, o: RunStepOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runc.bin, ['--root', root, '--log', log, '--log-format', 'json', 'run', '--bundle', bundle, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onAbort = () => void runc.kill(id, 'KILL', true).catch(() => undefined);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort();
    child.stdout.on('data', (d: Buffer) => o.onOutput(d));
    child.stderr.on('data', (d: Buffer) => o.onOutput(d));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      o.signal?.removeEventListener('abort', onAbort);
      if (o.signal?.aborted) reject(o.signal.reason instanceof Error ? o.signal.reason : new Error('build canceled'));
      else resolve(code ?? (sig ? 128 + (osConstants.signals[sig] ?? 9) : 1));
    });
  });
}

/** runc's own error (not the command's), from its JSON log. */
function runcError(log: string): string | undefined {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return undefined;
  }
  const msgs: string[] = [];
  for (const line of text.split('\n')) {
    try {
      const l = JSON.parse(line) as { level?: string; msg?: string };
      if ((l.level === 'error' || l.level === 'fatal') && l.msg) msgs.push(l.msg);
    } catch {
      // not JSON
    }
  }
  return msgs.length ? msgs[msgs.length - 1] : undefined;
}

/** Removes the mount-point stubs runc made, only if they are still empty. */
function removeStubs(upper: string, stubs: string[]): void {
  if (stubs.length === 0) return;
  const root = openat2(AT_FDCWD, upper, O_PATH | constants.O_DIRECTORY | O_CLOEXEC, 0, 0);
  try {
    for (const stub of stubs) {
      const i = stub.lastIndexOf('/');
      const parentPath = i < 0 ? '.' : stub.slice(0, i);
      const leaf = stub.slice(i + 1);
      let parent: number;
      try {
        parent = openat2(root, parentPath, O_PATH | constants.O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
      } catch {
        continue;
      }
      try {
        const st = lstatAt(parent, leaf);
        if (!st) continue;
        if (st.isDirectory()) unlinkat(parent, leaf, AT_REMOVEDIR);
        else if (st.isFile() && st.size === 0) unlinkat(parent, leaf, 0);
      } catch {
        // not empty (the command put files there): keep it
      } finally {
        closeSync(parent);
      }
    }
  } finally {
    closeSync(root);
  }
}

function lstatAt(dirfd: number, leaf: string) {
  return lstatSync(`/proc/self/fd/${dirfd}/${leaf}`, { throwIfNoEntry: false });
}
