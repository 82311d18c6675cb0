/**
 * BuildKit's shell word lexer, checked row by row against the upstream tables in
 * ../shared/conformance/shell-lex (envVarTest, wordsTest, process-word-cases.json),
 * plus our own rows for the backtick escape token and the option flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../src/errors';
import { envFromList, processWord, processWords, type ShellLexOptions } from '../../src/build/dockerfile/shell';

function repoRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}
const SHARED = process.env.BERTH_SHARED_DIR ?? path.resolve(repoRoot(), '../shared');
const DIR = path.join(SHARED, 'conformance', 'shell-lex');

function read(name: string): string {
  const file = path.join(DIR, name);
  assert.ok(fs.existsSync(file), `conformance file missing: ${file} (set BERTH_SHARED_DIR to the shared/ directory)`);
  return fs.readFileSync(file, 'utf8');
}

const sorted = (s: Set<string>): string[] => [...s].sort();

test('envVarTest: every A and U row expands as one word (228 rows)', () => {
  const env = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };
  let ran = 0;
  for (const raw of read('envVarTest').split('\n')) {
    if (raw.startsWith('#')) continue;
    const line = raw.trim();
    if (!line) continue;
    const fields = line.split('|').map((s) => s.trim());
    assert.equal(fields.length, 3, `bad row: ${raw}`);
    const [plat, input, expected] = fields;
    if (plat === 'W') continue;
    ran++;
    if (expected === 'error') {
      assert.throws(() => processWord(input, env), InvalidArgumentError, `row ${JSON.stringify(input)} must fail`);
    } else {
      assert.equal(processWord(input, env).result, expected, `row ${JSON.stringify(input)}`);
    }
  }
  assert.equal(ran, 228);
});

test('wordsTest: expansion with word splitting (24 rows)', () => {
  const env: Record<string, string> = {};
  let ran = 0;
  for (const raw of read('wordsTest').split('\n')) {
    if (raw.startsWith('#') || raw === '') continue;
    if (raw.startsWith('ENV ')) {
      const def = raw.slice(4).replace(/^ +/, '');
      const i = def.indexOf('=');
      env[def.slice(0, i)] = def.slice(i + 1);
      continue;
    }
    const parts = raw.split('|');
    assert.equal(parts.length, 2, `bad row: ${raw}`);
    const input = parts[0].trim();
    const right = parts[1].replace(/^ +/, '');
    ran++;
    if (right === 'error') {
      assert.throws(() => processWords(input, { ...env }), InvalidArgumentError, `row ${JSON.stringify(input)} must fail`);
    } else {
      assert.deepEqual(processWords(input, { ...env }), right.split(','), `row ${JSON.stringify(input)}`);
    }
  }
  assert.equal(ran, 24);
});

interface MatchCase {
  input: string;
  env: Record<string, string>;
  expected?: string;
  error?: boolean;
  errorContains?: string;
  matched?: string[];
  unmatched?: string[];
}
interface Cases {
  processWordWithMatches: { cases: MatchCase[] };
  mandatoryEnvVars: { cases: MatchCase[] };
  platformTemplate: { cases: MatchCase[] };
  getEnv: { cases: Array<{ envList: string[]; name: string; expected: string }> };
}
const cases = (): Cases => JSON.parse(read('process-word-cases.json')) as Cases;

function checkCase(c: MatchCase): void {
  const what = `${JSON.stringify(c.input)} with ${JSON.stringify(c.env)}`;
  if (c.error) {
    assert.throws(
      () => processWord(c.input, c.env),
      (e: unknown) => e instanceof InvalidArgumentError && (!c.errorContains || e.message.includes(c.errorContains)),
      `${what} must fail${c.errorContains ? ` mentioning ${c.errorContains}` : ''}`,
    );
    return;
  }
  const r = processWord(c.input, c.env);
  assert.equal(r.result, c.expected, what);
  if (c.matched) assert.deepEqual(sorted(r.used), [...c.matched].sort(), `${what}: matched`);
  if (c.unmatched) assert.deepEqual(sorted(r.unmatched), [...c.unmatched].sort(), `${what}: unmatched`);
}

test('process-word-cases: processWordWithMatches (result, matched and unmatched sets)', () => {
  const cs = cases().processWordWithMatches.cases;
  assert.equal(cs.length, 47);
  cs.forEach(checkCase);
});

test('process-word-cases: mandatoryEnvVars ${VAR:?msg} / ${VAR?msg}', () => {
  const cs = cases().mandatoryEnvVars.cases;
  assert.equal(cs.length, 6);
  cs.forEach(checkCase);
});

test('process-word-cases: platformTemplate nesting', () => {
  const cs = cases().platformTemplate.cases;
  assert.equal(cs.length, 3);
  cs.forEach(checkCase);
});

test('process-word-cases: getEnv over KEY=value lists', () => {
  const cs = cases().getEnv.cases;
  assert.equal(cs.length, 7);
  for (const c of cs) assert.equal(envFromList(c.envList)(c.name) ?? '', c.expected, JSON.stringify(c));
  assert.equal(envFromList(['foo'])('foo'), '', 'a bare KEY is set (to "")');
  assert.equal(envFromList([])('foo'), undefined, 'a missing key is unset');
});

// Our own rows: options and the backtick escape token, which the upstream tables do not cover.
const OWN: Array<{ input: string; opts?: ShellLexOptions; env?: Record<string, string>; expected: string | Error }> = [
  { input: 'a`$b', opts: { escapeToken: '`' }, env: { b: 'x' }, expected: 'a$b' },
  { input: 'C:\\dir\\$b', opts: { escapeToken: '`' }, env: { b: 'x' }, expected: 'C:\\dir\\x' },
  { input: '"a`"b"', opts: { escapeToken: '`' }, expected: 'a"b' },
  { input: '$X ${Y} ${Z:-d}', opts: { skipUnsetEnv: true }, expected: '$X ${Y} ${Z:-d}' },
  { input: '${A//b/c}', opts: { skipUnsetEnv: true }, expected: '${A/b/c}' },
  { input: `'a' "b"`, opts: { rawQuotes: true }, expected: `'a' "b"` },
  { input: 'a\\ b', opts: { rawEscapes: true }, expected: 'a\\ b' },
  { input: `it's "$X"`, opts: { skipProcessQuotes: true }, env: { X: '1' }, expected: `it's "1"` },
  { input: '${X/o/0}', env: { X: 'foo' }, expected: 'f0o' },
  { input: '${X//o/<$0>}', env: { X: 'foo' }, expected: 'f<><>' }, // $0 is a positional parameter first
  { input: '${X//o/<\\$0>}', env: { X: 'foo' }, expected: 'f<\\o><\\o>' }, // Go's template then sees \$0
  { input: '${X//o*/_}', env: { X: 'foo' }, expected: 'f_' },
  { input: '${X%.*}', env: { X: 'a.tar.gz' }, expected: 'a.tar' },
  { input: '${X%%.*}', env: { X: 'a.tar.gz' }, expected: 'a' },
  { input: '${X#\\a}', env: { X: 'ab' }, expected: new Error('invalid escape') },
  { input: '${X', expected: new Error("missing '}'") },
  { input: '😀$X😀', env: { X: 'é' }, expected: '😀é😀' },
];

test('own rows: escape token, raw modes, replacement templates, patterns', () => {
  for (const c of OWN) {
    const what = `${JSON.stringify(c.input)} ${JSON.stringify(c.opts ?? {})}`;
    if (c.expected instanceof Error) {
      const msg = c.expected.message;
      assert.throws(() => processWord(c.input, c.env ?? {}, c.opts), (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(msg), what);
    } else {
      assert.equal(processWord(c.input, c.env ?? {}, c.opts).result, c.expected, what);
    }
  }
});

test('processWords keeps quoted text in one word and splits unquoted expansions', () => {
  assert.deepEqual(processWords('80/tcp ${P}', { P: '443 8080/udp' }), ['80/tcp', '443', '8080/udp']);
  assert.deepEqual(processWords('"${P}" x', { P: 'a b' }), ['a b', 'x']);
  assert.deepEqual(processWords('RUN <<  EOF  > foo', {}), ['RUN', '<<  EOF', '>', 'foo']);
  assert.deepEqual(processWords('', {}), []);
});

test('a lookup function can stand in for the env object; inherited keys are not variables', () => {
  const r = processWord('$A-$B-$constructor', (k) => (k === 'A' ? 'a' : undefined));
  assert.equal(r.result, 'a--');
  assert.deepEqual(sorted(r.used), ['A']);
  assert.deepEqual(sorted(r.unmatched), ['B', 'constructor']);
  assert.equal(processWord('$toString', {}).result, '');
});

test('errors name the word, as BuildKit does', () => {
  assert.throws(() => processWord('he${PWD:=000}xx', {}), { message: 'failed to process "he${PWD:=000}xx": unsupported modifier (:=) in substitution' });
  assert.throws(() => processWord("'x", {}), { message: `failed to process "'x": unexpected end of statement while looking for matching single-quote` });
  assert.throws(() => processWord('${V:?must be set}', {}), { message: 'failed to process "${V:?must be set}": V: must be set' });
});
