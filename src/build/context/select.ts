/**
 * COPY/ADD source selection over a walked context, with BuildKit's rules (the Dockerfile
 * frontend copies with FollowSymlinks, CopyDirContentsOnly, AllowWildcard and
 * AllowEmptyWildcard):
 * - a source is cleaned and rooted at the context ("/a/../b/" = "b", ".." cannot escape);
 * - from the first path segment holding `*`, `?` or `[`, the rest is a filepath.Match pattern
 *   tried against every path below the fixed prefix; a matched directory is taken whole;
 *   no match is not an error;
 * - symlinks in the path are resolved inside the context; the source itself is followed
 *   too unless `followRoot` is false;
 * - a directory source contributes its contents (and its own mode), a file its basename.
 * The digest covers exactly the selected entries: paths relative to the copy root, type,
 * mode, content hash, link target, and uid/gid only if asked (COPY without --chown
 * does not keep them). Never mtimes, never unselected files.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { goClean } from './gopath';
import { goMatch } from './gomatch';
import { comparePaths } from './order';
import type { ContextEntry } from './walk';

export interface SelectOptions {
  /** Follow a source that is itself a symlink (default true, as COPY and ADD do). */
  followRoot?: boolean;
  /** Put uid/gid in the digest (for COPY that keeps ownership). */
  includeOwnership?: boolean;
}

export interface SelectedEntry extends ContextEntry {
  /** Path relative to the copy root: the basename for a file source, '.' for a directory source itself. */
  rel: string;
  /** Index of the source (in `sources`) this entry came from. */
  source: number;
}

const MAX_LINKS = 255;

/** BuildKit's containsWildcards: '*', '?' or '[' not escaped by a backslash. */
function containsWildcards(seg: string): boolean {
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

class ContextIndex {
  private readonly sorted: ContextEntry[];
  private readonly at = new Map<string, number>();

  constructor(entries: readonly ContextEntry[]) {
    this.sorted = entries.filter((e) => !e.excluded).sort((a, b) => comparePaths(a.path, b.path));
    this.sorted.forEach((e, i) => this.at.set(e.path, i));
  }

  get(p: string): ContextEntry | undefined {
    const i = this.at.get(p);
    return i === undefined ? undefined : this.sorted[i];
  }

  /** Everything below `dir` ('' = the context root), in walk order. */
  *below(dir: string): Generator<ContextEntry> {
    if (dir === '') {
      yield* this.sorted;
      return;
    }
    const i = this.at.get(dir);
    if (i === undefined) return;
    const prefix = dir + '/';
    for (let k = i + 1; k < this.sorted.length && this.sorted[k].path.startsWith(prefix); k++) yield this.sorted[k];
  }

  /** fs.RootPath inside the context: follows symlinks (the last one only if asked); '..' stops at the root. */
  resolve(p: string, followLast: boolean): string {
    let todo = p.split('/');
    const done: string[] = [];
    let links = 0;
    while (todo.length > 0) {
      const part = todo.shift() as string;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      const e = this.get([...done, part].join('/'));
      if (e?.type === 'symlink' && e.linkTarget !== undefined && (todo.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw new InvalidArgumentError(`too many links: ${p}`);
        if (e.linkTarget.startsWith('/')) done.length = 0;
        todo = [...e.linkTarget.split('/'), ...todo];
        continue;
      }
      done.push(part);
    }
    return done.join('/');
  }
}

const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/** The context paths a source names (several for a wildcard), before following the last link. */
function expand(index: ContextIndex, source: string, followRoot: boolean): { paths: string[]; wildcard: boolean } {
  const segs = goClean('/' + source)
    .split('/')
    .filter((s) => s !== '');
  const w = segs.findIndex(containsWildcards);
  if (w < 0) return { paths: [segs.join('/')], wildcard: false };
  const base = index.resolve(segs.slice(0, w).join('/'), followRoot);
  const pattern = segs.slice(w).join('/');
  const baseEntry = base === '' ? undefined : index.get(base);
  if (base !== '' && baseEntry?.type !== 'dir') return { paths: [], wildcard: true };
  const out: string[] = [];
  let skipUnder: string | undefined;
  const cut = base === '' ? 0 : base.length + 1;
  for (const e of index.below(base)) {
    if (skipUnder !== undefined && e.path.startsWith(skipUnder)) continue;
    let hit = false;
    try {
      hit = goMatch(pattern, e.path.slice(cut));
    } catch {
      hit = false; // BuildKit ignores the pattern error: nothing matches
    }
    if (!hit) continue;
    out.push(e.path);
    skipUnder = e.type === 'dir' ? e.path + '/' : undefined;
  }
  return { paths: out, wildcard: true };
}

/** Selects what `COPY <sources...>` takes from the context, and a digest of exactly that. */
export function selectSources(
  entries: readonly ContextEntry[],
  sources: readonly string[],
  opts: SelectOptions = {},
): { entries: SelectedEntry[]; digest: string } {
  const followRoot = opts.followRoot ?? true;
  const index = new ContextIndex(entries);
  const selected: SelectedEntry[] = [];
  sources.forEach((source, i) => {
    const { paths, wildcard } = expand(index, source, followRoot);
    for (const p of paths) {
      const target = index.resolve(p, followRoot);
      const entry = target === '' ? undefined : index.get(target);
      if (target !== '' && entry === undefined) {
        if (wildcard) continue;
        throw new NotFoundError(`failed to compute cache key: "/${p}": not found`);
      }
      if (entry !== undefined && entry.type !== 'dir') {
        selected.push({ ...entry, rel: basename(p), source: i });
        continue;
      }
      if (entry !== undefined) selected.push({ ...entry, rel: '.', source: i });
      const cut = target === '' ? 0 : target.length + 1;
      for (const e of index.below(target)) selected.push({ ...e, rel: e.path.slice(cut), source: i });
    }
  });
  const h = createHash('sha256');
  for (const e of selected) {
    const row: (string | number | null)[] = [e.source, e.rel, e.type, e.mode, e.contentHash ?? null, e.linkTarget ?? null];
    if (opts.includeOwnership) row.push(e.uid, e.gid);
    h.update(JSON.stringify(row) + '\n');
  }
  return { entries: selected, digest: 'sha256:' + h.digest('hex') };
}
