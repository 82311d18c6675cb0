/** Image verbs through the berth CLI: import, images, tag, rmi, history, inspect, prune, save/load, events. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TestEngine, busyboxTar, isRoot } from '../helpers/engine';

describe('images', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('import from stdin with --change sets the config; ID is the config digest', async () => {
    const tar = (await import('node:fs')).readFileSync(busyboxTar());
    const r = await e.berth(['import', '-c', 'ENV A=1', '-c', 'CMD ["echo","from-cmd"]', '-c', 'WORKDIR /tmp', '-c', 'LABEL x=y', '-m', 'my msg', '-', 'imp/test:v1'], { input: tar });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const run = await e.berth(['run', '--rm', 'imp/test:v1']);
    assert.equal(run.stdout, 'from-cmd\n');
    const cfg = JSON.parse((await e.berth(['image', 'inspect', '-f', '{{json .Config}}', 'imp/test:v1'])).stdout) as { Env: string[]; WorkingDir: string; Labels: Record<string, string> };
    assert.deepEqual(cfg.Env, ['A=1']);
    assert.equal(cfg.WorkingDir, '/tmp');
    assert.equal(cfg.Labels.x, 'y');
    const hist = await e.berth(['history', '--format', '{{.Comment}}', 'imp/test:v1']);
    assert.equal(hist.stdout.trim(), 'my msg');
    const bad = await e.berth(['import', '-c', 'BOGUS x', busyboxTar(), 'imp/bad']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /BOGUS is not a valid change command/);
  });

  test('images lists with formats and filters; tag and rmi print Docker lines', async () => {
    assert.equal((await e.berth(['tag', 'busybox', 'mine/bb:one'])).code, 0);
    assert.equal((await e.berth(['tag', 'busybox:latest', 'localhost:5000/mine/bb:two'])).code, 0);
    const list = await e.berth(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    const refs = list.stdout.trim().split('\n');
    for (const r of ['busybox:latest', 'mine/bb:one', 'localhost:5000/mine/bb:two']) assert.ok(refs.includes(r), list.stdout);
    const table = await e.berth(['images', 'mine/bb']);
    assert.match(table.stdout.split('\n')[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(table.stdout, /mine\/bb\s+one\s+[a-f0-9]{12}\s+.*ago\s+[\d.]+MB/);
    const un = await e.berth(['rmi', 'mine/bb:one']);
    assert.equal(un.stdout, 'Untagged: mine/bb:one\n');
    const missing = await e.berth(['rmi', 'nope:404']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image: nope:404/);
  });

  test('rmi refuses an image a container uses, unless forced; then deletes it when unused', async () => {
    await e.berth(['tag', 'busybox', 'used/img:1']);
    await e.berth(['tag', 'busybox', 'used/img:2']);
    const id = (await e.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout.trim();
    await e.berth(['create', '--name', 'user-of-image', 'used/img:1', 'true']);
    const refused = await e.berth(['rmi', id]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /conflict: unable to delete [a-f0-9]{12} \(must be forced\)/);
    await e.berth(['rm', 'user-of-image']);
    // A fresh image, used by nothing: rmi by its last tag deletes it.
    await e.berth(['import', busyboxTar(), 'lonely/img:1']);
    const del = await e.berth(['rmi', 'lonely/img:1']);
    assert.match(del.stdout, /^Untagged: lonely\/img:1\nDeleted: sha256:[a-f0-9]{64}\n$/);
  });

  test('image prune removes dangling images only', async () => {
    await e.berth(['import', busyboxTar(), 'dangle/me:1']);
    await e.berth(['import', '-c', 'ENV V=2', busyboxTar(), 'dangle/me:1']);
    const dangling = await e.berth(['images', '-q', '--filter', 'dangling=true']);
    assert.equal(dangling.stdout.trim().split('\n').filter(Boolean).length, 1);
    const pr = await e.berth(['image', 'prune', '-f']);
    assert.match(pr.stdout, /deleted: sha256:/);
    assert.equal((await e.berth(['images', '-q', '--filter', 'dangling=true'])).stdout.trim(), '');
    assert.equal((await e.berth(['image', 'inspect', '-f', '{{.Id}}', 'dangle/me:1'])).code, 0);
  });

  test('save and load round-trip into another engine with the same image ID', async () => {
    const file = join(e.dir, 'saved.tar');
    const s = await e.berth(['save', '-o', file, 'busybox:latest']);
    assert.equal(s.code, 0, s.stderr);
    const other = new TestEngine();
    try {
      await other.start();
      const l = await other.berth(['load', '-i', file]);
      assert.equal(l.code, 0, l.stderr);
      assert.match(l.stdout, /Loaded image: busybox:latest/);
      const a = (await e.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout;
      const b = (await other.berth(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout;
      assert.equal(b, a);
      assert.equal((await other.berth(['run', '--rm', 'busybox', 'echo', 'loaded'])).stdout, 'loaded\n');
    } finally {
      await other.cleanup();
    }
  });

  test('events streams container lifecycle events with filters', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await e.berth(['run', '--rm', '--name', 'evt', 'busybox', 'true']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const ev = await e.berth(['events', '--since', String(since), '--until', String(until), '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    const lines = ev.stdout.trim().split('\n').filter((l) => l.endsWith(' evt'));
    assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['create', 'start', 'die', 'destroy']);
  });
});
