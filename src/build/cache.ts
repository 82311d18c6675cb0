/**
 * The build cache: one small JSON file per step under `<root>/builder/cache`,
 * named by the step's key. A key is the sha256 of the parent step's key, the
 * fully expanded instruction (with the build args it sees) and, for COPY/ADD,
 * the digest of exactly the files it copies — never mtimes, so a fresh clone
 * of the same tree hits the cache. Entries live on disk, so they survive a
 * daemon restart; a hit is only used while its layer blob still exists.
 *
 * For `--progress plain`, COPY/ADD steps also record which files they took
 * under a "loose" key (the key without the file digest): on a miss the builder
 * can then say which files changed.
 */
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Digest } from '../image/digest';
import { atomicWriteJson, ensureDir, readJson } from '../sys/fsutil';

export interface CachedLayer {
  /** Uncompressed layer: the blob digest is also its diffID. */
  digest: Digest;
  size: number;
  mediaType: string;
}

export interface CacheRecord {
  v: 1;
  /** The history line of the step, for humans reading the cache. */
  createdBy: string;
  /** Absent when the step changed no files (metadata instructions, an existing WORKDIR). */
  layer?: CachedLayer;
}

/** What a COPY/ADD took: path → content hash, for "files changed" reasons. */
export interface SourceRecord {
  digest: string;
  files: Record<string, string>;
}

const KEY_RE = /^[a-f0-9]{64}$/;
/** Per-file lists beyond this are not kept (the reason then names no files). */
const MAX_SOURCE_FILES = 20_000;

/** The sha256 of the JSON of `parts`: every input that decides a step's result. */
export function cacheKey(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class BuildCache {
  private readonly sourcesDir: string;

  constructor(readonly dir: string) {
    this.sourcesDir = join(dir, 'sources');
  }

  async init(): Promise<void> {
    await ensureDir(this.sourcesDir);
  }

  async get(key: string): Promise<CacheRecord | undefined> {
    if (!KEY_RE.test(key)) return undefined;
    const rec = await readJson<CacheRecord>(join(this.dir, `${key}.json`)).catch(() => undefined);
    return rec?.v === 1 ? rec : undefined;
  }

  async put(key: string, rec: CacheRecord): Promise<void> {
    await atomicWriteJson(join(this.dir, `${key}.json`), rec, 0o600);
  }

  async getSources(looseKey: string): Promise<SourceRecord | undefined> {
    return readJson<SourceRecord>(join(this.sourcesDir, `${looseKey}.json`)).catch(() => undefined);
  }

  async putSources(looseKey: string, digest: string, files: Array<[string, string]>): Promise<void> {
    const rec: SourceRecord = { digest, files: files.length <= MAX_SOURCE_FILES ? Object.fromEntries(files) : {} };
    await atomicWriteJson(join(this.sourcesDir, `${looseKey}.json`), rec, 0o600);
  }

  /** Every entry: key and record. */
  async list(): Promise<Array<{ key: string; rec: CacheRecord }>> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    const out: Array<{ key: string; rec: CacheRecord }> = [];
    for (const n of names) {
      const key = n.replace(/\.json$/, '');
      if (!KEY_RE.test(key)) continue;
      const rec = await this.get(key);
      if (rec) out.push({ key, rec });
    }
    return out;
  }

  /** `builder prune`: drops every entry; returns the keys and the layers they named. */
  async prune(): Promise<{ keys: string[]; layers: CachedLayer[] }> {
    const all = await this.list();
    for (const { key } of all) await fsp.rm(join(this.dir, `${key}.json`), { force: true });
    await fsp.rm(this.sourcesDir, { recursive: true, force: true });
    await ensureDir(this.sourcesDir);
    return { keys: all.map((e) => e.key), layers: all.flatMap((e) => (e.rec.layer ? [e.rec.layer] : [])) };
  }
}

/** "files changed: a, b (+3 more)" from two selections, or undefined when nothing is known. */
export function describeFileChanges(before: SourceRecord, now: Array<[string, string]>): string | undefined {
  if (Object.keys(before.files).length === 0) return undefined;
  const changed: string[] = [];
  const seen = new Set<string>();
  for (const [p, h] of now) {
    seen.add(p);
    if (before.files[p] === undefined) changed.push(`+${p}`);
    else if (before.files[p] !== h) changed.push(p);
  }
  for (const p of Object.keys(before.files)) if (!seen.has(p)) changed.push(`-${p}`);
  if (changed.length === 0) return 'file modes changed';
  const shown = changed.slice(0, 5).join(', ');
  return changed.length > 5 ? `${shown} (+${changed.length - 5} more)` : shown;
}
