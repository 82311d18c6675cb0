/**
 * `RUN --mount=type=cache` directories: one persistent dir per cache ID under
 * `<root>/builder/cache-mounts/<sha256 of id>/`, kept across builds and daemon
 * restarts, removed by `builder prune` (as `docker builder prune` removes
 * BuildKit's exec.cachemount records). Their content is never part of a
 * layer or a cache key.
 *
 * Sharing, as BuildKit: `shared` lets every step use the dir at once,
 * `locked` queues steps using the same ID, `private` gives a step a fresh
 * empty dir (thrown away afterwards) when another step holds the ID.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../image/snapshot/snapshotter';
import { ensureDir, treeSize } from '../sys/fsutil';
import type { ShareMode } from './dockerfile/mount';

export interface CacheMountSpec {
  id: string;
  sharing: ShareMode;
  /** For a new cache dir (BuildKit's defaults: 0755, root). */
  mode: number;
  uid: number;
  gid: number;
}

export interface CacheMountLease {
  /** The dir to mount. */
  dir: string;
  release(): Promise<void>;
}

export class CacheMounts {
  /** Steps using each cache dir now. */
  private readonly users = new Map<string, number>();
  /** Tail of the `sharing=locked` queue per cache dir. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await ensureDir(this.root);
    // A crash can leave half-made dirs and private instances behind.
    for (const n of await fsp.readdir(this.root)) if (n.startsWith('tmp-')) await removeTree(join(this.root, n));
  }

  private nameOf(id: string): string {
    return createHash('sha256').update(id).digest('hex');
  }

  /** Takes the cache dir for `spec.id` (made on first use); waits its turn for `locked`. */
  async acquire(spec: CacheMountSpec): Promise<CacheMountLease> {
    const name = this.nameOf(spec.id);
    if (spec.sharing === 'private' && (this.users.get(name) ?? 0) > 0) {
      const tmp = await this.create(`tmp-${randomBytes(8).toString('hex')}`, spec);
      return { dir: join(tmp, 'data'), release: () => removeTree(tmp) };
    }
    let unlock = (): void => undefined;
    if (spec.sharing === 'locked') {
      const prev = this.queues.get(name) ?? Promise.resolve();
      const mine = new Promise<void>((r) => (unlock = r));
      const tail = prev.then(() => mine);
      this.queues.set(name, tail);
      await prev;
      const release = unlock;
      unlock = () => {
        release();
        if (this.queues.get(name) === tail) this.queues.delete(name);
      };
    }
    this.users.set(name, (this.users.get(name) ?? 0) + 1);
    let dir: string;
    try {
      dir = await this.ensure(name, spec);
    } catch (e) {
      this.drop(name);
      unlock();
      throw e;
    }
    let released = false;
    return {
      dir,
      release: async () => {
        if (released) return;
        released = true;
        this.drop(name);
        unlock();
      },
    };
  }

  private drop(name: string): void {
    const n = (this.users.get(name) ?? 1) - 1;
    if (n > 0) this.users.set(name, n);
    else this.users.delete(name);
  }

  private async ensure(name: string, spec: CacheMountSpec): Promise<string> {
    const final = join(this.root, name);
    const data = join(final, 'data');
    if (await fsp.stat(data).then(() => true, () => false)) return data;
    const tmp = await this.create(`tmp-${randomBytes(8).toString('hex')}`, spec);
    try {
      await fsp.rename(tmp, final);
    } catch {
      await removeTree(tmp); // another step made it first
    }
    return data;
  }

  /** A new cache dir `<root>/<name>/data` with the spec's owner and mode, and its ID for humans. */
  private async create(name: string, spec: CacheMountSpec): Promise<string> {
    const dir = join(this.root, name);
    await fsp.mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
    await fsp.chown(join(dir, 'data'), spec.uid, spec.gid);
    await fsp.chmod(join(dir, 'data'), spec.mode);
    await fsp.writeFile(join(dir, 'id'), spec.id + '\n', { mode: 0o600 });
    return dir;
  }

  /** `builder prune`: every cache dir no step is using; returns their IDs and bytes. */
  async prune(): Promise<{ ids: string[]; size: number }> {
    const ids: string[] = [];
    let size = 0;
    for (const name of await fsp.readdir(this.root).catch(() => [] as string[])) {
      if (!/^[a-f0-9]{64}$/.test(name) || this.users.has(name)) continue;
      const dir = join(this.root, name);
      const id = (await fsp.readFile(join(dir, 'id'), 'utf8').catch(() => '')).trim();
      size += await treeSize(join(dir, 'data'));
      const doomed = join(this.root, `tmp-${randomBytes(8).toString('hex')}`);
      await fsp.rename(dir, doomed);
      await removeTree(doomed);
      ids.push(id || name);
    }
    return { ids, size };
  }
}
