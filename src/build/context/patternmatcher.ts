/**
 * .dockerignore matching with moby/patternmatcher's semantics (the matcher the Docker CLI,
 * the classic builder and BuildKit share): patterns are trimmed and filepath.Clean'ed,
 * `!` marks an exception, the last applicable pattern wins, and a pattern that matches a
 * parent directory also matches everything below it. Each pattern is classified like
 * upstream (exact / prefix `dir/**` / suffix `**...` / regexp) and a regexp pattern is
 * compiled once, on first use, from the same Go regexp text upstream builds.
 */
import { InvalidArgumentError } from '../../errors';
import { goClean, goDir, goTrimSpace } from './gopath';
import { BadPatternError, goMatch } from './gomatch';
import { compileGoRegexp } from './goregexp';

export type MatchType = 'exactMatch' | 'prefixMatch' | 'suffixMatch' | 'regexpMatch';

/** Per-pattern results for a directory, handed to its children (upstream MatchInfo). */
export interface MatchInfo {
  readonly parentMatched: readonly boolean[];
}

export const EMPTY_MATCH_INFO: MatchInfo = { parentMatched: [] };

// Regexp metacharacters upstream escapes. It means to escape `.+()|{}$`, but its byte-sized
// bitmap overflows for '{', '|' and '}' (bits 15), so those reach Go's regexp unescaped:
// `a|b*` is an alternation there and `x{2}*` a repeat. Docker does that, so we do too.
const ESCAPED = new Set(['.', '+', '(', ')', '$']);

export class Pattern {
  private type: MatchType | undefined;
  private re: RegExp | undefined;
  private reSource = '';
  readonly dirs: string[];

  constructor(
    /** The cleaned pattern without its `!`. */
    readonly cleaned: string,
    readonly exclusion: boolean,
  ) {
    this.dirs = cleaned.split('/');
  }

  toString(): string {
    return this.cleaned;
  }

  /** The classification (compiles on first use; throws for a pattern Go's regexp rejects). */
  matchType(): MatchType {
    return this.compile();
  }

  /** The Go regexp text upstream builds (empty unless regexpMatch). */
  regexpSource(): string {
    this.compile();
    return this.reSource;
  }

  match(path: string): boolean {
    switch (this.compile()) {
      case 'exactMatch':
        return path === this.cleaned;
      case 'prefixMatch':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffixMatch': {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        // "**/foo" also matches "foo"
        return suffix.startsWith('/') && path === suffix.slice(1);
      }
      case 'regexpMatch':
        return (this.re as RegExp).test(path);
    }
  }

  /**
   * Upstream's compile, step for step. A failure leaves the pattern uncompiled, so every
   * later match reports the bad pattern again (as upstream does) instead of crashing.
   */
  private compile(): MatchType {
    if (this.type !== undefined) return this.type;
    const chars = Array.from(this.cleaned);
    // text/scanner skips a byte-order mark at the start.
    if (chars[0] === '\uFEFF') chars.shift();
    let reg = '^';
    let type: MatchType = 'exactMatch';
    for (let k = 0, i = 0; k < chars.length; i++) {
      const ch = chars[k++];
      if (ch === '*') {
        if (chars[k] === '*') {
          k++;
          if (chars[k] === '/') k++; // treat "**/" as "**"
          if (k >= chars.length) {
            // "**" at the end: everything below
            if (type === 'exactMatch') type = 'prefixMatch';
            else {
              reg += '.*';
              type = 'regexpMatch';
            }
          } else {
            reg += '(.*/)?'; // any number of directories, even none
            type = 'regexpMatch';
          }
          if (i === 0) type = 'suffixMatch';
        } else {
          reg += '[^/]*';
          type = 'regexpMatch';
        }
      } else if (ch === '?') {
        reg += '[^/]';
        type = 'regexpMatch';
      } else if (ESCAPED.has(ch)) {
        reg += '\\' + ch;
      } else if (ch === '\\') {
        if (k < chars.length) {
          reg += '\\' + chars[k++];
          type = 'regexpMatch';
        } else reg += '\\';
      } else if (ch === '[' || ch === ']') {
        reg += ch;
        type = 'regexpMatch';
      } else reg += ch;
    }
    if (type === 'regexpMatch') {
      reg += '$';
      try {
        this.re = compileGoRegexp(reg);
      } catch {
        throw new BadPatternError();
      }
      this.reSource = reg;
    }
    this.type = type;
    return type;
  }
}

/** The patterns of one .dockerignore (or any exclude list), in order. */
export class PatternMatcher {
  private readonly list: Pattern[] = [];
  private hasExclusions = false;

  /** Throws InvalidArgumentError for a lone `!` or a pattern filepath.Match rejects. */
  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      let p = goTrimSpace(raw);
      if (p === '') continue;
      p = goClean(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) throw new InvalidArgumentError('illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
        this.hasExclusions = true;
      }
      // Upstream's syntax check: filepath.Match against "." reports a malformed pattern.
      goMatch(p, '.');
      this.list.push(new Pattern(p, exclusion));
    }
  }

  /** True if any pattern is an exception (`!`). */
  exclusions(): boolean {
    return this.hasExclusions;
  }

  patterns(): Pattern[] {
    return [...this.list];
  }

  /**
   * Upstream's deprecated `Matches`: the path, or its parent directory cut to as many
   * segments as the pattern has. Kept because the CLI's "always send the Dockerfile" rule
   * (TrimBuildFilesFromExcludes) uses it.
   */
  matches(file: string): boolean {
    let matched = false;
    const parentPath = goDir(file);
    const parentDirs = parentPath.split('/');
    for (const pattern of this.list) {
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parentPath !== '.' && pattern.dirs.length <= parentDirs.length) {
        match = pattern.match(parentDirs.slice(0, pattern.dirs.length).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /** True if the path or any of its parent directories is excluded (the path is used as given). */
  matchesOrParentMatches(file: string): boolean {
    let matched = false;
    const parentPath = goDir(file);
    const parentDirs = parentPath.split('/');
    for (const pattern of this.list) {
      // An inclusion cannot change an already-excluded path, nor an exception an included one.
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parentPath !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) {
          match = pattern.match(parentDirs.slice(0, i + 1).join('/'));
        }
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * The walker's form: the parent directory's MatchInfo replaces the parent checks
   * (EMPTY_MATCH_INFO = unknown, then parents are checked as above).
   */
  matchesUsingParentResults(file: string, parent: MatchInfo): { matched: boolean; info: MatchInfo } {
    const parentMatched = parent.parentMatched;
    if (parentMatched.length !== 0 && parentMatched.length !== this.list.length) {
      throw new InvalidArgumentError('wrong number of values in parentMatched');
    }
    let matched = false;
    const out: boolean[] = new Array<boolean>(this.list.length).fill(false);
    for (let i = 0; i < this.list.length; i++) {
      const pattern = this.list[i];
      let match = parentMatched.length !== 0 ? parentMatched[i] : false;
      if (!match) {
        if (pattern.exclusion !== matched) continue;
        match = pattern.match(file);
        if (!match && parentMatched.length === 0) {
          const parentPath = goDir(file);
          if (parentPath !== '.') {
            const dirs = parentPath.split('/');
            for (let j = 0; j < dirs.length && !match; j++) match = pattern.match(dirs.slice(0, j + 1).join('/'));
          }
        }
      }
      out[i] = match;
      if (match) matched = !pattern.exclusion;
    }
    return { matched, info: { parentMatched: out } };
  }
}

/** Upstream's package function `Matches`: cleans the path first; "." never matches. */
export function matchesPatterns(file: string, patterns: readonly string[]): boolean {
  const pm = new PatternMatcher(patterns);
  const cleaned = goClean(file);
  if (cleaned === '.') return false;
  return pm.matches(cleaned);
}

/** Upstream's package function `MatchesOrParentMatches` (path cleaned first). */
export function matchesOrParentMatches(file: string, patterns: readonly string[]): boolean {
  const pm = new PatternMatcher(patterns);
  const cleaned = goClean(file);
  if (cleaned === '.') return false;
  return pm.matchesOrParentMatches(cleaned);
}
