/**
 * .dockerignore matching, checked row by row against moby/patternmatcher's own tables in
 * ../shared/conformance/dockerignore (matches.json, ignorefile.json), plus our rows for the
 * Go regexp and filepath.Match corners those tables do not reach.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../src/errors';
import {
  EMPTY_MATCH_INFO,
  PatternMatcher,
  matchesOrParentMatches,
  matchesPatterns,
  type MatchInfo,
} from '../../src/build/context/patternmatcher';
import { readIgnoreFile } from '../../src/build/context/ignorefile';
import { goClean, goDir, goTrimSpace } from '../../src/build/context/gopath';
import { goMatch } from '../../src/build/context/gomatch';
import { compileGoRegexp } from '../../src/build/context/goregexp';

function repoRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}
const SHARED = process.env.BERTH_SHARED_DIR ?? path.resolve(repoRoot(), '../shared');
const DIR = path.join(SHARED, 'conformance', 'dockerignore');

function load<T>(name: string): T {
  const file = path.join(DIR, name);
  // Fail, never skip: without the tables these tests would prove nothing.
  assert.ok(fs.existsSync(file), `conformance file missing: ${file} (set BERTH_SHARED_DIR to the shared/ directory)`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

interface MatchesJson {
  matches: {
    single: { pattern: string; path: string; match: boolean }[];
    singleUnixOnly: { pattern: string; path: string; match: boolean }[];
    multi: { patterns: string[]; path: string; match: boolean }[];
  };
  filepathMatch: { rows: { pattern: string; path: string; match: boolean; error: string | null }[] };
  simple: { cases: { test: string; patterns: string[]; path: string; match?: boolean; error?: boolean }[] };
  patternList: {
    cases: { test: string; patterns: string[]; expectedPatternCount?: number; expectedExclusions?: boolean; error?: boolean }[];
  };
  badPatternAtMatchTime: { patterns: string[]; path: string; newError: boolean; matchError: string; calls: number };
  compile: { rows: { pattern: string; matchType: string; regexp: string }[] };
}

interface IgnorefileJson {
  readAll: { cases: { input: string | null; expected: string[] }[] };
}

const M = load<MatchesJson>('matches.json');

function isBadPattern(e: unknown): boolean {
  return e instanceof InvalidArgumentError && e.message === 'syntax error in pattern';
}

/** Upstream's walk: each parent first, passing its MatchInfo down. */
function matchWalkingParents(pm: PatternMatcher, file: string): boolean {
  const parent = goDir(file);
  let info: MatchInfo = EMPTY_MATCH_INFO;
  if (parent !== '.') {
    const dirs = parent.split('/');
    for (let i = 0; i < dirs.length; i++) info = pm.matchesUsingParentResults(dirs.slice(0, i + 1).join('/'), info).info;
  }
  return pm.matchesUsingParentResults(file, info).matched;
}

const singleRows = [...M.matches.single, ...M.matches.singleUnixOnly].map((r) => ({
  patterns: [r.pattern],
  path: r.path,
  match: r.match,
}));
const allMatchRows = [...singleRows, ...M.matches.multi];

test('matches: every single, Unix-only and multi row via MatchesOrParentMatches (72 rows)', () => {
  assert.equal(allMatchRows.length, 72);
  const failures: string[] = [];
  for (const row of allMatchRows) {
    const got = new PatternMatcher(row.patterns).matchesOrParentMatches(row.path);
    if (got !== row.match) failures.push(`${JSON.stringify(row.patterns)} ${JSON.stringify(row.path)}: got ${got}`);
  }
  assert.deepEqual(failures, []);
});

test('matches: the same rows via MatchesUsingParentResults, walking parents first', () => {
  const failures = allMatchRows.filter((row) => matchWalkingParents(new PatternMatcher(row.patterns), row.path) !== row.match);
  assert.deepEqual(failures, []);
});

test('matches: the same rows via MatchesUsingParentResults with no parent context', () => {
  const failures = allMatchRows.filter(
    (row) => new PatternMatcher(row.patterns).matchesUsingParentResults(row.path, EMPTY_MATCH_INFO).matched !== row.match,
  );
  assert.deepEqual(failures, []);
});

test('filepathMatch: Go filepath.Match table through Matches(path, [pattern]) (54 rows)', () => {
  assert.equal(M.filepathMatch.rows.length, 54);
  let errors = 0;
  for (const row of M.filepathMatch.rows) {
    const what = `pattern=${JSON.stringify(row.pattern)} path=${JSON.stringify(row.path)}`;
    if (row.error !== null) {
      assert.equal(row.error, 'ErrBadPattern');
      assert.throws(() => matchesPatterns(row.path, [row.pattern]), isBadPattern, what);
      errors++;
    } else {
      assert.equal(matchesPatterns(row.path, [row.pattern]), row.match, what);
    }
  }
  assert.equal(errors, 15);
});

test('filepathMatch: the same rows straight through our filepath.Match port (no parent rule)', () => {
  for (const row of M.filepathMatch.rows) {
    const what = `pattern=${JSON.stringify(row.pattern)} path=${JSON.stringify(row.path)}`;
    if (row.error !== null) assert.throws(() => goMatch(row.pattern, row.path), isBadPattern, what);
    // "a*" vs "ab/c" is true only through the parent-directory rule.
    else if (!(row.pattern === 'a*' && row.path === 'ab/c')) assert.equal(goMatch(row.pattern, row.path), row.match, what);
    else assert.equal(goMatch(row.pattern, row.path), false);
  }
});

test('simple: package Matches(path, patterns) cases (11)', () => {
  assert.equal(M.simple.cases.length, 11);
  for (const c of M.simple.cases) {
    if (c.error) {
      assert.throws(() => matchesPatterns(c.path, c.patterns), InvalidArgumentError, c.test);
    } else {
      assert.equal(matchesPatterns(c.path, c.patterns), c.match, c.test);
    }
  }
  assert.throws(() => new PatternMatcher(['!']), { message: 'illegal exclusion pattern: "!"' });
});

test('patternList: building the matcher (6 cases)', () => {
  assert.equal(M.patternList.cases.length, 6);
  for (const c of M.patternList.cases) {
    if (c.error) {
      assert.throws(() => new PatternMatcher(c.patterns), InvalidArgumentError, c.test);
      continue;
    }
    const pm = new PatternMatcher(c.patterns);
    if (c.expectedPatternCount !== undefined) assert.equal(pm.patterns().length, c.expectedPatternCount, c.test);
    if (c.expectedExclusions !== undefined) assert.equal(pm.exclusions(), c.expectedExclusions, c.test);
  }
});

test('badPatternAtMatchTime: accepted by New, fails at match time on every call', () => {
  const b = M.badPatternAtMatchTime;
  assert.equal(b.newError, false);
  const pm = new PatternMatcher(b.patterns);
  for (let i = 0; i < b.calls; i++) assert.throws(() => pm.matchesOrParentMatches(b.path), isBadPattern, `call ${i + 1}`);
  assert.throws(() => pm.matchesUsingParentResults(b.path, EMPTY_MATCH_INFO), isBadPattern);
  assert.throws(() => matchesOrParentMatches(b.path, b.patterns), isBadPattern);
});

test('compile: classification and the Go regexp text (21 rows)', () => {
  assert.equal(M.compile.rows.length, 21);
  for (const row of M.compile.rows) {
    const [p] = new PatternMatcher([row.pattern]).patterns();
    assert.equal(p.matchType(), row.matchType, row.pattern);
    assert.equal(p.regexpSource(), row.regexp, row.pattern);
  }
});

test('ignorefile: ReadAll cases', () => {
  const cases = load<IgnorefileJson>('ignorefile.json').readAll.cases;
  assert.equal(cases.length, 2);
  for (const c of cases) assert.deepEqual(readIgnoreFile(c.input), c.expected, JSON.stringify(c.input));
});

test('ignorefile: BOM, CRLF, indented "#", cleaning, lone "/" and over-long lines', () => {
  assert.deepEqual(readIgnoreFile('\uFEFFa\r\nb/../c/\r\n  # not a comment\n#c\n/\n!  /x/./y\n\u0085z\u00a0'), [
    'a',
    'c',
    '# not a comment',
    '/',
    '!x/y',
    'z',
  ]);
  assert.deepEqual(readIgnoreFile(Buffer.from('\ufeffx', 'utf8')), ['x']);
  assert.deepEqual(readIgnoreFile('a/..\n..\n../x\n'), ['.', '..', '../x']);
  assert.throws(() => readIgnoreFile('x'.repeat(70000) + '\n'), /token too long/);
  assert.deepEqual(readIgnoreFile('x'.repeat(65535) + '\n'), ['x'.repeat(65535)]);
});

test('gopath: Clean, Dir and TrimSpace agree with Go', () => {
  const clean: [string, string][] = [
    ['', '.'],
    ['/', '/'],
    ['a/./b/', 'a/b'],
    ['a//b', 'a/b'],
    ['/../a', '/a'],
    ['a/../..', '..'],
    ['../../a/..', '../..'],
    ['!./x', '!./x'],
    ['**/', '**'],
  ];
  for (const [i, o] of clean) assert.equal(goClean(i), o, i);
  assert.equal(goDir('file/'), 'file');
  assert.equal(goDir('file'), '.');
  assert.equal(goDir('/'), '/');
  assert.equal(goDir('a/b/c'), 'a/b');
  assert.equal(goTrimSpace('\u0085 x\u3000'), 'x');
  assert.equal(goTrimSpace('\uFEFFx'), '\uFEFFx');
});

test('Go regexp semantics that differ from JavaScript are kept', () => {
  // [pattern, path, match] through MatchesOrParentMatches
  const rows: [string, string, boolean][] = [
    ['a\\d', 'a7', true], // Go's \d
    ['a\\d', 'ad', false],
    ['[[:alpha:]]x', 'qx', true], // POSIX class inside a class
    ['[[:alpha:]]x', ':x', false],
    ['[*]', '[^/', false],
    ['[*]', '[]', true], // "[" + "[^/]*" + "]": Docker's regexp is "^[[^/]*]$"
    ['a]', 'a]', true],
    ['x\\Qa*', 'xa[^/]*$z', true], // \Q quotes the rest, even the generated "$"
    ['x\\s', 'x\u00a0', false], // \s is ASCII-only in Go
    ['x\\s', 'x\t', true],
    ['a?', 'a\n', true], // [^/] matches a newline
    ['**/**', 'a\nb', false], // "." does not
    ['a?b', 'a\u{1F600}b', true], // one rune, not one UTF-16 unit
    ['\\pLx', 'éx', true],
    // Upstream's escape bitmap misses '{', '|' and '}', so Go's regexp sees them raw.
    ['a{2}', 'a{2}', true], // no regexp character: an exact match
    ['a{2}*', 'aaxyz', true], // "^a{2}[^/]*$": a repeat count
    ['a{2}*', 'a{2}x', false],
    ['x*|y', 'ay', true], // "^x[^/]*|y$": an alternation, unanchored on each side
    ['x*|y', 'xa/b/c', true],
    ['x*|y', 'zzz', false],
    ['\\pL*', 'αβ', true],
    ['\\p{Greek}*', 'αβ', true], // the braces reach Go unescaped, so this is a script class
    ['\\p{Greek}*', 'ab', false],
    ['\\pN*', 'ab', false],
  ];
  for (const [pattern, p, want] of rows) {
    assert.equal(new PatternMatcher([pattern]).matchesOrParentMatches(p), want, `${pattern} vs ${JSON.stringify(p)}`);
  }
  // Regexps Go refuses become ErrBadPattern at match time.
  for (const bad of ['[[:nope:]]', 'a\\q*', '\\1x*', '[z-a]*', '\\p{Nope}*']) {
    let built: PatternMatcher | undefined;
    try {
      built = new PatternMatcher([bad]);
    } catch (e) {
      assert.ok(isBadPattern(e), `${bad}: ${String(e)}`);
      continue;
    }
    assert.throws(() => built?.matchesOrParentMatches('x'), isBadPattern, bad);
  }
  assert.throws(() => compileGoRegexp('a**'), /nested repetition/);
  assert.throws(() => new PatternMatcher(['*{2}']).matchesOrParentMatches('x'), isBadPattern); // "[^/]*{2}" stacks repeats
  assert.throws(() => new PatternMatcher(['a{1001}*']).matchesOrParentMatches('x'), isBadPattern);
  assert.equal(compileGoRegexp('^\\x{1F600}\\101$').test('\u{1F600}A'), true);
});

test('filepath.Match quirks: byte-wise star skipping and full syntax check', () => {
  assert.equal(goMatch('*??', '☺'), true); // Go skips into the middle of the rune
  assert.equal(goMatch('a*', 'a/b'), false);
  assert.throws(() => goMatch('x[', 'y'), isBadPattern); // checked even after a mismatch
  assert.equal(goMatch('[^a-c]', 'd'), true);
  assert.equal(goMatch('\\*', '*'), true);
});
