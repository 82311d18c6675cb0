/**
 * Named volumes with the `local` driver: a directory `<root>/volumes/<name>/_data`
 * (plus `volume.json`), shared by every container that mounts it and kept
 * when containers go. Anonymous volumes get a random 64-hex name.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { MNT_DETACH, MS_BIND, MS_RDONLY, MS_REC, mountAsync, umount2Async } from '../sys/libc';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';
import { atomicWriteJson, ensureDir, KeyedMutex, readJson, treeSize } from '../sys/fsutil';
import { removeTree } from '../image/snapshot/snapshotter';

export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  Scope: 'local';
  /** Created for an image VOLUME or an unnamed -v; removed with `rm -v` / `run --rm`. */
  Anonymous: boolean;
  /** Set once the volume was filled from an image directory, so it is never filled twice. */
  Populated: boolean;
}

export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Owner and mode asked for a volume's root directory. */
export interface VolumeOwner {
  uid?: number;
  gid?: number;
  mode?: number;
}

const MAX_ID = 0xfffffffe;

/**
 * `-o uid=1000 -o gid=1000 -o mode=0750`, or Podman's `-o o=uid=1000,gid=1000`
 * on a plain volume: who owns its root, so a non-root container can write to
 * a fresh volume (moby#21259, compose#3270). A volume over a device (type=,
 * device=) takes these in `o` from the filesystem itself (tmpfs uid=...).
 */
export function volumeOwner(options: Record<string, string>): VolumeOwner {
  const device = !!(options.type || options.device);
  const fromO: Record<string, string> = {};
  for (const kv of device ? [] : (options.o ?? '').split(',').filter(Boolean)) {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    if (eq < 0 || !['uid', 'gid', 'mode'].includes(k)) throw new InvalidArgumentError(`invalid option o=${options.o}: without type= or device=, o takes only uid=, gid= and mode=`);
    fromO[k] = kv.slice(eq + 1);
  }
  const raw = { uid: options.uid ?? fromO.uid, gid: options.gid ?? fromO.gid, mode: options.mode ?? fromO.mode };
  if (device && (options.uid || options.gid || options.mode)) throw new InvalidArgumentError('uid, gid and mode apply to a plain volume; for a device volume give them in o= (e.g. o=uid=1000,gid=1000 for tmpfs)');
  const owner: VolumeOwner = {};
  for (const k of ['uid', 'gid'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    if (!/^\d+$/.test(v) || Number(v) > MAX_ID) throw new InvalidArgumentError(`invalid ${k} "${v}": want a number from 0 to ${MAX_ID}`);
    owner[k] = Number(v);
  }
  if (raw.mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(raw.mode)) throw new InvalidArgumentError(`invalid mode "${raw.mode}": want octal permissions such as 0755`);
    owner.mode = parseInt(raw.mode, 8);
  }
  return owner;
}

/** Applies an owner/mode to a volume's root (ownership first: chown clears setgid/setuid bits). */
export async function applyVolumeOwner(dir: string, o: VolumeOwner): Promise<void> {
  if (o.uid !== undefined || o.gid !== undefined) await fsp.chown(dir, o.uid ?? -1, o.gid ?? -1);
  if (o.mode !== undefined) await fsp.chmod(dir, o.mode);
}

function isMountPoint(path: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === path);
  } catch {
    return false;
  }
}

export class VolumeStore {
  private volumes = new Map<string, VolumeRecord>();
  private lock = new KeyedMutex();
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'volumes');
  }

  async init(): Promise<void> {
    await ensureDir(this.dir, 0o700);
    for (const name of await fsp.readdir(this.dir)) {
      const rec = await readJson<VolumeRecord>(join(this.dir, name, 'volume.json'));
      if (rec && rec.Name === name) this.volumes.set(name, rec);
      else if (name.startsWith('.tmp-')) await removeTree(join(this.dir, name));
    }
  }

  list(): VolumeRecord[] {
    return [...this.volumes.values()].sort((a, b) => a.Name.localeCompare(b.Name));
  }

  get(name: string): VolumeRecord {
    const v = this.volumes.get(name);
    if (!v) throw new NotFoundError(`get ${name}: no such volume`);
    return v;
  }

  find(name: string): VolumeRecord | undefined {
    return this.volumes.get(name);
  }

  /** Creates a volume, or returns the existing one of that name (as Docker does). */
  async create(o: { name?: string; labels?: Record<string, string>; options?: Record<string, string>; driver?: string; anonymous?: boolean } = {}): Promise<VolumeRecord> {
    if (o.driver && o.driver !== 'local') throw new NotFoundError(`plugin "${o.driver}" not found`);
    const name = o.name || randomBytes(32).toString('hex');
    if (!VOLUME_NAME_RE.test(name))
      throw new InvalidArgumentError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    for (const k of Object.keys(o.options ?? {})) if (!['type', 'device', 'o', 'size', 'uid', 'gid', 'mode'].includes(k)) throw new InvalidArgumentError(`invalid option: "${k}"`);
    const owner = volumeOwner(o.options ?? {});
    return this.lock.run(name, async () => {
      const existing = this.volumes.get(name);
      if (existing) return existing;
      const dir = join(this.dir, name);
      const rec: VolumeRecord = {
        Name: name,
        Driver: 'local',
        Mountpoint: join(dir, '_data'),
        CreatedAt: new Date().toISOString(),
        Labels: o.labels ?? {},
        Options: o.options ?? {},
        Scope: 'local',
        Anonymous: !!o.anonymous,
        Populated: false,
      };
      await fsp.mkdir(dir, { mode: 0o700 });
      await fsp.mkdir(rec.Mountpoint, { mode: 0o755 });
      await applyVolumeOwner(rec.Mountpoint, owner);
      await atomicWriteJson(join(dir, 'volume.json'), rec);
      this.volumes.set(name, rec);
      return rec;
    });
  }

  /**
   * The local driver's `--opt type=… --opt device=… --opt o=…`: the volume's
   * _data is a mount of that device, made when a container first uses it (as
   * Docker does), e.g. tmpfs or a bind of a host directory (type=none, o=bind).
   */
  async ensureMounted(rec: VolumeRecord): Promise<void> {
    const { type, device, o } = rec.Options;
    if (!type && !device) return;
    if (isMountPoint(rec.Mountpoint)) return;
    const opts = (o ?? '').split(',').filter(Boolean);
    let flags = 0;
    const data: string[] = [];
    for (const opt of opts) {
      if (opt === 'bind' || opt === 'rbind') flags |= MS_BIND | (opt === 'rbind' ? MS_REC : 0);
      else if (opt === 'ro') flags |= MS_RDONLY;
      else if (opt !== 'rw') data.push(opt);
    }
    if (flags & MS_BIND && !existsSync(device ?? '')) throw new InvalidArgumentError(`error while mounting volume '${rec.Name}': failed to mount local volume: no such device: ${device}`);
    try {
      await mountAsync(device || type || 'none', rec.Mountpoint, flags & MS_BIND ? '' : type || '', flags, data.length ? data.join(',') : null);
    } catch (e) {
      throw new InvalidArgumentError(`error while mounting volume '${rec.Name}': failed to mount local volume: ${(e as Error).message}`);
    }
  }

  async markPopulated(rec: VolumeRecord): Promise<void> {
    rec.Populated = true;
    await atomicWriteJson(join(this.dir, rec.Name, 'volume.json'), rec);
  }

  /** Removes a volume unless a container uses it (`usedBy` returns container IDs). */
  async remove(name: string, usedBy: (name: string) => string[], force = false): Promise<void> {
    const v = this.volumes.get(name);
    if (!v) {
      if (force) return;
      throw new NotFoundError(`get ${name}: no such volume`);
    }
    const users = usedBy(name);
    if (users.length) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await this.lock.run(name, async () => {
      this.volumes.delete(name);
      if (isMountPoint(v.Mountpoint)) await umount2Async(v.Mountpoint, MNT_DETACH).catch(() => undefined);
      // Never delete through a still-mounted device (a bind of a host directory).
      if (isMountPoint(v.Mountpoint)) {
        this.volumes.set(name, v);
        throw new ConflictError(`remove ${name}: the volume's mount could not be detached`);
      }
      const doomed = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
      await fsp.rename(join(this.dir, name), doomed);
      await removeTree(doomed);
    });
  }

  async prune(usedBy: (name: string) => string[], all: boolean, which?: (v: VolumeRecord) => boolean): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.list()) {
      if (!all && !v.Anonymous) continue;
      if (which && !which(v)) continue;
      if (usedBy(v.Name).length) continue;
      const size = await this.size(v);
      if (!(await this.remove(v.Name, usedBy).then(() => true, () => false))) continue;
      deleted.push(v.Name);
      space += size;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  /** Bytes in a volume; a device volume (tmpfs, a host bind) counts nothing: its data is not Berth's to free. */
  async size(v: VolumeRecord): Promise<number> {
    return v.Options.type || v.Options.device ? 0 : treeSize(v.Mountpoint);
  }
}
