/**
 * File-system helpers for crash-safe writes: temp file, fsync, rename, fsync
 * of the directory. A reader sees the old or the new file, never a torn one.
 */
import { promises as fsp, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Writes `data` to `path` atomically (temp + fsync + rename + dir fsync).
 * `durable: false` keeps the rename (readers never see a torn file) but skips
 * the fsyncs, for state that is rebuilt from elsewhere after a crash.
 */
export async function atomicWrite(path: string, data: string | Buffer, mode = 0o600, opts: { durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable !== false;
  const dir = dirname(path);
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}`);
  const h = await fsp.open(tmp, 'wx', mode);
  try {
    await h.writeFile(data);
    if (durable) await h.sync();
  } finally {
    await h.close();
  }
  try {
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  if (durable) await fsyncDir(dir);
}

export async function atomicWriteJson(path: string, value: unknown, mode = 0o600, opts: { durable?: boolean } = {}): Promise<void> {
  await atomicWrite(path, JSON.stringify(value, null, 1) + '\n', mode, opts);
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** mkdir -p with a mode; private by default so other host users cannot reach container roots (CVE-2021-41091). */
export async function ensureDir(path: string, mode = 0o700): Promise<void> {
  await fsp.mkdir(path, { recursive: true, mode });
}

/** Serialises async critical sections per key inside one process. */
export class KeyedMutex {
  private tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => done);
    this.tails.set(key, tail);
    await prev.catch(() => undefined);
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Bytes of the files under `dir` (apparent sizes, as `docker system df`
 * counts them; directories count nothing, a hard-linked file once).
 * Symlinks are not followed; entries vanishing meanwhile are skipped.
 */
export async function treeSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  const walk = async (d: string): Promise<number> => {
    let n = 0;
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        n += await walk(p);
        continue;
      }
      const st = await fsp.lstat(p, { bigint: true }).catch(() => undefined);
      if (!st) continue;
      if (st.nlink > 1n) {
        const id = `${st.dev}:${st.ino}`;
        if (seen.has(id)) continue;
        seen.add(id);
      }
      n += Number(st.size);
    }
    return n;
  };
  return walk(dir);
}

