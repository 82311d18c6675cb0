/**
 * The build-context walker and COPY source selection: BuildKit's end-to-end .dockerignore
 * scenarios (../shared/conformance/dockerignore/build-context-cases.json) on real temp
 * directories, plus the walker's own rules (excluded dirs not entered, symlinks kept,
 * Dockerfile always sent), the persistent hash cache, and the COPY cache-key digest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../src/errors';
import { selectSources, walkContext, type ContextEntry, type WalkStats } from '../../src/build/context/walk';

function repoRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${__dirname}`);
  }
}
const SHARED = process.env.BERTH_SHARED_DIR ?? path.resolve(repoRoot(), '../shared');

interface BuildCase {
  name: string;
  files: Record<string, string>;
  builds: { dockerfile: string; succeeds: boolean; present?: Record<string, string>; absent?: string[] }[];
}

function loadCases(): BuildCase[] {
  const file = path.join(SHARED, 'conformance', 'dockerignore', 'build-context-cases.json');
  assert.ok(fs.existsSync(file), `conformance file missing: ${file} (set BERTH_SHARED_DIR to the shared/ directory)`);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: BuildCase[] }).cases;
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-test-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let seq = 0;

/** A fresh context directory holding `files` (a trailing '/' makes a directory). */
function makeContext(files: Record<string, string>): string {
  const dir = path.join(tmpRoot, `ctx${seq++}`);
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(dir, name);
    if (name.endsWith('/')) {
      fs.mkdirSync(p, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return dir;
}

const sha = (s: string | Buffer): string => 'sha256:' + createHash('sha256').update(s).digest('hex');
const paths = (es: readonly { path: string }[]): string[] => es.map((e) => e.path);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const newStats = (): WalkStats => ({ entries: 0, hashed: 0, cacheHits: 0, bytesHashed: 0 });

/** Records every path the code under test opens or lists through node:fs. */
async function spyFs<T>(fn: () => Promise<T>): Promise<{ result: T; read: string[]; listed: string[] }> {
  const realFs = createRequire(__filename)('node:fs') as typeof fs;
  const read: string[] = [];
  const listed: string[] = [];
  const saved = {
    readFileSync: realFs.readFileSync,
    openSync: realFs.openSync,
    createReadStream: realFs.createReadStream,
    readdirSync: realFs.readdirSync,
    open: realFs.promises.open,
    readFile: realFs.promises.readFile,
  };
  const note = (p: unknown): void => {
    read.push(String(p));
  };
  const m = realFs as unknown as Record<string, unknown>;
  const pm = realFs.promises as unknown as Record<string, unknown>;
  m.readFileSync = (p: unknown, ...rest: unknown[]) => (note(p), (saved.readFileSync as (...a: unknown[]) => unknown)(p, ...rest));
  m.openSync = (p: unknown, ...rest: unknown[]) => (note(p), (saved.openSync as (...a: unknown[]) => unknown)(p, ...rest));
  m.createReadStream = (p: unknown, ...rest: unknown[]) => (note(p), (saved.createReadStream as (...a: unknown[]) => unknown)(p, ...rest));
  m.readdirSync = (p: unknown, ...rest: unknown[]) => (listed.push(String(p)), (saved.readdirSync as (...a: unknown[]) => unknown)(p, ...rest));
  pm.open = (p: unknown, ...rest: unknown[]) => (note(p), (saved.open as (...a: unknown[]) => unknown)(p, ...rest));
  pm.readFile = (p: unknown, ...rest: unknown[]) => (note(p), (saved.readFile as (...a: unknown[]) => unknown)(p, ...rest));
  try {
    return { result: await fn(), read, listed };
  } finally {
    Object.assign(m, { readFileSync: saved.readFileSync, openSync: saved.openSync, createReadStream: saved.createReadStream, readdirSync: saved.readdirSync });
    Object.assign(pm, { open: saved.open, readFile: saved.readFile });
  }
}

// ---------- BuildKit's scenarios ----------

test('build-context-cases: every scenario gives the files COPY . . would see (3 scenarios, 4 builds)', async () => {
  const cases = loadCases();
  assert.equal(cases.length, 3);
  let builds = 0;
  for (const c of cases) {
    const dir = makeContext(c.files);
    for (const b of c.builds) {
      builds++;
      const what = `${c.name} -f ${b.dockerfile}`;
      if (!b.succeeds) {
        await assert.rejects(walkContext(dir, { dockerfile: b.dockerfile }), InvalidArgumentError, what);
        continue;
      }
      const entries = await walkContext(dir, { dockerfile: b.dockerfile });
      // The builder can always read its Dockerfile, excluded or not.
      assert.ok(entries.some((e) => e.path === b.dockerfile && e.type === 'file'), `${what}: Dockerfile not sent`);
      const copied = selectSources(entries, ['.']).entries;
      const byRel = new Map(copied.map((e) => [e.rel, e]));
      for (const [p, content] of Object.entries(b.present ?? {})) {
        const e = byRel.get(p);
        assert.ok(e, `${what}: ${p} missing`);
        assert.equal(e.contentHash, sha(content), `${what}: ${p} content`);
        assert.equal(fs.readFileSync(path.join(dir, e.path), 'utf8'), content);
      }
      for (const p of b.absent ?? []) assert.ok(!byRel.has(p), `${what}: ${p} should be absent`);
    }
  }
  assert.equal(builds, 4);
});

// ---------- walking ----------

test('walk: sorted entries with type, mode, ownership, size and content hashes', async () => {
  const dir = makeContext({ 'b.txt': 'bee', 'a/x': 'x', 'a.txt': 'a', 'a/y/z': 'zz', 'empty/': '' });
  fs.chmodSync(path.join(dir, 'b.txt'), 0o4751);
  fs.chownSync(path.join(dir, 'a.txt'), 1234, 5678);
  fs.symlinkSync('b.txt', path.join(dir, 'link'));
  const entries = await walkContext(dir);
  assert.deepEqual(paths(entries), ['a', 'a/x', 'a/y', 'a/y/z', 'a.txt', 'b.txt', 'empty', 'link']);
  const by = new Map(entries.map((e) => [e.path, e]));
  assert.deepEqual(by.get('b.txt'), { path: 'b.txt', type: 'file', mode: 0o4751, uid: 0, gid: 0, size: 3, contentHash: sha('bee') });
  assert.equal(by.get('a.txt')?.uid, 1234);
  assert.equal(by.get('a.txt')?.gid, 5678);
  assert.equal(by.get('a')?.type, 'dir');
  assert.equal(by.get('a')?.size, 0);
  assert.equal(by.get('a')?.contentHash, undefined);
  assert.deepEqual(by.get('link'), { path: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 5, linkTarget: 'b.txt', contentHash: sha('b.txt') });
});

test('walk: symlinks are kept as links, never followed', async () => {
  const outside = makeContext({ 'secret/inner.txt': 'outside', 'file.txt': 'outside file' });
  const dir = makeContext({ 'Dockerfile': 'FROM scratch' });
  fs.symlinkSync(path.join(outside, 'secret'), path.join(dir, 'dirlink'));
  fs.symlinkSync(path.join(outside, 'file.txt'), path.join(dir, 'filelink'));
  fs.symlinkSync('dangling-target', path.join(dir, 'dangling'));
  const { result: entries, read, listed } = await spyFs(() => walkContext(dir));
  assert.deepEqual(paths(entries), ['dangling', 'dirlink', 'Dockerfile', 'filelink'].sort());
  for (const e of entries.filter((x) => x.path !== 'Dockerfile')) assert.equal(e.type, 'symlink', e.path);
  assert.equal(entries.find((e) => e.path === 'filelink')?.contentHash, sha(path.join(outside, 'file.txt')));
  assert.ok(!read.some((p) => p.startsWith(outside)), `read outside the context: ${read.join(', ')}`);
  assert.ok(!listed.some((p) => p.startsWith(outside) || p.includes('dirlink')), `listed through a link: ${listed.join(', ')}`);
});

test('walk: an excluded directory is not entered unless an exception may re-include something in it', async () => {
  const dir = makeContext({ 'Dockerfile': 'x', 'node_modules/a/b.js': 'b', 'node_modules/keep.txt': 'k', 'src/main.go': 'go', 'src/x.md': 'md' });
  fs.writeFileSync(path.join(dir, '.dockerignore'), 'node_modules\nsrc\n');
  const plain = await spyFs(() => walkContext(dir));
  assert.deepEqual(paths(plain.result), ['.dockerignore', 'Dockerfile']);
  assert.ok(!plain.listed.some((p) => p.includes('node_modules') || p.includes('src')), plain.listed.join(', '));

  // A plain-path exception: only the directory it names is entered (and listed, as BuildKit sends it).
  const keep = await spyFs(() => walkContext(dir, { ignore: ['node_modules', 'src', '!node_modules/keep.txt'] }));
  assert.deepEqual(paths(keep.result), ['.dockerignore', 'Dockerfile', 'node_modules', 'node_modules/keep.txt']);
  assert.ok(keep.listed.some((p) => p.endsWith('node_modules')));
  assert.ok(!keep.listed.some((p) => p.endsWith('/src') || p.endsWith('node_modules/a')), keep.listed.join(', '));

  // A wildcard exception may match anywhere, so excluded directories are entered (fsutil's rule).
  const wild = await walkContext(dir, { ignore: ['node_modules', 'src', '!**/*.go'] });
  assert.deepEqual(paths(wild), ['.dockerignore', 'Dockerfile', 'src', 'src/main.go']);
});

test('walk: exceptions, "**" and the last matching pattern decide', async () => {
  const dir = makeContext({ 'Dockerfile': 'x', 'docs/README.md': 'r', 'docs/a.md': 'a', 'a/b/c.txt': 'c', 'a/b/d.log': 'd', 'x.log': 'l' });
  const entries = await walkContext(dir, { ignore: readIgnore('**/*.log\ndocs\n!docs/README.md\n') });
  assert.deepEqual(paths(entries), ['a', 'a/b', 'a/b/c.txt', 'docs', 'docs/README.md', 'Dockerfile'].sort(cmp));
  const all = await walkContext(dir, { ignore: ['**', '!a/b/c.txt'] });
  // Dockerfile comes along (marked excluded); "a" and "a/b" are listed for the file inside.
  assert.deepEqual(paths(all), ['Dockerfile', 'a', 'a/b', 'a/b/c.txt']); // byte order: 'D' < 'a'
  assert.equal(all.find((e) => e.path === 'Dockerfile')?.excluded, true);
  assert.equal(all.find((e) => e.path === 'a')?.excluded, undefined);
});

function readIgnore(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}
const cmp = (a: string, b: string): number => (a.replace(/\//g, '\0') < b.replace(/\//g, '\0') ? -1 : 1);

test('walk: Dockerfile and ignore file are always sent; COPY does not see them when excluded', async () => {
  const dir = makeContext({ 'build/Dockerfile': 'FROM scratch', 'build/Dockerfile.dockerignore': 'build\n*.txt\n', 'a.txt': 'a', 'b.bin': 'b' });
  const entries = await walkContext(dir, { dockerfile: 'build/Dockerfile' });
  assert.deepEqual(paths(entries), ['b.bin', 'build', 'build/Dockerfile', 'build/Dockerfile.dockerignore']);
  for (const p of ['build', 'build/Dockerfile', 'build/Dockerfile.dockerignore']) {
    assert.equal(entries.find((e) => e.path === p)?.excluded, true, p);
  }
  assert.equal(entries.find((e) => e.path === 'build/Dockerfile')?.contentHash, sha('FROM scratch'));
  assert.deepEqual(selectSources(entries, ['.']).entries.map((e) => e.rel), ['b.bin']);
  assert.throws(() => selectSources(entries, ['build/Dockerfile']), NotFoundError);
  // An absolute -f path inside the context works the same.
  const abs = await walkContext(dir, { dockerfile: path.join(dir, 'build/Dockerfile') });
  assert.deepEqual(paths(abs), paths(entries));
});

test('walk: bad patterns fail the walk with Go\'s messages', async () => {
  const dir = makeContext({ 'Dockerfile': 'x', 'f': 'f' });
  await assert.rejects(walkContext(dir, { ignore: ['!'] }), { message: 'illegal exclusion pattern: "!"' });
  await assert.rejects(walkContext(dir, { ignore: ['a['] }), { message: 'syntax error in pattern' });
  await assert.rejects(walkContext(dir, { ignore: ['[Local-Only]/'] }), { message: 'syntax error in pattern' });
  await assert.rejects(walkContext(path.join(dir, 'nope')), InvalidArgumentError);
});

// ---------- hash cache ----------

test('hash cache: an unchanged context is not read again; a same-size edit is caught', async () => {
  const dir = makeContext({ 'Dockerfile': 'FROM scratch', 'a.txt': 'aaaa', 'sub/b.txt': 'bbbb', 'big.bin': '' });
  fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 0x61)); // streamed, not read whole
  const cachePath = path.join(tmpRoot, `cache${seq++}`, 'hashes.json');
  await sleep(20);
  const s1 = newStats();
  const first = await walkContext(dir, { hashCachePath: cachePath, stats: s1, racyWindowMs: 0 });
  assert.equal(s1.hashed, 4);
  assert.equal(first.find((e) => e.path === 'big.bin')?.contentHash, sha(Buffer.alloc(3 * 1024 * 1024 + 7, 0x61)));
  assert.ok(fs.existsSync(cachePath));
  assert.deepEqual(fs.readdirSync(path.dirname(cachePath)), ['hashes.json']); // no temp file left

  const s2 = newStats();
  const second = await spyFs(() => walkContext(dir, { hashCachePath: cachePath, stats: s2, racyWindowMs: 0 }));
  assert.deepEqual(second.result, first);
  assert.equal(s2.hashed, 0);
  assert.equal(s2.cacheHits, 4);
  const contextReads = second.read.filter((p) => p.startsWith(dir) && !p.endsWith('.dockerignore'));
  assert.deepEqual(contextReads, [], 'file contents were read again');

  // Same size, mtime put back: ctime still moves, so the entry is invalidated.
  const a = path.join(dir, 'a.txt');
  const before = fs.statSync(a);
  fs.writeFileSync(a, 'AAAA');
  fs.utimesSync(a, before.atime, before.mtime);
  const s3 = newStats();
  const third = await walkContext(dir, { hashCachePath: cachePath, stats: s3, racyWindowMs: 0 });
  assert.equal(s3.hashed, 1);
  assert.equal(third.find((e) => e.path === 'a.txt')?.contentHash, sha('AAAA'));
});

test('hash cache: files changed within the racy window are re-hashed; a corrupt cache is ignored', async () => {
  const dir = makeContext({ 'Dockerfile': 'x', 'f': 'fresh' });
  const cachePath = path.join(tmpRoot, `cache${seq++}.json`);
  const s1 = newStats();
  await walkContext(dir, { hashCachePath: cachePath, stats: s1 }); // default window: just written
  const s2 = newStats();
  await walkContext(dir, { hashCachePath: cachePath, stats: s2 });
  assert.equal(s2.hashed, 2, 'racily-clean files must not be trusted');

  fs.writeFileSync(cachePath, '{"v":1,"entries":{"1:2":[1]}} trailing garbage');
  await sleep(20);
  const s3 = newStats();
  const entries = await walkContext(dir, { hashCachePath: cachePath, stats: s3, racyWindowMs: 0 });
  assert.equal(s3.hashed, 2);
  assert.equal(entries.find((e) => e.path === 'f')?.contentHash, sha('fresh'));
  const s4 = newStats();
  await walkContext(dir, { hashCachePath: cachePath, stats: s4, racyWindowMs: 0 });
  assert.equal(s4.cacheHits, 2);
});

test('hash cache: with sub-second file times, files written 100 ms before a walk are trusted by the next', async () => {
  const dir = makeContext({ 'Dockerfile': 'x', 'f': 'fresh' });
  const st = fs.statSync(path.join(dir, 'f'), { bigint: true });
  if (st.mtimeNs % 1_000_000_000n === 0n) return; // a filesystem with whole-second times keeps the 2 s window
  const cachePath = path.join(tmpRoot, `cache${seq++}.json`);
  await sleep(100);
  await walkContext(dir, { hashCachePath: cachePath, stats: newStats() });
  const s2 = newStats();
  await walkContext(dir, { hashCachePath: cachePath, stats: s2 });
  assert.equal(s2.hashed, 0);
  assert.equal(s2.cacheHits, 2);
});

test('hash cache: a 5000-file context walks in under 1 s when warm', async () => {
  const files: Record<string, string> = { 'Dockerfile': 'FROM scratch' };
  for (let d = 0; d < 50; d++) for (let f = 0; f < 100; f++) files[`d${d}/f${f}.txt`] = `file ${d}/${f}\n`.repeat(20);
  const dir = makeContext(files);
  const cachePath = path.join(tmpRoot, `cache${seq++}.json`);
  await sleep(20);
  const cold = newStats();
  await walkContext(dir, { hashCachePath: cachePath, stats: cold, racyWindowMs: 0 });
  assert.equal(cold.hashed, 5001);
  const warm = newStats();
  const t0 = process.hrtime.bigint();
  const entries = await walkContext(dir, { hashCachePath: cachePath, stats: warm, racyWindowMs: 0 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(entries.length, 5051);
  assert.equal(warm.hashed, 0);
  assert.ok(ms < 1000, `warm walk took ${ms.toFixed(0)} ms`);
});

// ---------- COPY source selection ----------

function rels(r: { entries: { rel: string }[] }): string[] {
  return r.entries.map((e) => e.rel);
}

test('selectSources: Docker COPY rules for files, directories, wildcards and links', async () => {
  const dir = makeContext({
    'Dockerfile': 'x',
    'app/main.js': 'm',
    'app/lib/u.js': 'u',
    'app/lib/v.txt': 'v',
    'a.txt': 'a',
    'b.txt': 'b',
    'c.md': 'c',
    'pkg/one/x.json': '1',
    'pkg/two/x.json': '2',
    'pkg/two/y.json': 'y',
  });
  fs.symlinkSync('app', path.join(dir, 'applink'));
  fs.symlinkSync('a.txt', path.join(dir, 'alink'));
  const entries = await walkContext(dir);

  assert.deepEqual(rels(selectSources(entries, ['a.txt'])), ['a.txt']);
  assert.deepEqual(paths(selectSources(entries, ['/app/lib/../main.js']).entries), ['app/main.js']);
  // A directory gives its contents (and itself as '.'); a trailing '/' changes nothing.
  assert.deepEqual(rels(selectSources(entries, ['app'])), ['.', 'lib', 'lib/u.js', 'lib/v.txt', 'main.js']);
  assert.deepEqual(rels(selectSources(entries, ['app/'])), rels(selectSources(entries, ['app'])));
  // Wildcards: per segment, a matched directory taken whole, no match is fine.
  assert.deepEqual(paths(selectSources(entries, ['*.txt']).entries), ['a.txt', 'b.txt']);
  assert.deepEqual(paths(selectSources(entries, ['pkg/*/x.json']).entries), ['pkg/one/x.json', 'pkg/two/x.json']);
  assert.deepEqual(rels(selectSources(entries, ['pk?'])), ['.', 'one', 'one/x.json', 'two', 'two/x.json', 'two/y.json']);
  assert.deepEqual(paths(selectSources(entries, ['[ab].txt', 'c.*']).entries), ['a.txt', 'b.txt', 'c.md']);
  assert.deepEqual(selectSources(entries, ['*.nothing']).entries, []);
  assert.throws(() => selectSources(entries, ['missing.txt']), NotFoundError);
  // '..' cannot leave the context.
  assert.deepEqual(paths(selectSources(entries, ['../../a.txt']).entries), ['a.txt']);
  // The source link is followed by default; links inside a directory are not.
  const viaLink = selectSources(entries, ['applink']);
  assert.deepEqual(rels(viaLink), rels(selectSources(entries, ['app'])));
  assert.equal(viaLink.digest, selectSources(entries, ['app']).digest);
  assert.deepEqual(selectSources(entries, ['alink']).entries.map((e) => [e.path, e.rel, e.type]), [['a.txt', 'alink', 'file']]);
  assert.deepEqual(selectSources(entries, ['alink'], { followRoot: false }).entries.map((e) => [e.rel, e.type]), [['alink', 'symlink']]);
  assert.deepEqual(paths(selectSources(entries, ['applink/lib/u.js']).entries), ['app/lib/u.js']);
});

test('selectSources digest: one selected file changes it; unselected files and mtimes do not', async () => {
  const dir = makeContext({ 'Dockerfile': 'x', 'src/a.js': 'a1', 'src/b.js': 'b1', 'other.txt': 'o1' });
  const digest = async (sources: string[], opts = {}): Promise<string> => selectSources(await walkContext(dir), sources, opts).digest;
  const d0 = await digest(['src']);
  assert.match(d0, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await digest(['src']), d0, 'stable across walks');

  fs.writeFileSync(path.join(dir, 'other.txt'), 'o2-changed');
  assert.equal(await digest(['src']), d0, 'an unselected file changed the digest');

  const old = new Date(2001, 1, 1);
  for (const p of ['src', 'src/a.js', 'src/b.js']) fs.utimesSync(path.join(dir, p), old, old);
  assert.equal(await digest(['src']), d0, 'an mtime changed the digest');

  fs.writeFileSync(path.join(dir, 'src/b.js'), 'b2');
  const d1 = await digest(['src']);
  assert.notEqual(d1, d0, 'a selected file changed but the digest did not');
  assert.equal(await digest(['src/a.js']), await digest(['src/a.js']));

  fs.chmodSync(path.join(dir, 'src/a.js'), 0o755);
  const d2 = await digest(['src']);
  assert.notEqual(d2, d1, 'mode is part of the key');

  // Ownership counts only when asked for.
  const own1 = await digest(['src'], { includeOwnership: true });
  fs.chownSync(path.join(dir, 'src/a.js'), 4321, 4321);
  assert.equal(await digest(['src']), d2);
  assert.notEqual(await digest(['src'], { includeOwnership: true }), own1);
});

test('selectSources digest: the same tree elsewhere (a fresh clone) gives the same key', async () => {
  const files = { 'Dockerfile': 'x', 'src/a.js': 'a', 'src/deep/b.js': 'b' };
  const one = makeContext(files);
  await sleep(15);
  const two = makeContext(files);
  const old = new Date(1999, 0, 1);
  fs.utimesSync(path.join(two, 'src/a.js'), old, old);
  const e1: ContextEntry[] = await walkContext(one);
  const e2: ContextEntry[] = await walkContext(two);
  assert.equal(selectSources(e1, ['src']).digest, selectSources(e2, ['src']).digest);
  assert.equal(selectSources(e1, ['.']).digest, selectSources(e2, ['.']).digest);
});
