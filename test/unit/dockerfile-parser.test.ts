/**
 * The Dockerfile parser and typed instructions, checked against BuildKit's own
 * test data in ../shared/conformance/dockerfile-parser (every testfile dump,
 * negative case, line fixture and every section of heredoc-cases.json and
 * parser-cases.json), then our own tables for each instruction, the tricky
 * forms and the error messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../src/errors';
import {
  chompHeredocContent,
  detectSyntax,
  DirectiveParser,
  DockerfileParseError,
  dumpNode,
  findDirectiveValue,
  heredocsFromLine,
  parseDockerfile,
  parseHeredoc,
  parseJSON,
  parseNameVal,
  parseWords,
  type Heredoc,
  type Node,
} from '../../src/build/dockerfile/parser';
import { parseInstructions, type Command, type Stage } from '../../src/build/dockerfile/instructions';
import { expandCommand, expandFrom } from '../../src/build/dockerfile/expand';
import { parseMount } from '../../src/build/dockerfile/mount';
import { parseGoDuration } from '../../src/build/dockerfile/duration';

function repoRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}
const SHARED = process.env.BERTH_SHARED_DIR ?? path.resolve(repoRoot(), '../shared');
const DIR = path.join(SHARED, 'conformance', 'dockerfile-parser');

function conformance(rel: string): string {
  const p = path.join(DIR, rel);
  assert.ok(fs.existsSync(p), `conformance data missing: ${p} (set BERTH_SHARED_DIR to the shared/ directory)`);
  return p;
}
const readJSON = <T>(rel: string): T => JSON.parse(fs.readFileSync(conformance(rel), 'utf8')) as T;

/** The node's argument values, flattened as in the dumps. */
function args(node: Node): string[] {
  const out: string[] = [];
  for (let n = node.next; n; n = n.next) out.push(n.value);
  return out;
}

/** Assert that `actual` has every key of `expected` with an equal value (Node 20 lacks partialDeepStrictEqual). */
function assertHas(actual: unknown, expected: Record<string, unknown>, what: string): void {
  assert.ok(actual && typeof actual === 'object', `${what}: not an object`);
  const a = actual as Record<string, unknown>;
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, a[k]]));
  assert.deepEqual(picked, expected, what);
}

function parseError(fn: () => unknown): DockerfileParseError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DockerfileParseError, `expected a DockerfileParseError, got ${String(e)}`);
    assert.ok(e instanceof InvalidArgumentError, 'parse errors are InvalidArgumentError');
    return e;
  }
  assert.fail('expected a parse error');
}

// ---------------------------------------------------------------- conformance

test('testfiles: all 33 ASTs dump exactly as BuildKit\'s result files', () => {
  const root = conformance('testfiles');
  const cases = fs.readdirSync(root).sort();
  assert.equal(cases.length, 33);
  for (const c of cases) {
    const ast = parseDockerfile(fs.readFileSync(path.join(root, c, 'Dockerfile'))).ast;
    const want = fs.readFileSync(path.join(root, c, 'result'), 'utf8');
    assert.equal(dumpNode(ast) + '\n', want, `testfiles/${c}`);
  }
});

test('testfiles-negative: all 4 fail, with BuildKit\'s messages', () => {
  const want: Record<string, string> = {
    empty_dockerfile: 'file with no instructions',
    only_comments: 'file with no instructions',
    env_no_value: 'ENV must have two arguments',
    'shykes-nested-json': 'when using JSON array syntax, arrays must be comprised of strings only',
  };
  const root = conformance('testfiles-negative');
  const cases = fs.readdirSync(root).sort();
  assert.deepEqual(cases, Object.keys(want).sort());
  for (const c of cases) {
    const e = parseError(() => parseDockerfile(fs.readFileSync(path.join(root, c, 'Dockerfile'))));
    assert.equal(e.reason, want[c], c);
  }
  assert.equal(parseError(() => parseDockerfile('FROM busybox\n\nENV PATH\n')).line, 3);
});

interface ParserCases {
  lineNumbers: { root: { startLine: number; endLine: number; children: number }; children: Array<[number, number]> };
  emptyContinuationWarnings: {
    dockerfile: string;
    expectedWarningCount: number;
    expected: Array<{ warning: number; shortContains: string[]; detail0Contains?: string[] }>;
  };
  lineTooLong: { template: string; fill: string; fillCount: number; expectedError: string };
  parseWords: { cases: Array<{ input: string; expected: string[] }> };
  jsonArrays: { valid: Array<{ input: string; expected: string[] }>; invalid: string[] };
  nameVal: { cases: Array<{ command: string; input: string; expected?: string[]; error?: boolean }> };
  directives: { cases: Array<{ input: string; expected: Array<{ name: string; value: string }> }> };
  detectSyntax: { cases: Array<{ input: string; ok: boolean; ref?: string; cmdline?: string; startLine?: number; endLine?: number }> };
  parseDirective: {
    key: string;
    cases: Array<{ input: string; ok: boolean; value?: string; cmdline?: string; startLine?: number; endLine?: number }>;
  };
}
const parserCases = (): ParserCases => readJSON<ParserCases>('parser-cases.json');

test('testfile-line / parser-cases lineNumbers: root and child line ranges', () => {
  const lc = parserCases().lineNumbers;
  const { ast } = parseDockerfile(fs.readFileSync(conformance('testfile-line/Dockerfile')));
  assert.deepEqual([ast.startLine, ast.endLine, ast.children.length], [lc.root.startLine, lc.root.endLine, lc.root.children]);
  assert.deepEqual(ast.children.map((c) => [c.startLine, c.endLine]), lc.children);
});

test('parser-cases emptyContinuationWarnings: two warnings, comments do not warn', () => {
  const c = parserCases().emptyContinuationWarnings;
  const { warnings } = parseDockerfile(c.dockerfile);
  assert.equal(warnings.length, c.expectedWarningCount);
  for (const x of c.expected) {
    const w = warnings[x.warning];
    for (const s of x.shortContains) assert.ok(w.message.includes(s), `warning ${x.warning}: ${w.message} lacks ${s}`);
    for (const s of x.detail0Contains ?? []) assert.ok(w.detail.includes(s), `warning ${x.warning} detail lacks ${s}`);
  }
  assert.deepEqual(warnings.map((w) => w.line), [11, 15]);
});

test('parser-cases lineTooLong: BuildKit\'s scanner limit of 65535 bytes', () => {
  const c = parserCases().lineTooLong;
  const text = c.template.replace('%s', c.fill.repeat(c.fillCount));
  const e = parseError(() => parseDockerfile(text));
  assert.equal(e.reason, c.expectedError);
  // exactly at the limit is fine, multi-byte characters count as bytes
  assert.doesNotThrow(() => parseDockerfile(`FROM a\nLABEL x=${'a'.repeat(65535 - 8)}\n`));
  assert.equal(parseError(() => parseDockerfile(`FROM a\nLABEL x=${'é'.repeat(32764)}\n`)).reason, c.expectedError);
});

test('parser-cases parseWords: quotes and escapes stay in the words', () => {
  for (const c of parserCases().parseWords.cases) assert.deepEqual(parseWords(c.input, '\\'), c.expected, c.input);
});

test('parser-cases jsonArrays: valid arrays parse, non-string elements are an error', () => {
  const c = parserCases().jsonArrays;
  assert.equal(c.valid.length + c.invalid.length, 16);
  for (const v of c.valid) assert.deepEqual(parseJSON(v.input), v.expected, v.input);
  for (const inv of c.invalid) {
    assert.throws(() => parseJSON(inv), /arrays must be comprised of strings only/, inv);
    // as an instruction it is an error too, not a fallback to shell form
    assert.throws(() => parseDockerfile(`CMD ${inv}`), /arrays must be comprised of strings only/, inv);
  }
});

test('parser-cases nameVal: ENV/LABEL triples, old and new form', () => {
  for (const c of parserCases().nameVal.cases) {
    if (c.error) {
      assert.throws(() => parseNameVal(c.input, c.command, '\\'), new RegExp(`${c.command} must have two arguments`));
      continue;
    }
    const n = parseNameVal(c.input, c.command, '\\');
    const got: string[] = [];
    for (let x = n; x; x = x.next) got.push(x.value);
    assert.deepEqual(got, c.expected, c.input);
  }
});

test('parser-cases directives: only at the top, case-insensitive names', () => {
  for (const c of parserCases().directives.cases) {
    const got = new DirectiveParser().parseAll(c.input).map(({ name, value }) => ({ name, value }));
    assert.deepEqual(got, c.expected, JSON.stringify(c.input));
  }
});

test('parser-cases detectSyntax: #, // and JSON forms, BOM and #! skipped', () => {
  const cs = parserCases().detectSyntax.cases;
  assert.equal(cs.length, 10);
  for (const c of cs) {
    const d = detectSyntax(c.input);
    assert.equal(d !== null, c.ok, JSON.stringify(c.input));
    if (c.ref !== undefined) assert.equal(d?.ref ?? '', c.ref, JSON.stringify(c.input));
    if (c.cmdline !== undefined) assert.equal(d?.cmdline ?? '', c.cmdline, JSON.stringify(c.input));
    if (c.startLine !== undefined) assert.deepEqual([d?.startLine, d?.endLine], [c.startLine, c.endLine], JSON.stringify(c.input));
  }
});

test('parser-cases parseDirective: `check` with # comments only', () => {
  const p = parserCases().parseDirective;
  assert.equal(p.cases.length, 5);
  for (const c of p.cases) {
    const d = findDirectiveValue(p.key, c.input);
    assert.equal(d !== null, c.ok, JSON.stringify(c.input));
    if (c.value !== undefined) assert.equal(d?.ref ?? '', c.value);
    if (c.cmdline !== undefined) assert.equal(d?.cmdline ?? '', c.cmdline);
    if (c.startLine !== undefined) assert.deepEqual([d?.startLine, d?.endLine], [c.startLine, c.endLine]);
  }
});

interface HeredocCases {
  parse: Array<{ name: string; dockerfile: string; expected: Array<{ child: number; heredocs: Heredoc[] | null }> }>;
  chomp: Array<{ input: string; expected: string }>;
  parseHeredoc: { valid: Array<{ input: string; name: string }>; invalid: string[]; notHeredoc: string[] };
  heredocsFromLine: { cases: Array<{ line: string; names: string[] | null; buildkitReturns?: string[] }> };
}
const heredocCases = (): HeredocCases => readJSON<HeredocCases>('heredoc-cases.json');

test('heredoc-cases parse: every expected child carries exactly its heredocs', () => {
  const ps = heredocCases().parse;
  let checked = 0;
  for (const p of ps) {
    const { ast } = parseDockerfile(p.dockerfile);
    for (const x of p.expected) {
      const child = ast.children[x.child];
      assert.ok(child, `${p.name}: child ${x.child} missing`);
      assert.deepEqual(child.heredocs, x.heredocs ?? [], `${p.name}: child ${x.child} (${child.original})`);
      checked++;
    }
  }
  assert.equal(checked, 30);
});

test('heredoc-cases chomp: leading tabs removed per line', () => {
  for (const c of heredocCases().chomp) assert.equal(chompHeredocContent(c.input), c.expected);
  assert.equal(chompHeredocContent('\ta\r\tb\n'), 'a\r\tb\n', 'only \\n starts a line, as in Go');
});

test('heredoc-cases parseHeredoc: valid, invalid and not-a-heredoc words', () => {
  const c = heredocCases().parseHeredoc;
  for (const v of c.valid) assert.equal(parseHeredoc(v.input)?.name, v.name, v.input);
  for (const inv of c.invalid) assert.throws(() => parseHeredoc(inv), InvalidArgumentError, inv);
  for (const n of c.notHeredoc) assert.equal(parseHeredoc(n), null, n);
});

test('heredoc-cases heredocsFromLine: names in order (BuildKit\'s real result where annotated)', () => {
  for (const c of heredocCases().heredocsFromLine.cases) {
    const want = c.buildkitReturns ?? c.names ?? [];
    assert.deepEqual(heredocsFromLine(c.line).map((h) => h.name), want, c.line);
  }
});

// ---------------------------------------------------------------- our own: parser

const DUMPS: Array<{ name: string; dockerfile: string; dump: string }> = [
  { name: 'lower-case keywords keep their args', dockerfile: 'from alpine\nrun echo Hi', dump: '(from "alpine")\n(run "echo Hi")' },
  { name: 'CRLF line endings', dockerfile: 'FROM a\r\nRUN x \\\r\n  y\r\n', dump: '(from "a")\n(run "x   y")' },
  { name: 'UTF-8 BOM', dockerfile: '\uFEFFFROM a', dump: '(from "a")' },
  { name: 'JSON with odd spacing', dockerfile: 'CMD   [ "a" ,\t"b"  ]   ', dump: '(cmd "a" "b")' },
  { name: 'single quotes are not JSON: shell form', dockerfile: "CMD ['a', 'b']", dump: `(cmd "['a', 'b']")` },
  { name: 'missing comma is not JSON: shell form', dockerfile: 'ENTRYPOINT ["a" "b"]', dump: '(entrypoint "[\\"a\\" \\"b\\"]")' },
  { name: 'JSON object is not an array: shell form', dockerfile: 'RUN {"a": 1}', dump: '(run "{\\"a\\": 1}")' },
  { name: 'COPY words vs JSON', dockerfile: 'COPY ["a b", "/c"]\nCOPY a  b\t/c', dump: '(copy "a b" "/c")\n(copy "a" "b" "/c")' },
  { name: 'continuation with comments and blank lines', dockerfile: 'RUN a \\\n# c1\n  # c2\n\n b', dump: '(run "a  b")' },
  { name: 'escaped escape is not a continuation', dockerfile: 'RUN a\\\\\nRUN b', dump: '(run "a\\\\\\\\")\n(run "b")' },
  { name: 'backtick escape and Windows paths', dockerfile: '# escape=`\nFROM a\nCOPY C:\\x `\n  C:\\y', dump: '(from "a")\n(copy "C:\\\\x" "C:\\\\y")' },
  { name: 'directive after an instruction is a comment', dockerfile: 'FROM a\n# escape=`\nRUN b `\nRUN c', dump: '(from "a")\n(run "b `")\n(run "c")' },
  { name: 'flags with quotes, escapes and --', dockerfile: 'COPY --chown="a b" --chmod=7\\55 -- --x y', dump: '(copy ["--chown=a b" "--chmod=755"] "--x" "y")' },
  { name: 'ONBUILD nests, flags included', dockerfile: 'ONBUILD COPY --from=b . /\nONBUILD', dump: '(onbuild (copy ["--from=b"] "." "/"))\n(onbuild)' },
  { name: 'unknown instructions keep an empty argument', dockerfile: 'FOO bar baz', dump: '(foo "")' },
  { name: 'heredoc line is dumped as written', dockerfile: 'RUN <<EOF cat\nhello\nEOF\nCOPY <<A <<B /d\na\nA\nb\nB', dump: '(run "<<EOF cat")\n(copy "<<A" "<<B" "/d")' },
  { name: 'HEALTHCHECK forms', dockerfile: 'HEALTHCHECK NONE\nHEALTHCHECK --retries=2 CMD  [ "x" ]', dump: '(healthcheck "NONE")\n(healthcheck ["--retries=2"] "CMD" "x")' },
  { name: 'ENV old form keeps inner spacing', dockerfile: 'ENV A  b  c ', dump: '(env "A" "b  c" "")' },
  { name: 'LABEL quoted pairs', dockerfile: 'LABEL "a b"="c d" e=\'f\'', dump: '(label "\\"a b\\"" "\\"c d\\"" "=" "e" "\'f\'" "=")' },
  { name: 'control characters quoted as Go does', dockerfile: 'RUN ["\\u0001\\u007f\\u00a0é"]', dump: '(run "\\x01\\x7f\\u00a0é")' },
  { name: 'continuation at end of file', dockerfile: 'FROM a\nRUN b \\', dump: '(from "a")\n(run "b")' },
];

test('own dumps: tricky forms', () => {
  for (const c of DUMPS) assert.equal(dumpNode(parseDockerfile(c.dockerfile).ast), c.dump, c.name);
});

test('heredocs: bodies, chomp, quoting, fd, ONBUILD, line ranges', () => {
  const { ast } = parseDockerfile([
    'FROM a', //                        1
    'RUN <<-EOT bash', //               2
    '\techo "$HOME"', //                3
    '\tEOT', //                         4
    'COPY <<"X" 2<<Y /dst/', //         5
    'x $V', //                          6
    'X', //                             7
    'Y', //                             8
    'ONBUILD RUN <<Z', //               9
    'z', //                             10
    'Z', //                             11
    'RUN ["<<EOF"]', //                 12
  ].join('\n'));
  const [, run, copy, onbuild, json] = ast.children;
  assert.deepEqual(run.heredocs, [{ name: 'EOT', content: '\techo "$HOME"\n', expand: true, chomp: true, fileDescriptor: 0 }]);
  assert.deepEqual([run.startLine, run.endLine], [2, 4]);
  assert.deepEqual(copy.heredocs, [
    { name: 'X', content: 'x $V\n', expand: false, chomp: false, fileDescriptor: 0 },
    { name: 'Y', content: '', expand: true, chomp: false, fileDescriptor: 2 },
  ]);
  assert.deepEqual(onbuild.heredocs.map((h) => [h.name, h.content]), [['Z', 'z\n']]);
  assert.deepEqual(json.heredocs, []);
  assert.equal(ast.endLine, 12);
});

test('parse errors name the line and show the snippet', () => {
  const cases: Array<{ dockerfile: string; line: number; reason: string | RegExp; snippet?: string }> = [
    { dockerfile: 'FROM a\nRUN <<EOF\nno end', line: 2, reason: 'unterminated heredoc', snippet: ' 2 | RUN <<EOF' },
    { dockerfile: '# escape=x\nFROM a', line: 1, reason: "invalid escape token 'x' does not match ` or \\" },
    { dockerfile: '# escape=\\\n# escape=`\nFROM a', line: 2, reason: 'only one escape parser directive can be used' },
    { dockerfile: 'FROM a\n\nCMD ["a", 1]', line: 3, reason: /arrays must be comprised of strings only/, snippet: ' 3 | CMD ["a", 1]' },
    { dockerfile: 'FROM a\nLABEL a=b c', line: 2, reason: `Syntax error - can't find = in "c". Must be of the form: name=value` },
    { dockerfile: 'FROM a\nRUN <<A <<B\nA\n', line: 2, reason: 'unterminated heredoc', snippet: ' 3 | A' },
    { dockerfile: '\n\n', line: 0, reason: 'file with no instructions' },
  ];
  for (const c of cases) {
    const e = parseError(() => parseDockerfile(c.dockerfile));
    assert.equal(e.line, c.line, c.dockerfile);
    if (typeof c.reason === 'string') assert.equal(e.reason, c.reason, c.dockerfile);
    else assert.match(e.reason, c.reason, c.dockerfile);
    assert.ok(e.message.startsWith(c.line > 0 ? `Dockerfile:${c.line}: ` : 'Dockerfile: '), e.message);
    if (c.snippet) assert.ok(e.message.includes(c.snippet), e.message);
  }
  const e = parseError(() => parseDockerfile('RUN <<EOF\n', { filename: 'build/Containerfile' }));
  assert.ok(e.message.startsWith('build/Containerfile:1: unterminated heredoc'), e.message);
});

test('AST nodes carry original text, flags and the json attribute', () => {
  const { ast, escapeToken } = parseDockerfile('# escape=`\nFROM a\nRUN --network=none `\n  echo hi\nCMD ["x"]');
  assert.equal(escapeToken, '`');
  const [, run, cmd] = ast.children;
  assert.deepEqual(run.flags, ['--network=none']);
  assert.equal(run.original, 'RUN --network=none   echo hi');
  assert.deepEqual([run.startLine, run.endLine], [3, 4]);
  assert.deepEqual(args(run), ['echo hi']);
  assert.deepEqual(cmd.attributes, { json: true });
  assert.deepEqual(run.attributes, {});
});

// ---------------------------------------------------------------- our own: instructions

const ALL = `# syntax=docker/dockerfile:1
ARG BASE=alpine:3.20
ARG   V
FROM --platform=$BUILDPLATFORM \${BASE} AS Build
RUN --mount=type=cache,target=/root/.cache,id=c1,sharing=locked --network=none make
RUN ["/bin/sh", "-c", "echo hi"]
RUN --mount=type=secret,id=tok,env=TOKEN --mount=type=tmpfs,target=/t,size=64m --security=insecure <<EOF
echo $TOKEN
EOF
FROM scratch
COPY --from=build --chown=1:2 --chmod=644 --link --exclude=*.md --parents a b /dst/
ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://x/y.tar /y
COPY <<-EOT /greeting
\thello $NAME
\tEOT
ENV A=1 B="two words"
ENV C three words
LABEL org.example="x y"
WORKDIR /app
USER app:app
CMD echo hi
ENTRYPOINT ["/bin/app", "--flag"]
EXPOSE 8080/tcp 443
VOLUME ["/data", "/logs"]
VOLUME /a /b
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s --retries=3 CMD curl -f http://localhost/
SHELL ["/bin/bash", "-c"]
ONBUILD RUN echo built
MAINTAINER someone
`;

test('parseInstructions: every instruction type', () => {
  const r = parseInstructions(ALL);
  assert.equal(r.escapeToken, '\\');
  assert.deepEqual(r.metaArgs.map((a) => a.pairs), [[{ key: 'BASE', value: 'alpine:3.20' }], [{ key: 'V' }]]);
  assert.equal(r.stages.length, 2);
  const [build, final] = r.stages;
  assertHas(build, { name: 'build', baseName: '${BASE}', platform: '$BUILDPLATFORM', startLine: 4, endLine: 4 }, 'FROM');
  assert.equal(build.code, 'FROM --platform=$BUILDPLATFORM ${BASE} AS Build');
  assertHas(final, { name: '', baseName: 'scratch', platform: '' }, 'FROM scratch');

  const [run1, run2, run3] = build.commands;
  assertHas(run1, { kind: 'run', shell: true, cmd: ['make'], network: 'none', security: 'sandbox', devices: [] }, 'RUN shell');
  assert.deepEqual(run1.kind === 'run' && run1.mounts, [
    { type: 'cache', target: '/root/.cache', cacheId: 'c1', cacheSharing: 'locked', readOnly: false, sizeLimit: 0, required: false },
  ]);
  assertHas(run2, { kind: 'run', shell: false, cmd: ['/bin/sh', '-c', 'echo hi'], mounts: [] }, 'RUN exec');
  assertHas(run3, { kind: 'run', shell: true, cmd: ['<<EOF'], security: 'insecure', startLine: 7, endLine: 9 }, 'RUN heredoc');
  assert.deepEqual(run3.kind === 'run' && run3.heredocs.map((h) => h.content), ['echo $TOKEN\n']);
  assert.deepEqual(run3.kind === 'run' && run3.mounts, [
    { type: 'secret', cacheId: 'tok', env: 'TOKEN', readOnly: true, sizeLimit: 0, required: false },
    { type: 'tmpfs', target: '/t', sizeLimit: 64 * 1024 * 1024, readOnly: false, required: false },
  ]);

  const byKind = (k: Command['kind']): Command[] => final.commands.filter((c) => c.kind === k);
  const expected: Array<[Command['kind'], Record<string, unknown>]> = [
    ['copy', { sources: ['a', 'b'], dest: '/dst/', from: 'build', chown: '1:2', chmod: '644', link: true, parents: true, excludes: ['*.md'], sourceContents: [] }],
    ['add', { sources: ['https://x/y.tar'], dest: '/y', checksum: 'sha256:abc', keepGitDir: true, unpack: false, link: false, chown: '' }],
    ['env', { pairs: [{ key: 'A', value: '1', noDelim: false }, { key: 'B', value: '"two words"', noDelim: false }] }],
    ['label', { pairs: [{ key: 'org.example', value: '"x y"', noDelim: false }] }],
    ['workdir', { path: '/app' }],
    ['user', { user: 'app:app' }],
    ['cmd', { shell: true, cmd: ['echo hi'] }],
    ['entrypoint', { shell: false, cmd: ['/bin/app', '--flag'] }],
    ['expose', { ports: ['443', '8080/tcp'] }],
    ['stopsignal', { signal: 'SIGTERM' }],
    ['healthcheck', { test: ['CMD-SHELL', 'curl -f http://localhost/'], interval: 90e9, timeout: 500e6, startPeriod: 2e9, startInterval: 1e9, retries: 3 }],
    ['shell', { shell: ['/bin/bash', '-c'] }],
    ['onbuild', { expression: 'RUN echo built' }],
    ['maintainer', { maintainer: 'someone' }],
  ];
  for (const [kind, want] of expected) assertHas(byKind(kind)[0], want, kind);
  assertHas(byKind('copy')[1], { sources: [], dest: '/greeting', sourceContents: [{ path: 'EOT', data: 'hello $NAME\n', expand: true }] }, 'COPY heredoc');
  assertHas(byKind('env')[1], { pairs: [{ key: 'C', value: 'three words', noDelim: true }] }, 'ENV old form');
  assert.deepEqual(byKind('volume').map((v) => v.kind === 'volume' && v.paths), [['/data', '/logs'], ['/a', '/b']]);
  assert.equal(final.commands.length, 18);
});

test('instruction errors: BuildKit\'s wording with the Dockerfile line', () => {
  const cases: Array<[string, string | RegExp]> = [
    ['RUNN make', 'unknown instruction: RUNN (did you mean RUN?)'],
    ['cpoy a b', 'unknown instruction: cpoy (did you mean copy?)'],
    ['FROBNICATE x', 'unknown instruction: FROBNICATE'],
    ['COPY --form=x a b', 'unknown flag: --form (did you mean from?)'],
    ['COPY --from a b', 'missing a value on flag: --from'],
    ['COPY --link=maybe a b', 'expecting boolean value for flag --link, not: maybe'],
    ['COPY --chown=a --chown=b a b', 'duplicate flag specified: --chown'],
    ['COPY a', 'COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['COPY a <<EOF\nEOF', 'COPY cannot accept a heredoc as a destination'],
    ['ADD --from=x a b', 'unknown flag: --from'],
    ['CMD --x=1 a', 'unknown flag: --x'],
    ['ONBUILD ONBUILD RUN x', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed'],
    ['ONBUILD FROM x', "FROM isn't allowed as an ONBUILD trigger"],
    ['ONBUILD maintainer x', "MAINTAINER isn't allowed as an ONBUILD trigger"],
    ['ONBUILD', 'ONBUILD requires at least one argument'],
    ['HEALTHCHECK --interval=5 CMD x', 'time: missing unit in duration "5"'],
    ['HEALTHCHECK --interval=1us CMD x', 'Interval "interval" cannot be less than 1ms'],
    ['HEALTHCHECK --timeout=abc CMD x', 'time: invalid duration "abc"'],
    ['HEALTHCHECK --retries=-1 CMD x', '--retries cannot be negative (-1)'],
    ['HEALTHCHECK --retries=x CMD x', 'strconv.ParseInt: parsing "x": invalid syntax'],
    ['HEALTHCHECK NONE x', 'HEALTHCHECK NONE takes no arguments'],
    ['HEALTHCHECK CMD', 'Missing command after HEALTHCHECK CMD'],
    ['HEALTHCHECK CONNECT tcp', 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'],
    ['HEALTHCHECK', 'HEALTHCHECK requires at least one argument'],
    ['WORKDIR', 'WORKDIR requires exactly one argument'],
    ['USER', 'USER requires exactly one argument'],
    ['STOPSIGNAL', 'STOPSIGNAL requires exactly one argument'],
    ['MAINTAINER', 'MAINTAINER requires exactly one argument'],
    ['EXPOSE', 'EXPOSE requires at least one argument'],
    ['VOLUME', 'VOLUME requires at least one argument'],
    ['VOLUME [""]', 'VOLUME specified can not be an empty string'],
    ['ENV', 'ENV requires at least one argument'],
    ['ENV =x', 'ENV names can not be blank'],
    ['LABEL', 'LABEL requires at least one argument'],
    ['ARG', 'ARG requires at least one argument'],
    ['ARG =x', 'ARG names can not be blank'],
    ['SHELL /bin/sh -c', 'SHELL requires the arguments to be in JSON form'],
    ['SHELL []', 'SHELL requires at least one argument'],
    ['RUN --network=bridge x', 'invalid network mode "bridge"'],
    ['RUN --security=root x', 'security "root" is not valid'],
    ['RUN --mount=type=cahce,target=/x x', 'unsupported mount type "cahce" (did you mean cache?)'],
    ['RUN --mount=type=bind,from=$X,target=/x x', "'from' doesn't support variable expansion, define alias stage instead"],
    ['RUN --mount=type=bind,uid=1,target=/x x', 'uid not allowed for "bind" type mounts'],
    ['RUN --mount=type=secret x', 'invalid secret mount. one of source, target required'],
    ['RUN --mount=type=cache,tagret=/x x', "unexpected key 'tagret' in 'tagret=/x' (did you mean target?)"],
    ['RUN --mount=type=cache,target=/x,sharing=all x', 'unsupported sharing value "all"'],
    ['RUN --mount=type=tmpfs,target=/x,size=lots x', 'invalid value for size: lots'],
    ['FROM a AS 1st', 'invalid name for build stage: "1st", name can\'t start with a number or contain symbols'],
    ['FROM a b', 'FROM requires either one or three arguments'],
    ['FROM --platfrom=x a', 'unknown flag: --platfrom (did you mean platform?)'],
  ];
  for (const [line, reason] of cases) {
    const text = line.startsWith('FROM') ? `ARG X\n\n${line}\n` : `FROM alpine\n\n${line}\n`;
    const e = parseError(() => parseInstructions(text));
    if (typeof reason === 'string') assert.equal(e.reason, reason, line);
    else assert.match(e.reason, reason, line);
    assert.equal(e.line, 3, line);
    assert.ok(e.message.startsWith(`Dockerfile:3: ${e.reason}`), e.message);
    assert.ok(e.message.includes(` 3 | ${line.split('\n')[0]}`), `snippet missing in ${e.message}`);
  }
  const e = parseError(() => parseInstructions('RUN x'));
  assert.equal(e.reason, 'no build stage in current context');
});

test('what BuildKit accepts: ignored flags, unchecked ONBUILD triggers, -- ends flags', () => {
  const r = parseInstructions('ARG --x y\nFROM a\nSTOPSIGNAL --foo 9\nHEALTHCHECK --bogus NONE\nONBUILD RUNN x\nCOPY -- --a /b\nARG Y=1 Z');
  const c = r.stages[0].commands;
  assert.deepEqual(r.metaArgs[0].pairs, [{ key: 'y' }]);
  assertHas(c[0], { kind: 'stopsignal', signal: '9' }, 'STOPSIGNAL');
  assertHas(c[1], { kind: 'healthcheck', test: ['NONE'] }, 'HEALTHCHECK NONE');
  assertHas(c[2], { kind: 'onbuild', expression: 'RUNN x' }, 'ONBUILD');
  assertHas(c[3], { kind: 'copy', sources: ['--a'], dest: '/b' }, 'COPY --');
  assertHas(c[4], { kind: 'arg', pairs: [{ key: 'Y', value: '1' }, { key: 'Z' }] }, 'ARG');
});

test('ONBUILD with a heredoc keeps the body in its expression; HEALTHCHECK exec form and zero durations', () => {
  const r = parseInstructions('FROM a\nonbuild run <<EOF\necho 1\nEOF\nHEALTHCHECK --interval=0s CMD ["true"]');
  assertHas(r.stages[0].commands[0], { expression: 'run <<EOF\necho 1\nEOF' }, 'ONBUILD heredoc');
  assertHas(r.stages[0].commands[1], { test: ['CMD', 'true'], interval: 0 }, 'HEALTHCHECK exec');
});

test('warnings surface through parseInstructions', () => {
  const r = parseInstructions('FROM a\nRUN a \\\n\n b');
  assert.deepEqual(r.warnings.map((w) => [w.message, w.line]), [['Empty continuation line found in: RUN a  b', 4]]);
});

test('Go duration and mount value parsers', () => {
  assert.equal(parseGoDuration('1h2m3.5s'), 3723.5e9);
  assert.equal(parseGoDuration('-1.5ms'), -1.5e6);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('.5us'), 500);
  assert.throws(() => parseGoDuration('1d'), /unknown unit "d"/);
  assert.throws(() => parseGoDuration(''), /invalid duration/);
  assert.deepEqual(parseMount('type=cache,target=/x,mode=0755,uid=1,ro', (w) => w), {
    type: 'cache', target: '/x', mode: 0o755, uid: 1, readOnly: true, sizeLimit: 0, required: false,
  });
  assert.deepEqual(parseMount('"type=bind","source=a,b",target=/x', (w) => w), {
    type: 'bind', source: 'a,b', target: '/x', readOnly: true, sizeLimit: 0, required: false,
  });
  assert.throws(() => parseMount('type=bind,required', (w) => w), /unexpected key 'required' for mount type 'bind'/);
  assert.throws(() => parseMount('a"b', (w) => w), /failed to parse csv mounts/);
});

// ---------------------------------------------------------------- expansion

test('expandCommand expands where BuildKit does, and only there', () => {
  const r = parseInstructions(`FROM a
ENV \${K}=\${V:-d} OLD=x
LABEL l="\${V}"
ARG X=\${V}/x Y
WORKDIR \${V}/w
USER \${U:-root}
VOLUME \${V} /b
STOPSIGNAL \${SIG}
EXPOSE \${PORTS} 22
COPY --chown=\${U}:g --chmod=\${M} ["\${V}/src", "/dst dir/"]
ADD --checksum=\${SUM} \${V} /
COPY <<EOF <<'RAW' /f/
"\${V}" \\$V
EOF
\${V}
RAW
RUN --mount=type=cache,target=\${V}/cache,id=\${V} echo \${V}
CMD echo \${V}
`);
  const env = { K: 'key', V: 'val', U: 'me', SIG: '9', PORTS: '80 443/udp', M: '600', SUM: 'sha256:1' };
  const c = r.stages[0].commands;
  const unmatched = new Set<string>();
  const x = c.map((cmd) => expandCommand(cmd, env, { unmatched }));
  assertHas(x[0], { pairs: [{ key: 'key', value: 'val', noDelim: false }, { key: 'OLD', value: 'x', noDelim: false }] }, 'ENV');
  assertHas(x[1], { pairs: [{ key: 'l', value: 'val', noDelim: false }] }, 'LABEL');
  assertHas(x[2], { pairs: [{ key: 'X', value: 'val/x' }, { key: 'Y' }] }, 'ARG');
  assertHas(x[3], { path: 'val/w' }, 'WORKDIR');
  assertHas(x[4], { user: 'me' }, 'USER');
  assertHas(x[5], { paths: ['val', '/b'] }, 'VOLUME');
  assertHas(x[6], { signal: '9' }, 'STOPSIGNAL');
  assertHas(x[7], { ports: ['80', '443/udp', '22'] }, 'EXPOSE'); // sorted before expansion, as BuildKit does
  assertHas(x[8], { chown: 'me:g', chmod: '600', sources: ['val/src'], dest: '/dst dir/' }, 'COPY');
  assertHas(x[9], { checksum: 'sha256:1', sources: ['val'], dest: '/' }, 'ADD');
  assertHas(x[10], {
    sourceContents: [
      { path: 'EOF', data: '"val" $V\n', expand: true },
      { path: 'RAW', data: '${V}\n', expand: false },
    ],
  }, 'COPY heredocs');
  assertHas(x[11], { cmd: ['echo ${V}'] }, 'RUN text is left to the shell');
  assert.equal(x[11].kind === 'run' && x[11].mounts?.[0].target, 'val/cache');
  assert.equal(c[11].kind === 'run' && c[11].mounts, undefined, 'mounts with variables wait for expansion');
  assertHas(x[12], { cmd: ['echo ${V}'] }, 'CMD');
  assert.deepEqual([...unmatched], []);
  // the parsed commands are not modified
  assertHas(c[3], { path: '${V}/w' }, 'original WORKDIR');

  expandCommand(c[4], {}, { unmatched });
  assert.deepEqual([...unmatched], ['U']);
});

test('expansion errors point at the instruction; --from must not expand', () => {
  const r = parseInstructions('FROM a\n\nWORKDIR ${V:?is required}\nCOPY --from=${S} a b');
  const e = parseError(() => expandCommand(r.stages[0].commands[0], {}));
  assert.equal(e.line, 3);
  assert.equal(e.reason, 'failed to process "${V:?is required}": V: is required');
  assert.ok(e.message.includes(' 3 | WORKDIR ${V:?is required}'), e.message);
  assert.match(parseError(() => expandCommand(r.stages[0].commands[1], { S: 'x' })).reason, /variable expansion is not supported for --from/);
});

test('expandFrom uses the meta ARGs, backtick escape honoured by expandCommand', () => {
  const r = parseInstructions('ARG TAG=3\nFROM --platform=${P} alpine:${TAG} AS x\nFROM ${NONE}');
  const [s1, s2]: Stage[] = r.stages;
  assert.deepEqual(expandFrom(s1, { TAG: '3.20', P: 'linux/arm64' }), { baseName: 'alpine:3.20', platform: 'linux/arm64' });
  assert.match(parseError(() => expandFrom(s1, { TAG: '1' })).reason, /empty platform value from expression \$\{P\}/);
  assert.match(parseError(() => expandFrom(s2, {})).reason, /base name \(\$\{NONE\}\) should not be blank/);

  const w = parseInstructions('# escape=`\nFROM a\nWORKDIR C:\\$D`$x');
  assertHas(expandCommand(w.stages[0].commands[0], { D: 'dir' }, { escapeToken: w.escapeToken }), { path: 'C:\\dir$x' }, 'backtick');
});

test('a Uint8Array input is decoded as UTF-8', () => {
  const r = parseInstructions(new TextEncoder().encode('\uFEFFFROM a\nLABEL k=☃'));
  assertHas(r.stages[0].commands[0], { pairs: [{ key: 'k', value: '☃', noDelim: false }] }, 'LABEL');
});

test('fuzz: random Dockerfile fragments either parse or fail with a DockerfileParseError, never crash', () => {
  let seed = 42;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const atoms = [
    'FROM a', 'RUN ', 'COPY ', 'ADD ', 'ENV ', 'ARG ', 'ONBUILD ', 'HEALTHCHECK ', 'CMD', 'LABEL ', 'EXPOSE ', 'SHELL ',
    'VOLUME ', '\n', '\r\n', ' ', '\t', '\\', '`', '"', "'", '$', '{', '}', ':', '-', '#', '%', '/', '*', '<<', '<<-',
    'EOF', '=', '[', ']', ',', '--', '--mount=', 'type=cache', 'x', '# escape=`\n', '\u00a0', '😀', '\0',
  ];
  let parsed = 0;
  for (let i = 0; i < 5000; i++) {
    let s = '';
    for (let j = rnd(30); j > 0; j--) s += atoms[rnd(atoms.length)];
    try {
      const r = parseInstructions(s);
      for (const st of r.stages) {
        expandFrom(st, {});
        for (const c of st.commands) expandCommand(c, { x: 'v' });
      }
      parsed++;
    } catch (e) {
      assert.ok(e instanceof DockerfileParseError, `${JSON.stringify(s)} crashed: ${String(e)}`);
    }
  }
  assert.ok(parsed > 100, `only ${parsed} fragments parsed`);
});
