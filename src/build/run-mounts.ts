/**
 * RUN --mount: what each mount adds to the step's cache key, and the mounts
 * themselves for the RUN container.
 *
 * - bind: a read-only view of a path in the context (only what .dockerignore
 *   lets through) or in a stage/image; `rw` puts a throwaway upper dir on it.
 *   The key holds the content digest of the bound context files, or the
 *   stage's cache key / the image's ID.
 * - cache: a persistent dir per ID (cache-mounts.ts); its content is in no key.
 * - tmpfs: a tmpfs, `size` bytes at most.
 * - secret: a `--secret` value as a read-only file (default /run/secrets/<id>,
 *   mode 0400) and/or an environment variable; in no key, no layer.
 *
 * Views are overlay mounts made by berthd in their own temp dir; the source
 * is opened in-root first and handed to overlay as /proc/self/fd/N, so a
 * symlink (or a racing rename) in the context can never bind a host path.
 */
import { closeSync, constants, fstatSync, lchownSync, statSync, lutimesSync, chmodSync, mkdirSync, promises as fsp, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join, posix } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../errors';
import { removeTree } from '../image/snapshot/snapshotter';
import type { ImageRecord } from '../image/types';
import { openInRoot } from '../sys/inroot';
import { MNT_DETACH, MS_RDONLY, O_PATH, S_IFCHR, SysError, mknod, mountAsync, umount2Async } from '../sys/libc';
import type { CacheMountLease, CacheMounts } from './cache-mounts';
import { selectSources, type ContextEntry } from './context';
import type { Mount } from './dockerfile';
import { makeTempDir } from './rootfs';
import type { StageState } from './state';

/** One mount of the OCI spec (RuntimeSpecInput['mounts'][number]). */
export interface RuntimeMount {
  destination: string;
  source: string;
  type: string;
  options: string[];
}

/** A mount point the step needs in the rootfs; made for the step only (run-step.ts). */
export interface MountTarget {
  path: string;
  file: boolean;
}

export interface OpenMounts {
  mounts: RuntimeMount[];
  targets: MountTarget[];
  /** `NAME=value` for secrets exposed as environment variables (`env=`). */
  env: string[];
  /** Unmounts the views and gives back the cache dirs; idempotent. */
  close(): Promise<void>;
}

/** What the mounts need from the build around them. */
export interface MountEnv {
  tmpRoot: string;
  cacheMounts: CacheMounts;
  context(): Promise<{ dir: string; entries: ContextEntry[] }>;
  fromRef(ref: string): StageState | ImageRecord;
  dirsOf(st: Pick<StageState, 'layers' | 'diffIds'>): Promise<string[]>;
  /** The build's `--secret` values by ID. */
  secrets?: ReadonlyMap<string, Buffer>;
}

/** The RUN's mounts with absolute targets and defaults filled in; unsupported types fail here. */
export function checkMounts(mounts: readonly Mount[], workdir: string): Mount[] {
  const out = mounts.map((m) => {
    if (m.type === 'ssh') throw new InvalidArgumentError('RUN --mount=type=ssh is not supported by Berth yet (it needs SSH agent forwarding from the client)');
    if (m.type === 'secret') {
      // BuildKit: the ID defaults to the target's base name, the target to /run/secrets/<id>;
      // with only env= the secret is a variable and no file.
      const id = m.cacheId || m.source || (m.target ? posix.basename(m.target) : '');
      if (!id) throw new InvalidArgumentError('RUN --mount=type=secret: an id or a target is required');
      const target = m.target ? posix.resolve(workdir || '/', m.target) : m.env ? undefined : `/run/secrets/${id}`;
      return { ...m, cacheId: id, target };
    }
    if (!m.target) throw new InvalidArgumentError(`RUN --mount=type=${m.type}: target is required`);
    const target = posix.resolve(workdir || '/', m.target);
    if (target === '/') throw new InvalidArgumentError(`RUN --mount=type=${m.type}: invalid target "/"`);
    if (m.type === 'cache' && m.from) throw new InvalidArgumentError('RUN --mount=type=cache,from=… is not supported by Berth yet');
    const c: Mount = { ...m, target };
    if (m.type === 'cache') c.cacheId = m.cacheId || target;
    return c;
  });
  const seen = new Set<string>();
  for (const m of out) {
    if (m.target === undefined) continue;
    if (seen.has(m.target)) throw new InvalidArgumentError(`RUN --mount: two mounts at ${m.target}`);
    seen.add(m.target);
  }
  return out;
}

/** The cache-key part of each mount: its options, and for binds what is bound. */
export async function mountKeyParts(env: MountEnv, mounts: readonly Mount[]): Promise<unknown[]> {
  const parts: unknown[] = [];
  for (const m of mounts) {
    // A secret's value is in no key (as BuildKit): only how it is mounted.
    const opts = [m.type, m.target ?? '', m.source ?? '', m.from ?? '', m.readOnly, m.cacheId ?? '', m.cacheSharing ?? '', m.mode ?? -1, m.uid ?? -1, m.gid ?? -1, m.sizeLimit, m.env ?? '', m.required];
    if (m.type !== 'bind') {
      parts.push(opts);
      continue;
    }
    if (m.from) {
      const src = env.fromRef(m.from);
      parts.push([...opts, 'key' in src ? `stage:${src.key}` : `image:${src.id}`]);
      continue;
    }
    const ctx = await env.context();
    const { digest } = selectSources(ctx.entries, [m.source || '.']);
    parts.push([...opts, `context:${digest}`]);
  }
  return parts;
}

/** Mounts everything for the step; on failure, whatever was made is undone. */
export async function openMounts(env: MountEnv, mounts: readonly Mount[]): Promise<OpenMounts> {
  const out: RuntimeMount[] = [];
  const targets: MountTarget[] = [];
  const secretEnv: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    for (const m of mounts) {
      if (m.type === 'secret') {
        const value = env.secrets?.get(m.cacheId!);
        if (value === undefined) {
          if (m.required) throw new InvalidArgumentError(`secret ${m.cacheId} not found: pass it with --secret id=${m.cacheId},src=<file>`);
          continue; // an optional secret that was not given: nothing is mounted (BuildKit)
        }
        if (m.env) secretEnv.push(`${m.env}=${value.toString('utf8')}`);
        if (m.target) {
          // A file of its own in a private dir, bind-mounted read-only; gone with the step.
          const dir = await makeTempDir(env.tmpRoot, 'secret-');
          closers.push(() => removeTree(dir));
          const file = join(dir, 'secret');
          await fsp.writeFile(file, value, { mode: 0o600 });
          await fsp.chown(file, m.uid ?? 0, m.gid ?? 0);
          await fsp.chmod(file, m.mode ?? 0o400);
          out.push({ destination: m.target, source: file, type: 'bind', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
          targets.push({ path: m.target, file: true });
        }
        continue;
      }
      const target = m.target!;
      if (m.type === 'tmpfs') {
        const options = ['nosuid', 'nodev', ...(m.sizeLimit > 0 ? [`size=${m.sizeLimit}`] : [])];
        out.push({ destination: target, source: 'tmpfs', type: 'tmpfs', options });
        targets.push({ path: target, file: false });
      } else if (m.type === 'cache') {
        const lease: CacheMountLease = await env.cacheMounts.acquire({
          id: m.cacheId!,
          sharing: m.cacheSharing ?? 'shared',
          mode: m.mode ?? 0o755,
          uid: m.uid ?? 0,
          gid: m.gid ?? 0,
        });
        closers.push(lease.release);
        out.push({ destination: target, source: lease.dir, type: 'bind', options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
        targets.push({ path: target, file: false });
      } else {
        const view = await openBind(env, m, closers);
        out.push({ destination: target, source: view.path, type: 'bind', options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
        targets.push({ path: target, file: view.file });
      }
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { mounts: out, targets, env: secretEnv, close };
}

/** A bind mount's source: an overlay view of a dir, or a private copy of a file. */
async function openBind(env: MountEnv, m: Mount, closers: Array<() => Promise<void>>): Promise<{ path: string; file: boolean }> {
  let root: string;
  let entries: ContextEntry[] | undefined;
  let where: string;
  if (m.from) {
    const src = env.fromRef(m.from);
    const layers = 'key' in src ? src : { layers: src.manifest.layers, diffIds: src.config.rootfs.diff_ids };
    const dirs = await env.dirsOf(layers);
    where = `--from=${m.from}`;
    root = await stageRoot(env.tmpRoot, dirs, closers);
  } else {
    const ctx = await env.context();
    root = ctx.dir;
    entries = ctx.entries;
    where = 'the build context';
  }
  const source = m.source || '.';
  let fd: number;
  try {
    fd = openInRoot(root, source, O_PATH);
  } catch (e) {
    if (e instanceof SysError && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) throw new NotFoundError(`RUN --mount: source "${source}" not found in ${where}`);
    throw e;
  }
  const dir = await makeTempDir(env.tmpRoot, 'mnt-');
  closers.push(() => removeTree(dir));
  try {
    const st = fstatSync(fd);
    if (!st.isDirectory()) {
      // A file is copied: small, and a copy makes `rw` writes vanish with it.
      const copy = join(dir, 'file');
      const rfd = openInRoot(root, source, constants.O_RDONLY);
      try {
        await fsp.writeFile(copy, readFileSync(rfd), { mode: st.mode & 0o7777 });
      } finally {
        closeSync(rfd);
      }
      await fsp.chown(copy, st.uid, st.gid);
      return { path: copy, file: true };
    }
    const top = join(dir, 'top');
    const merged = join(dir, 'merged');
    mkdirSync(top, { mode: 0o755 });
    mkdirSync(merged, { mode: 0o755 });
    const lower = `/proc/self/fd/${fd}`;
    if (entries) hideIgnored(top, lower, relativeToContext(root, fd), entries);
    copyDirMeta(lower, top);
    let opts = `lowerdir=${top}:${lower}`;
    if (!m.readOnly) {
      for (const d of ['upper', 'work']) mkdirSync(join(dir, d), { mode: 0o755 });
      copyDirMeta(lower, join(dir, 'upper'));
      opts += `,upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`;
    }
    await mountAsync('overlay', merged, 'overlay', m.readOnly ? MS_RDONLY : 0, opts);
    closers.push(() => unmountAll(merged));
    return { path: merged, file: false };
  } finally {
    closeSync(fd);
  }
}

/** A stage's merged root: one layer as is, several as a read-only overlay (scratch: an empty dir). */
async function stageRoot(tmpRoot: string, dirs: string[], closers: Array<() => Promise<void>>): Promise<string> {
  if (dirs.length === 1) return dirs[0];
  const dir = await makeTempDir(tmpRoot, 'mnt-');
  closers.push(() => removeTree(dir));
  const root = join(dir, 'root');
  mkdirSync(root, { mode: 0o755 });
  if (dirs.length === 0) return root;
  await mountAsync('overlay', root, 'overlay', MS_RDONLY, `lowerdir=${[...dirs].reverse().join(':')}`);
  closers.push(() => unmountAll(root));
  return root;
}

async function unmountAll(target: string): Promise<void> {
  try {
    while (await umount2Async(target, MNT_DETACH));
  } catch {
    // nothing (more) mounted
  }
}

/** The source's path relative to the context root, from where its fd really points. */
function relativeToContext(root: string, fd: number): string {
  const real = readlinkSync(`/proc/self/fd/${fd}`);
  const base = realpathSync(root);
  if (real === base) return '';
  if (!real.startsWith(base + '/')) throw new InvalidArgumentError('RUN --mount: source is outside the build context');
  return real.slice(base.length + 1);
}

/**
 * Whiteouts in `top` (a lower layer above the context dir) for everything
 * under the source that the context does not include (.dockerignore, the
 * excluded Dockerfile): the view shows what BuildKit would have been sent.
 */
function hideIgnored(top: string, lower: string, prefix: string, entries: readonly ContextEntry[]): void {
  const included = new Set(entries.filter((e) => !e.excluded).map((e) => e.path));
  const walk = (rel: string): void => {
    const here = rel ? `${lower}/${rel}` : lower;
    for (const ent of readdirSync(here, { withFileTypes: true })) {
      const sub = rel ? `${rel}/${ent.name}` : ent.name;
      const ctxPath = prefix ? `${prefix}/${sub}` : sub;
      if (!included.has(ctxPath)) {
        const parent = rel ? join(top, rel) : top;
        if (rel) mkdirSync(parent, { recursive: true, mode: 0o755 });
        mknod(join(parent, ent.name), S_IFCHR | 0o000, 0, 0);
      } else if (ent.isDirectory()) walk(sub);
    }
  };
  walk('');
  // Dirs made for whiteouts take the real dir's owner, mode and mtime (overlay shows the top one's).
  const fix = (rel: string): void => {
    for (const ent of readdirSync(join(top, rel), { withFileTypes: true })) {
      if (!ent.isDirectory()) continue;
      const sub = rel ? `${rel}/${ent.name}` : ent.name;
      fix(sub);
      copyDirMeta(`${lower}/${sub}`, join(top, sub));
    }
  };
  fix('');
}

/** `from` is a real dir (or /proc/self/fd/N, hence stat, not lstat). */
function copyDirMeta(from: string, to: string): void {
  const st = statSync(from);
  lchownSync(to, st.uid, st.gid);
  chmodSync(to, st.mode & 0o7777);
  lutimesSync(to, st.atime, st.mtime);
}
