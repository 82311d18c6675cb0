/**
 * `berth compose watch` and `up --watch` against a real engine: files written on the host
 * appear in the container, deleted ones go, ignored ones never arrive; sync+restart
 * restarts; rebuild builds a new image and recreates the container; bad rules are refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BERTH_BIN, TestEngine, eventually, isRoot } from '../helpers/engine';

describe('berth compose watch', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await e.cleanup();
  });

  function project(name: string, yaml: string, files: Record<string, string> = {}): { dir: string; file: string } {
    const dir = mkdtempSync(join(tmpdir(), `berth-watch-${name}-`));
    dirs.push(dir);
    for (const [p, data] of Object.entries(files)) {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), data);
    }
    const file = join(dir, 'compose.yaml');
    writeFileSync(file, `name: ${name}\n${yaml}`);
    return { dir, file };
  }

  /** A long-running `berth compose …`, its stderr collected; resolves once it says "Watch enabled". */
  async function watching(file: string, args: string[]): Promise<{ child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number> }> {
    const child = spawn(process.execPath, [BERTH_BIN, 'compose', '-f', file, ...args], { env: e.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    await eventually(() => err.includes('Watch enabled') || child.exitCode !== null, 30_000);
    assert.match(err, /Watch enabled/, err);
    return { child, stdout: () => out, stderr: () => err, exit };
  }

  /** A busybox service `app` that sleeps, with these watch rules (YAML flow mappings). */
  const sleeper = (...rules: string[]) => `services:\n  app:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 1s\n    develop:\n      watch:\n${rules.map((r) => `        - ${r}\n`).join('')}`;

  async function cat(container: string, path: string): Promise<string | undefined> {
    const r = await e.berth(['exec', container, 'cat', path]);
    return r.code === 0 ? r.stdout : undefined;
  }

  test('sync: written files appear in the container, deleted ones go, ignored ones never arrive; Ctrl-C exits 0', async () => {
    const { dir, file } = project(
      'wsync',
      sleeper(`{ action: sync, path: ./src, target: /app, ignore: ['*.tmp', 'cache/'] }`),
      { 'src/keep.txt': 'kept\n' },
    );
    const w = await watching(file, ['watch']);
    writeFileSync(join(dir, 'src/hello.txt'), 'hello from the host\n');
    await eventually(async () => (await cat('wsync-app-1', '/app/hello.txt')) === 'hello from the host\n', 8000);
    // A new directory arrives whole; ignored files (rule patterns, editor swap files, .git) do not.
    mkdirSync(join(dir, 'src/cache'));
    writeFileSync(join(dir, 'src/cache/big'), 'x');
    writeFileSync(join(dir, 'src/skip.tmp'), 'x');
    writeFileSync(join(dir, 'src/.hello.txt.swp'), 'x');
    mkdirSync(join(dir, 'src/.git'));
    writeFileSync(join(dir, 'src/.git/HEAD'), 'x');
    mkdirSync(join(dir, 'src/sub/deeper'), { recursive: true });
    writeFileSync(join(dir, 'src/sub/deeper/f.txt'), 'deep\n');
    await eventually(async () => (await cat('wsync-app-1', '/app/sub/deeper/f.txt')) === 'deep\n', 8000);
    // A large file is streamed whole; an empty one arrives empty.
    writeFileSync(join(dir, 'src/large.bin'), Buffer.alloc(3 << 20, 7));
    writeFileSync(join(dir, 'src/empty'), '');
    await eventually(async () => (await e.berth(['exec', 'wsync-app-1', 'sh', '-c', 'wc -c < /app/large.bin; wc -c < /app/empty'])).stdout.replace(/ +/g, '') === `${3 << 20}\n0\n`, 8000);
    const ls = await e.berth(['exec', 'wsync-app-1', 'ls', '-a', '/app']);
    assert.deepEqual(ls.stdout.split('\n').filter(Boolean).sort(), ['.', '..', 'empty', 'hello.txt', 'large.bin', 'sub'], 'neither ignored files nor the untouched keep.txt were copied');
    unlinkSync(join(dir, 'src/hello.txt'));
    await eventually(async () => (await e.berth(['exec', 'wsync-app-1', 'test', '-e', '/app/hello.txt'])).code === 1, 8000);
    assert.match(w.stderr(), /Syncing service "app" after \d+ changes? (was|were) detected/);
    w.child.kill('SIGINT');
    assert.equal(await w.exit, 0, w.stderr());
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Running}}', 'wsync-app-1'])).stdout.trim(), 'true', 'watch leaves the containers running');
    await e.berth(['compose', '-f', file, 'down', '-t', '0']);
  });

  test('sync+restart restarts the container after syncing; initial_sync copies the tree first; sync+exec runs its command', async () => {
    const { dir, file } = project(
      'wrestart',
      sleeper('{ action: sync+restart, path: ./conf, target: /etc/app, initial_sync: true }', `{ action: sync+exec, path: ./hook, target: /hook, exec: { command: "sh -c 'cat /hook/v > /tmp/ran'" } }`),
      { 'conf/a.conf': 'one\n' },
    );
    const w = await watching(file, ['watch']);
    assert.equal(await cat('wrestart-app-1', '/etc/app/a.conf'), 'one\n', 'initial_sync');
    const started = (await e.berth(['inspect', '-f', '{{.State.StartedAt}}', 'wrestart-app-1'])).stdout.trim();
    writeFileSync(join(dir, 'conf/a.conf'), 'two\n');
    await eventually(async () => (await e.berth(['inspect', '-f', '{{.State.StartedAt}}', 'wrestart-app-1'])).stdout.trim() !== started, 10_000);
    assert.equal(await cat('wrestart-app-1', '/etc/app/a.conf'), 'two\n');
    assert.match(w.stderr(), /service "app" restarted/);
    mkdirSync(join(dir, 'hook'));
    writeFileSync(join(dir, 'hook/v'), 'hooked\n');
    await eventually(async () => (await cat('wrestart-app-1', '/tmp/ran')) === 'hooked\n', 8000);
    w.child.kill('SIGTERM');
    assert.equal(await w.exit, 0, w.stderr());
    await e.berth(['compose', '-f', file, 'down', '-t', '0']);
  });

  test('up --watch: rebuild builds a new image and recreates the container', async () => {
    const { dir, file } = project(
      'wbuild',
      `services:
  app:
    build: ./ctx
    command: sh -c 'cat /msg; exec sleep 300'
    stop_grace_period: 1s
    develop:
      watch:
        - { action: rebuild, path: ./ctx }
`,
      { 'ctx/Dockerfile': 'FROM busybox\nCOPY msg /msg\n', 'ctx/msg': 'v1\n', 'ctx/.dockerignore': 'notes.md\n' },
    );
    const w = await watching(file, ['up', '--watch']);
    const inspect = async () => (await e.berth(['inspect', '-f', '{{.Id}} {{.Image}}', 'wbuild-app-1'])).stdout.trim().split(' ');
    const [id1, image1] = await inspect();
    assert.equal(await cat('wbuild-app-1', '/msg'), 'v1\n');
    // In the context's .dockerignore: no rebuild.
    writeFileSync(join(dir, 'ctx/notes.md'), 'x');
    writeFileSync(join(dir, 'ctx/msg'), 'v2\n');
    await eventually(async () => (await cat('wbuild-app-1', '/msg')) === 'v2\n', 30_000);
    const [id2, image2] = await inspect();
    assert.notEqual(id2, id1, 'the container was recreated');
    assert.notEqual(image2, image1, 'from a new image');
    assert.match(w.stderr(), /Rebuilding service "app" after changes were detected/);
    assert.equal(w.stderr().match(/Rebuilding service/g)?.length, 1, 'the ignored notes.md triggered nothing more');
    // up keeps attached: the recreated container's output is followed too.
    await eventually(() => /wbuild-app-1 +\| v2\n/.test(w.stdout()), 5000);
    assert.match(w.stdout(), /wbuild-app-1 +\| v1\n/);
    w.child.kill('SIGINT');
    assert.equal(await w.exit, 130, w.stderr());
    await e.berth(['compose', '-f', file, 'down', '-t', '0']);
  });

  test('malformed rules and projects without watch are refused with a clear message', async () => {
    const svc = (rule: string) => `services:\n  app:\n    image: busybox\n    develop:\n      watch:\n        - ${rule}\n`;
    const noTarget = project('wbad1', svc('{ action: sync, path: ./src }'));
    let r = await e.berth(['compose', '-f', noTarget.file, 'watch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /services\.app\.develop\.watch\[0\]: target is required for the sync action/);
    const badAction = project('wbad2', svc('{ action: copy, path: ./src, target: /app }'));
    r = await e.berth(['compose', '-f', badAction.file, 'config']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /services\.app\.develop\.watch\[0\]\.action must be one of rebuild, sync, restart, sync\+restart, sync\+exec/);
    const none = project('wbad3', 'services:\n  app:\n    image: busybox\n');
    r = await e.berth(['compose', '-f', none.file, 'watch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /none of the selected services is configured for watch/);
    r = await e.berth(['compose', '-f', none.file, 'up', '--watch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /none of the selected services is configured for watch/);
    assert.equal((await e.berth(['ps', '-a', '-q', '--filter', 'name=wbad'])).stdout, '', 'nothing was started');
  });
});
