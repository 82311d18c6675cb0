/**
 * A container's mounts as Docker resolves them: `-v` binds and named or
 * anonymous volumes, `--mount` long syntax, `--tmpfs`, `--volumes-from` and
 * the image's VOLUME paths, later sources overriding earlier ones at the same
 * destination.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { posix } from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { VolumeStore } from '../volume/store';
import type { HostConfig, MountSpec } from './types';

export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Volume only: never fill from the image (`nocopy`). */
  NoCopy?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

const PROPAGATIONS = ['shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate'];

function checkDestination(dest: string, what: string): string {
  if (!dest.startsWith('/')) throw new InvalidArgumentError(`invalid mount config for type "${what}": invalid mount path: '${dest}' mount path must be absolute`);
  const clean = posix.normalize(dest).replace(/\/+$/, '') || '/';
  if (clean === '/') throw new InvalidArgumentError(`invalid mount config for type "${what}": invalid specification: destination can't be '/'`);
  return clean;
}

/** Parses one `-v` spec (`[src:]dst[:opts]`). */
export function parseBind(spec: string): Omit<MountPoint, 'Source'> & { Source: string } {
  const parts = spec.split(':');
  if (parts.length < 1 || parts.length > 3 || parts.some((p, i) => p === '' && i < parts.length)) throw new InvalidArgumentError(`invalid volume specification: '${spec}'`);
  let src = '';
  let dst: string;
  let mode = '';
  if (parts.length === 1) dst = parts[0];
  else if (parts.length === 2) {
    if (parts[1].startsWith('/')) [src, dst] = parts;
    else [dst, mode] = parts;
  } else [src, dst, mode] = parts;
  const opts = mode ? mode.split(',') : [];
  let rw = true;
  let propagation = '';
  let noCopy = false;
  for (const o of opts) {
    if (o === 'ro') rw = false;
    else if (o === 'rw') rw = true;
    else if (o === 'nocopy') noCopy = true;
    else if (PROPAGATIONS.includes(o)) propagation = o;
    else if (o === 'z' || o === 'Z') continue;
    else throw new InvalidArgumentError(`invalid mode: ${o}`);
  }
  const isBind = src.startsWith('/');
  if (src && !isBind && propagation) throw new InvalidArgumentError(`invalid mode: ${mode}: propagation applies to bind mounts only`);
  return {
    Type: isBind ? 'bind' : 'volume',
    Name: isBind ? undefined : src,
    Source: src,
    Destination: checkDestination(dst, isBind ? 'bind' : 'volume'),
    Mode: mode,
    RW: rw,
    Propagation: isBind ? propagation || 'rprivate' : '',
    NoCopy: noCopy,
  };
}

export interface ResolveContext {
  volumes: VolumeStore;
  /** Mounts of another container, for --volumes-from. */
  mountsOf: (container: string) => MountPoint[];
  imageVolumes: string[];
}

/** Resolves every mount source of a container at create time (named volumes are created as needed). */
export async function resolveMounts(hc: HostConfig, ctx: ResolveContext): Promise<MountPoint[]> {
  const byDest = new Map<string, MountPoint>();
  const add = (m: MountPoint) => byDest.set(m.Destination, m);

  for (const from of hc.VolumesFrom ?? []) {
    const [name, mode = ''] = from.split(':');
    if (mode && mode !== 'ro' && mode !== 'rw') throw new InvalidArgumentError(`invalid mode for volumes-from: ${mode}`);
    for (const m of ctx.mountsOf(name)) {
      if (m.Type === 'tmpfs') continue;
      add({ ...m, RW: mode === 'ro' ? false : mode === 'rw' ? true : m.RW });
    }
  }
  for (const spec of hc.Binds ?? []) {
    const b = parseBind(spec);
    if (b.Type === 'bind') {
      // `-v` creates a missing host directory, as Docker does.
      if (!existsSync(b.Source)) mkdirSync(b.Source, { recursive: true, mode: 0o755 });
      add(b);
    } else {
      const vol = await ctx.volumes.create({ name: b.Name || undefined, anonymous: !b.Name });
      add({ ...b, Name: vol.Name, Source: vol.Mountpoint, Driver: 'local' });
    }
  }
  for (const m of hc.Mounts ?? []) add(await fromMountSpec(m, ctx));
  for (const [dest, opts] of Object.entries(hc.Tmpfs ?? {})) {
    add({ Type: 'tmpfs', Source: 'tmpfs', Destination: checkDestination(dest, 'tmpfs'), Mode: opts, RW: !opts.split(',').includes('ro'), Propagation: '' });
  }
  for (const dest of ctx.imageVolumes) {
    const clean = checkDestination(dest, 'volume');
    // CVE-2019-16884 class: an image may not put a volume over /proc or /sys.
    if (clean === '/proc' || clean.startsWith('/proc/') || clean === '/sys' || clean.startsWith('/sys/'))
      throw new InvalidArgumentError(`invalid image volume ${dest}: volumes at or under /proc and /sys are not allowed`);
    if (byDest.has(clean)) continue;
    const vol = await ctx.volumes.create({ anonymous: true });
    add({ Type: 'volume', Name: vol.Name, Source: vol.Mountpoint, Destination: clean, Driver: 'local', Mode: '', RW: true, Propagation: '' });
  }
  return [...byDest.values()].sort((a, b) => a.Destination.split('/').length - b.Destination.split('/').length);
}

async function fromMountSpec(m: MountSpec, ctx: ResolveContext): Promise<MountPoint> {
  const type = m.Type;
  if (!m.Target) throw new InvalidArgumentError(`invalid mount config for type "${type}": field Target must not be empty`);
  const dest = checkDestination(m.Target, type);
  if (type === 'bind') {
    if (!m.Source) throw new InvalidArgumentError('invalid mount config for type "bind": field Source must not be empty');
    if (!existsSync(m.Source)) throw new InvalidArgumentError(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
    return { Type: 'bind', Source: m.Source, Destination: dest, Mode: '', RW: !m.ReadOnly, Propagation: m.BindOptions?.Propagation || 'rprivate' };
  }
  if (type === 'volume') {
    const vol = await ctx.volumes.create({ name: m.Source || undefined, anonymous: !m.Source, labels: m.VolumeOptions?.Labels });
    return { Type: 'volume', Name: vol.Name, Source: vol.Mountpoint, Destination: dest, Driver: 'local', Mode: '', RW: !m.ReadOnly, Propagation: '', NoCopy: !!m.VolumeOptions?.NoCopy };
  }
  if (type === 'tmpfs') {
    if (m.Source) throw new InvalidArgumentError('invalid mount config for type "tmpfs": field Source must not be specified');
    return { Type: 'tmpfs', Source: 'tmpfs', Destination: dest, Mode: '', RW: !m.ReadOnly, Propagation: '', TmpfsOptions: m.TmpfsOptions };
  }
  throw new InvalidArgumentError(`invalid mount config: mount type unknown: "${type}"`);
}

/** OCI runtime-spec mounts for resolved mount points. */
export function ociMounts(mounts: MountPoint[]): Array<{ destination: string; source: string; type: string; options: string[] }> {
  return mounts.map((m) => {
    if (m.Type === 'tmpfs') {
      const opts = ['nosuid', 'nodev', 'noexec'];
      if (m.TmpfsOptions?.SizeBytes) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      for (const o of m.Mode ? m.Mode.split(',') : []) if (o) opts.push(o);
      if (!m.RW && !opts.includes('ro')) opts.push('ro');
      return { destination: m.Destination, source: 'tmpfs', type: 'tmpfs', options: opts };
    }
    return { destination: m.Destination, source: m.Source, type: 'bind', options: ['rbind', m.RW ? 'rw' : 'ro', m.Propagation || 'rprivate'] };
  });
}
