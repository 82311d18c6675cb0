/**
 * The build context: walks a directory the way BuildKit's context transfer (fsutil) does,
 * applying .dockerignore with patternmatcher semantics, and hashes file contents (never
 * mtimes) so a fresh clone of the same tree gives the same cache keys.
 *
 * - Symlinks are never followed; they are entries with their target.
 * - An excluded directory is skipped entirely unless an exception (`!`) pattern could
 *   re-include something below it; then it is walked, and it is listed only if something
 *   inside it is (fsutil's rule, which also covers `!**\/x` exceptions).
 * - The Dockerfile and the ignore file in use are always listed, so the builder can read
 *   them; if the patterns exclude them they carry `excluded: true` and COPY/ADD never see
 *   them (Docker removes them from the copied context the same way).
 * - Only regular files, directories and symlinks are listed; sockets, FIFOs and devices in
 *   a context are skipped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../errors';
import { goClean } from './gopath';
import { comparePaths } from './order';
import { HashCache, type StatKey } from './hashcache';
import { readIgnoreFile } from './ignorefile';
import { EMPTY_MATCH_INFO, PatternMatcher, type MatchInfo, type Pattern } from './patternmatcher';

export { selectSources, type SelectedEntry, type SelectOptions } from './select';
export { comparePaths } from './order';

export interface ContextEntry {
  /** Relative to the context root, '/'-separated, no leading './'. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits incl. setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** File size; the target's length for a symlink; 0 for a directory. */
  size: number;
  linkTarget?: string;
  /** 'sha256:<hex>' of the file bytes, or of the link target for a symlink. */
  contentHash?: string;
  /** Listed only because the builder needs it (Dockerfile, ignore file): not part of COPY/ADD. */
  excluded?: boolean;
}

/** Counters a caller can pass in to learn what a walk cost. */
export interface WalkStats {
  entries: number;
  /** Files (and symlinks) whose content was read and hashed. */
  hashed: number;
  cacheHits: number;
  bytesHashed: number;
}

export interface WalkOptions {
  /** Dockerfile path relative to the context (or absolute); default 'Dockerfile'. */
  dockerfile?: string;
  /** Exclude patterns; default: `<dockerfile>.dockerignore` if present, else `<dir>/.dockerignore`. */
  ignore?: string[];
  /** JSON file for the persistent hash cache; none = hash every file. */
  hashCachePath?: string;
  stats?: WalkStats;
  /**
   * Files changed less than this long before hashing are not cached: a second write in the
   * same timestamp tick would keep size, mtime and ctime (git's "racily clean" problem).
   * Default: 2000 ms for a file with whole-second times (a filesystem with coarse
   * timestamps), else 50 ms (Linux stamps files from a clock that ticks every 10 ms at
   * most), so a context written just before a build is trusted on the next one.
   */
  racyWindowMs?: number;
}

const COARSE_RACY_WINDOW_MS = 2000;
const FINE_RACY_WINDOW_MS = 50;
const SECOND_NS = 1_000_000_000n;
/** Files up to this size are read in one call; larger ones are streamed. */
const READ_WHOLE_MAX = 1 << 20;
/** Yield to the event loop this often, so a daemon stays responsive during a big walk. */
const YIELD_EVERY = 1024;

const PATTERN_CHARS = /[*[\]?^\\]/;

/** The ignore file in force for a build: `<dockerfile>.dockerignore` next to it wins over `.dockerignore`. */
export function findIgnoreFile(dir: string, dockerfile = 'Dockerfile'): string | undefined {
  const root = path.resolve(dir);
  const candidates = [path.resolve(root, dockerfile) + '.dockerignore', path.join(root, '.dockerignore')];
  return candidates.find((f) => {
    try {
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  });
}

/** Exclude patterns for a build, as Docker reads them (empty when there is no ignore file). */
export function readContextIgnore(dir: string, dockerfile = 'Dockerfile'): string[] {
  const file = findIgnoreFile(dir, dockerfile);
  return file === undefined ? [] : readIgnoreFile(fs.readFileSync(file));
}

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

const withoutTrailingGlob = (p: Pattern): string => p.cleaned.replace(/\/\*\*$/, '').replace(/\/\*$/, '');

interface PendingDir {
  abs: string;
  rel: string;
  listed: boolean;
}

interface ToHash {
  entry: ContextEntry;
  abs: string;
  key: StatKey;
}

class Walker {
  readonly entries: ContextEntry[] = [];
  /** Set when entries were added out of walk order (forced build files). */
  unsorted = false;
  readonly files: ToHash[] = [];
  private readonly listedPaths = new Set<string>();
  private ops = 0;
  private readonly onlyPrefixExceptions: boolean;

  constructor(
    private readonly root: string,
    private readonly pm: PatternMatcher | undefined,
  ) {
    // Like fsutil: only if every exception is a plain path can a skipped dir be decided by prefix.
    this.onlyPrefixExceptions = !(pm?.patterns() ?? []).some(
      (p) => p.exclusion && PATTERN_CHARS.test(withoutTrailingGlob(p)),
    );
  }

  private async tick(): Promise<void> {
    if (++this.ops % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** True if an exception pattern could re-include something under `rel`. */
  private mayReinclude(rel: string): boolean {
    const pm = this.pm as PatternMatcher;
    if (!pm.exclusions()) return false;
    if (!this.onlyPrefixExceptions) return true;
    const dirSlash = rel + '/';
    return pm.patterns().some((p) => p.exclusion && (withoutTrailingGlob(p) + '/').startsWith(dirSlash));
  }

  async walkDir(abs: string, rel: string, info: MatchInfo, chain: PendingDir[], excluded: boolean): Promise<void> {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(abs, { withFileTypes: true });
    } catch (e) {
      // fsutil ignores permission errors inside excluded directories.
      if (excluded && (errCode(e) === 'EACCES' || errCode(e) === 'EPERM')) return;
      if (errCode(e) === 'ENOENT') return;
      throw new InvalidArgumentError(`can't stat '${abs}'`, { cause: e });
    }
    names.sort((x, y) => comparePaths(x.name, y.name));
    for (const d of names) {
      await this.tick();
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      const childAbs = abs + '/' + d.name;
      const isDir = d.isDirectory();
      let childInfo = EMPTY_MATCH_INFO;
      let skip = false;
      if (this.pm) {
        const m = this.pm.matchesUsingParentResults(childRel, info);
        childInfo = m.info;
        skip = m.matched;
      }
      if (skip) {
        if (isDir && this.mayReinclude(childRel)) {
          await this.walkDir(childAbs, childRel, childInfo, [...chain, { abs: childAbs, rel: childRel, listed: false }], true);
        }
        continue;
      }
      const entry = this.list(childAbs, childRel, chain, false);
      if (entry?.type === 'dir') {
        await this.walkDir(childAbs, childRel, childInfo, [...chain, { abs: childAbs, rel: childRel, listed: true }], excluded);
      }
    }
  }

  /** Lists one path (after any excluded parent directories not listed yet); undefined if it vanished or is special. */
  list(abs: string, rel: string, chain: PendingDir[], excluded: boolean): ContextEntry | undefined {
    for (const dir of chain) {
      if (dir.listed) continue;
      dir.listed = true;
      this.list(dir.abs, dir.rel, [], excluded);
    }
    if (this.listedPaths.has(rel)) return undefined;
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(abs, { bigint: true });
    } catch (e) {
      if (errCode(e) === 'ENOENT') return undefined; // removed while walking
      throw new InvalidArgumentError(`can't stat '${abs}'`, { cause: e });
    }
    const mode = Number(st.mode) & 0o7777;
    const uid = Number(st.uid);
    const gid = Number(st.gid);
    let entry: ContextEntry;
    if (st.isDirectory()) entry = { path: rel, type: 'dir', mode, uid, gid, size: 0 };
    else if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(abs, { encoding: 'buffer' });
      entry = {
        path: rel,
        type: 'symlink',
        mode,
        uid,
        gid,
        size: target.length,
        linkTarget: target.toString('utf8'),
        contentHash: 'sha256:' + createHash('sha256').update(target).digest('hex'),
      };
    } else if (st.isFile()) {
      entry = { path: rel, type: 'file', mode, uid, gid, size: Number(st.size) };
      this.files.push({
        entry,
        abs,
        key: { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs },
      });
    } else return undefined;
    if (excluded) entry.excluded = true;
    this.entries.push(entry);
    this.listedPaths.add(rel);
    return entry;
  }

  /** Lists a build file (and its parent dirs) the patterns left out, marked excluded. */
  forceInclude(rel: string): void {
    if (this.listedPaths.has(rel)) return;
    const parts = rel.split('/');
    const chain: PendingDir[] = [];
    for (let i = 1; i < parts.length; i++) {
      const dirRel = parts.slice(0, i).join('/');
      chain.push({ abs: path.join(this.root, dirRel), rel: dirRel, listed: this.listedPaths.has(dirRel) });
    }
    if (this.list(path.join(this.root, rel), rel, chain, true) !== undefined) this.unsorted = true;
  }
}

async function hashFile(abs: string, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size <= READ_WHOLE_MAX) {
    h.update(fs.readFileSync(abs));
  } else {
    const fh = await fs.promises.open(abs, 'r');
    try {
      const buf = Buffer.allocUnsafe(READ_WHOLE_MAX);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }
  return 'sha256:' + h.digest('hex');
}

/** Resolves the Dockerfile option to a context-relative path, or undefined when it lies outside. */
function contextRelative(root: string, file: string): string | undefined {
  let abs = path.resolve(root, file);
  try {
    abs = path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs)); // root itself is a realpath
  } catch {
    return undefined;
  }
  const rel = path.relative(root, abs).split(path.sep).join('/');
  if (rel === '' || rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) return undefined;
  return goClean(rel);
}

/** Walks the build context `dir`; entries are in component-wise path order. */
export async function walkContext(dir: string, opts: WalkOptions = {}): Promise<ContextEntry[]> {
  let root: string;
  try {
    root = fs.realpathSync(path.resolve(dir));
  } catch {
    throw new InvalidArgumentError(`unable to prepare context: path "${dir}" not found`);
  }
  if (!fs.statSync(root).isDirectory()) throw new InvalidArgumentError(`context must be a directory: ${dir}`);
  const dockerfile = opts.dockerfile ?? 'Dockerfile';
  const ignoreFile = findIgnoreFile(root, dockerfile);
  const patterns = opts.ignore ?? (ignoreFile === undefined ? [] : readIgnoreFile(fs.readFileSync(ignoreFile)));
  const pm = patterns.length > 0 ? new PatternMatcher(patterns) : undefined;

  const walker = new Walker(root, pm);
  await walker.walkDir(root, '', EMPTY_MATCH_INFO, [], false);
  for (const f of [dockerfile, ignoreFile]) {
    const rel = f === undefined ? undefined : contextRelative(root, f);
    if (rel !== undefined && fs.existsSync(path.join(root, rel))) walker.forceInclude(rel);
  }
  if (walker.unsorted) walker.entries.sort((a, b) => comparePaths(a.path, b.path));

  const stats: WalkStats = opts.stats ?? { entries: 0, hashed: 0, cacheHits: 0, bytesHashed: 0 };
  Object.assign(stats, { entries: walker.entries.length, hashed: 0, cacheHits: 0, bytesHashed: 0 });
  const cache = HashCache.load(opts.hashCachePath);
  const racyWindowNs = (k: StatKey): bigint => {
    const coarse = k.mtimeNs % SECOND_NS === 0n && k.ctimeNs % SECOND_NS === 0n;
    return BigInt(opts.racyWindowMs ?? (coarse ? COARSE_RACY_WINDOW_MS : FINE_RACY_WINDOW_MS)) * 1_000_000n;
  };
  let n = 0;
  for (const f of walker.files) {
    const cached = cache.get(f.key);
    if (cached !== undefined) {
      f.entry.contentHash = cached;
      stats.cacheHits++;
      continue;
    }
    if (++n % 64 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    try {
      f.entry.contentHash = await hashFile(f.abs, f.entry.size);
    } catch (e) {
      const code = errCode(e);
      if (code === 'EACCES' || code === 'EPERM') throw new InvalidArgumentError(`no permission to read from '${f.abs}'`);
      throw new InvalidArgumentError(`can't read '${f.abs}': ${code ?? String(e)}`, { cause: e });
    }
    stats.hashed++;
    stats.bytesHashed += f.entry.size;
    // ctime moves on every write; only a change inside the window could go unnoticed later.
    if (f.key.ctimeNs < startedNs - racyWindowNs(f.key)) cache.set(f.key, f.entry.contentHash);
  }
  cache.save();
  return walker.entries;
}
