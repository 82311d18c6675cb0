/**
 * Persistent content-hash cache for build contexts: (dev, ino) → {size, mtimeNs, ctimeNs,
 * sha256}. A file whose stat key is unchanged is not read again, so rebuilding an unchanged
 * context costs one lstat per file. Any key field changing invalidates the entry; ctime
 * cannot be set from user space, so rewriting a file with the same size and a restored
 * mtime is still detected. Stored as JSON, replaced atomically (temp file + rename).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

const VERSION = 1;
/** Unseen entries are kept (other ignore files, other Dockerfiles) up to this many. */
const MAX_ENTRIES = 200_000;

export interface StatKey {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

type Stored = [size: string, mtimeNs: string, ctimeNs: string, hash: string];

interface CacheFile {
  v: number;
  entries: Record<string, Stored>;
}

const idOf = (k: StatKey): string => `${k.dev}:${k.ino}`;

export class HashCache {
  private readonly old = new Map<string, Stored>();
  private readonly fresh = new Map<string, Stored>();
  private dirty = false;

  private constructor(private readonly file: string | undefined) {}

  /** Loads the cache at `file` (missing or unreadable = empty); no file = in-memory only. */
  static load(file: string | undefined): HashCache {
    const cache = new HashCache(file);
    if (file === undefined) return cache;
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      return cache; // a missing or corrupt cache only costs a re-hash
    }
    if (isCacheFile(parsed)) for (const [id, e] of Object.entries(parsed.entries)) cache.old.set(id, e);
    return cache;
  }

  /** The cached hash if every key field is unchanged. */
  get(k: StatKey): string | undefined {
    const id = idOf(k);
    const e = this.fresh.get(id) ?? this.old.get(id);
    if (!e || e[0] !== String(k.size) || e[1] !== String(k.mtimeNs) || e[2] !== String(k.ctimeNs)) return undefined;
    if (!this.fresh.has(id)) this.fresh.set(id, e);
    return e[3];
  }

  set(k: StatKey, hash: string): void {
    this.fresh.set(idOf(k), [String(k.size), String(k.mtimeNs), String(k.ctimeNs), hash]);
    this.dirty = true;
  }

  /** Writes the cache if anything new was hashed: this walk's entries first, then older ones. */
  save(): void {
    if (this.file === undefined || !this.dirty) return;
    const entries: Record<string, Stored> = {};
    let n = 0;
    for (const [id, e] of this.fresh) {
      entries[id] = e;
      n++;
    }
    for (const [id, e] of this.old) {
      if (n >= MAX_ENTRIES) break;
      if (this.fresh.has(id)) continue;
      entries[id] = e;
      n++;
    }
    const body: CacheFile = { v: VERSION, entries };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(body));
      fs.renameSync(tmp, this.file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    this.dirty = false;
  }
}

function isCacheFile(x: unknown): x is CacheFile {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as { v?: unknown; entries?: unknown };
  if (o.v !== VERSION || typeof o.entries !== 'object' || o.entries === null) return false;
  return Object.values(o.entries).every(
    (e) => Array.isArray(e) && e.length === 4 && e.every((f) => typeof f === 'string'),
  );
}
