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
