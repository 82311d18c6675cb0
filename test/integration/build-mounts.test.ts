/** RUN --mount (cache, bind, tmpfs) end to end, and builds kept safe from a concurrent GC. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { TestEngine, isRoot, writeTree } from '../helpers/engine';

describe('build RUN --mount', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  let n = 0;
  /** A fresh context dir with these files (paths relative, '/'-separated). */
  const context = (files: Record<string, string>): string => writeTree(join(e.dir, `ctx${++n}`), files);
  const build = async (args: string[]) => {
    const r = await e.berth(['build', '--progress', 'plain', ...args]);
    return { ...r, all: r.stdout + r.stderr };
  };
  const run = async (ref: string, cmd: string) => {
    const r = await e.berth(['run', '--rm', '--entrypoint', 'sh', ref, '-c', cmd]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  /** Paths in the image's top layer (blobs are stored uncompressed: the diffID names the blob). */
  const topLayer = async (ref: string): Promise<string[]> => {
    const r = await e.berth(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref]);
    const layers = JSON.parse(r.stdout) as string[];
    const blob = join(e.root, 'image', 'blobs', 'sha256', layers[layers.length - 1].slice(7));
    const t = spawnSync('tar', ['-tf', blob], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    return t.stdout.split('\n').filter(Boolean).sort();
  };

  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  /** POST /build with an empty context and extra headers, as another client could send it. */
  function postBuild(headers: Record<string, string>): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: e.socket, method: 'POST', path: '/v1.45/build?t=never', headers: { 'Content-Type': 'application/x-tar', 'Content-Length': '0', ...headers } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('type=cache: the dir persists across builds and a restart, never enters the layer; builder prune removes it', async () => {
    const df = (word: string) => `FROM busybox\nRUN --mount=type=cache,target=/var/cache/app echo ${word} >> /var/cache/app/log && cat /var/cache/app/log > /seen\n`;
    const first = await build(['-t', 'cm:1', context({ Dockerfile: df('one') })]);
    assert.equal(first.code, 0, first.all);
    assert.equal(await run('cm:1', 'cat /seen'), 'one\n');
    // Neither the cache content nor the mount point (nor /var/cache, copied up for it) is in the layer.
    assert.deepEqual(await topLayer('cm:1'), ['seen']);
    assert.equal(await run('cm:1', 'test -e /var/cache/app && echo yes || echo no'), 'no\n');

    await e.stopDaemon();
    await e.start();
    const second = await build(['-t', 'cm:2', context({ Dockerfile: df('two') })]);
    assert.equal(second.code, 0, second.all);
    assert.equal(await run('cm:2', 'cat /seen'), 'one\ntwo\n');
    assert.deepEqual(await topLayer('cm:2'), ['seen']);
    // The cache's content is not in the key: the same instruction is CACHED.
    const again = await build([context({ Dockerfile: df('two') })]);
    assert.match(again.stderr, /RUN --mount=type=cache.* +CACHED/, again.all);

    assert.equal(readdirSync(join(e.root, 'builder', 'cache-mounts')).length, 1);
    const prune = await e.berth(['builder', 'prune', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.deepEqual(readdirSync(join(e.root, 'builder', 'cache-mounts')), []);
    const third = await build(['-t', 'cm:3', context({ Dockerfile: df('three') })]);
    assert.equal(third.code, 0, third.all);
    assert.equal(await run('cm:3', 'cat /seen'), 'three\n');
  });

  test('type=cache: id, uid/gid/mode, and sharing=locked serializes two concurrent builds', async () => {
    const ids = await build(['-t', 'cmid:1', context({ Dockerfile: 'FROM busybox\nRUN --mount=type=cache,id=shared-x,target=/a,uid=123,gid=456,mode=0700 stat -c "%u %g %a" /a > /st && touch /a/f\nRUN --mount=type=cache,id=shared-x,target=/b ls /b > /ls\n' })]);
    assert.equal(ids.code, 0, ids.all);
    assert.equal(await run('cmid:1', 'cat /st /ls'), '123 456 700\nf\n');

    const df = (who: string) =>
      `FROM busybox\nRUN --mount=type=cache,id=lk,target=/c,sharing=locked echo start-${who} >> /c/log && sleep 1 && echo end-${who} >> /c/log && cp /c/log /out\n`;
    const [a, b] = await Promise.all([build(['-t', 'lk:a', context({ Dockerfile: df('a') })]), build(['-t', 'lk:b', context({ Dockerfile: df('b') })])]);
    assert.equal(a.code, 0, a.all);
    assert.equal(b.code, 0, b.all);
    const outs = [await run('lk:a', 'cat /out'), await run('lk:b', 'cat /out')].sort((x, y) => x.length - y.length);
    const lines = outs[1].trim().split('\n');
    assert.equal(lines.length, 4, outs[1]);
    // One step's start and end are never interleaved with the other's.
    assert.equal(lines[0].replace('start-', ''), lines[1].replace('end-', ''), outs[1]);
    assert.equal(lines[2].replace('start-', ''), lines[3].replace('end-', ''), outs[1]);
  });

  test('type=bind from the context: .dockerignore applies, content stays out of the layer, a changed file invalidates the step', async () => {
    const dir = context({
      'Dockerfile': 'FROM busybox\nRUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/a.txt > /got && ls -A /mnt/data > /list\n',
      '.dockerignore': 'data/secret.txt\n',
      'data/a.txt': 'v1\n',
      'data/secret.txt': 'hidden\n',
      'data/sub/b.txt': 'b\n',
    });
    const first = await build(['-t', 'bind:1', dir]);
    assert.equal(first.code, 0, first.all);
    assert.equal(await run('bind:1', 'cat /got /list'), 'v1\na.txt\nsub\n');
    assert.deepEqual(await topLayer('bind:1'), ['got', 'list']);

    // Only mtimes changed, or an ignored file: still CACHED.
    utimesSync(join(dir, 'data', 'a.txt'), new Date(), new Date(2001, 1, 1));
    writeFileSync(join(dir, 'data', 'secret.txt'), 'other\n');
    const same = await build([dir]);
    assert.match(same.stderr, /RUN --mount=type=bind.* +CACHED/, same.all);

    writeFileSync(join(dir, 'data', 'a.txt'), 'v2\n');
    const changed = await build(['-t', 'bind:2', dir]);
    assert.equal(changed.code, 0, changed.all);
    assert.doesNotMatch(changed.stderr, /CACHED/);
    assert.equal(await run('bind:2', 'cat /got'), 'v2\n');

    // Read-only by default; rw writes are thrown away, the context is untouched.
    const ro = await build([context({ Dockerfile: 'FROM busybox\nRUN --mount=type=bind,target=/src touch /src/x\n', 'f': 'f' })]);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const rwDir = context({ Dockerfile: 'FROM busybox\nRUN --mount=type=bind,target=/src,rw echo w > /src/new && echo changed > /src/f && cat /src/f /src/new > /out\n', 'f': 'f' });
    const rw = await build(['-t', 'bindrw:1', rwDir]);
    assert.equal(rw.code, 0, rw.all);
    assert.equal(await run('bindrw:1', 'cat /out'), 'changed\nw\n');
    assert.equal(readFileSync(join(rwDir, 'f'), 'utf8'), 'f');
    assert.equal(existsSync(join(rwDir, 'new')), false);
    assert.deepEqual(await topLayer('bindrw:1'), ['out']);

    const missing = await build([context({ Dockerfile: 'FROM busybox\nRUN --mount=type=bind,source=nope,target=/x true\n' })]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Dockerfile:2: .*nope.*not found/);
    // Every view was unmounted after its step.
    assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${e.root}/builder/tmp/`));
  });

  test('type=bind from a stage and from an image; a file source', async () => {
    const dir = context({
      Dockerfile: [
        'FROM busybox AS gen',
        'RUN mkdir /out && echo generated > /out/g.txt',
        'FROM busybox',
        'RUN --mount=type=bind,from=gen,source=/out,target=/gen --mount=type=bind,from=busybox,source=/bin/busybox,target=/opt/bb/busybox cat /gen/g.txt > /fromstage && /opt/bb/busybox echo ok > /fromimage',
        '',
      ].join('\n'),
    });
    const r = await build(['-t', 'bindst:1', dir]);
    assert.equal(r.code, 0, r.all);
    assert.equal(await run('bindst:1', 'cat /fromstage /fromimage'), 'generated\nok\n');
    assert.deepEqual(await topLayer('bindst:1'), ['fromimage', 'fromstage']);
    // Changing the stage's output changes the key of the step that binds it.
    writeFileSync(join(dir, 'Dockerfile'), readFileSync(join(dir, 'Dockerfile'), 'utf8').replace('echo generated', 'echo regenerated'));
    const r2 = await build(['-t', 'bindst:2', dir]);
    assert.equal(r2.code, 0, r2.all);
    assert.equal(await run('bindst:2', 'cat /fromstage'), 'regenerated\n');
  });

  test('type=tmpfs with size; several mounts in one RUN', async () => {
    const r = await build(['-t', 'tmp:1', context({ Dockerfile: 'FROM busybox\nRUN --mount=type=tmpfs,target=/scratch,size=1m --mount=type=cache,target=/cc echo x > /scratch/f && grep " /scratch " /proc/mounts | cut -d" " -f3,4 > /m && cat /scratch/f >> /m\n' })]);
    assert.equal(r.code, 0, r.all);
    const m = await run('tmp:1', 'cat /m');
    assert.match(m, /^tmpfs \S*size=1024k\S*\nx\n$/);
    assert.deepEqual(await topLayer('tmp:1'), ['m']);
  });

  test('type=secret: a read-only file and/or a variable, optional unless required; in no layer and no cache key', async () => {
    const tok = join(e.dir, 'tok.txt');
    writeFileSync(tok, 's3cr3t');
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen && stat -c "%a %u" /run/secrets/tok > /mode',
        'RUN --mount=type=secret,id=tok,env=TOKEN,mode=0440,uid=1000,target=/etc/app.key echo "${#TOKEN} $(stat -c %a-%u /etc/app.key)" > /env',
        'RUN --mount=type=secret,id=absent echo optional',
        '',
      ].join('\n'),
    });
    const b = await build(['--secret', `id=tok,src=${tok}`, '-t', 'sec:1', dir]);
    assert.equal(b.code, 0, b.all);
    assert.equal(await run('sec:1', 'cat /seen /mode /env; ls /run/secrets /etc/app.key 2>&1 | wc -l'), 's3cr3t400 0\n6 440-1000\n2\n');
    // The optional secret's step changed nothing (no layer); the one before holds /env only, not /etc/app.key.
    assert.deepEqual(await topLayer('sec:1'), ['env']);
    // Another value for the same secret: the steps stay cached (BuildKit keys secrets by how they mount).
    writeFileSync(tok, 'changed');
    const again = await build(['--secret', `id=tok,src=${tok}`, '-t', 'sec:2', dir]);
    assert.equal(again.code, 0, again.all);
    assert.equal((again.all.match(/CACHED/g) ?? []).length, 3, again.all);
    process.env.BERTH_TEST_TOKEN = 'from-env';
    const fromEnv = await build(['--no-cache', '--secret', 'id=tok,env=BERTH_TEST_TOKEN', '-t', 'sec:3', dir]);
    assert.equal(fromEnv.code, 0, fromEnv.all);
    assert.match(await run('sec:3', 'cat /seen'), /^from-env$/);
    const req = await build([context({ Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=needed,required true\n' })]);
    assert.notEqual(req.code, 0);
    assert.match(req.stderr, /secret needed not found/);
    const malformed = await build(['--secret', 'tok', dir]);
    assert.equal(malformed.code, 125);
    assert.match(malformed.stderr, /invalid secret "tok": expected key=value pairs/);
    const none = await build(['--secret', 'id=nowhere-to-be-found', dir]);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /no file or environment variable/);
    // The header other clients could send wrong: refused before any build step.
    for (const [header, message] of [
      ['not base64 json', /X-Berth-Build-Secrets: not base64 JSON/],
      [Buffer.from('["tok"]').toString('base64'), /expected an object of IDs/],
      [Buffer.from('{"tok":7}').toString('base64'), /secret tok is not a base64 string/],
    ] as const) {
      const r = await postBuild({ 'X-Berth-Build-Secrets': header });
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, message);
    }
  });

  test('bad mount flags point at the Dockerfile line; ssh says it is not supported', async () => {
    const bad = await build([context({ Dockerfile: 'FROM busybox\n\nRUN --mount=type=cache,target=/x,sharing=bogus true\n' })]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Dockerfile:3: .*unsupported sharing value "bogus"/);
    const key = await build([context({ Dockerfile: 'FROM busybox\nRUN --mount=type=bind,target=/x,colour=red true\n' })]);
    assert.notEqual(key.code, 0);
    assert.match(key.stderr, /Dockerfile:2: .*unexpected key 'colour'/);
    const ssh = await build([context({ Dockerfile: 'FROM busybox\nRUN --mount=type=ssh true\n' })]);
    assert.notEqual(ssh.code, 0);
    assert.match(ssh.stderr, /Dockerfile:2: .*type=ssh is not supported by Berth yet/);
  });

  test('a GC during a build (image removed, blobs old) does not break it: the build holds a lease', async () => {
    const base = await build(['-t', 'leasebase:1', context({ Dockerfile: 'FROM busybox\nCOPY f /f\n', 'f': 'base-file\n' })]);
    assert.equal(base.code, 0, base.all);
    // Make every blob and snapshot look older than the GC grace period.
    const old = new Date(Date.now() - 3600_000);
    for (const d of readdirSync(join(e.root, 'image', 'blobs', 'sha256'))) utimesSync(join(e.root, 'image', 'blobs', 'sha256', d), old, old);
    for (const d of readdirSync(join(e.root, 'snapshots'))) if (/^\d+$/.test(d)) utimesSync(join(e.root, 'snapshots', d, 'chain'), old, old);
    const dir = context({ Dockerfile: 'FROM leasebase:1\nRUN sleep 3 && cat /f > /g\nRUN cat /f /g > /h\n' });
    const building = build(['--no-cache', '-t', 'leased:1', dir]);
    await new Promise((r) => setTimeout(r, 1500));
    const rmi = await e.berth(['rmi', 'leasebase:1']);
    assert.equal(rmi.code, 0, rmi.stderr);
    const r = await building;
    assert.equal(r.code, 0, r.all);
    assert.equal(await run('leased:1', 'cat /h'), 'base-file\nbase-file\n');
  });
});
