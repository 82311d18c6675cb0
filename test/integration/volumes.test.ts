/** Volumes with real containers: persistence, pre-population, ro, tmpfs, --volumes-from, anonymous cleanup. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestEngine, isRoot } from '../helpers/engine';

describe('volumes', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
    // An image with content at /data owned by nobody and a VOLUME, to test pre-population.
    await e.berth(['run', '--name', 'mk-vol-img', 'busybox', 'sh', '-c', 'mkdir -p /data/sub && echo seeded > /data/sub/f && chown -R 65534:65534 /data']);
    await e.berth(['commit', '-c', 'VOLUME /data', 'mk-vol-img', 'volimg:1']);
  });
  after(() => e.cleanup());

  test('a named volume keeps data across containers and is refused removal while used', async () => {
    assert.equal((await e.berth(['volume', 'create', '--label', 'k=v', 'keep'])).stdout, 'keep\n');
    await e.berth(['run', '--rm', '-v', 'keep:/v', 'busybox', 'sh', '-c', 'echo persisted > /v/file']);
    const r = await e.berth(['run', '--rm', '-v', 'keep:/v:ro', 'busybox', 'cat', '/v/file']);
    assert.equal(r.stdout, 'persisted\n');
    await e.berth(['create', '--name', 'holder', '-v', 'keep:/v', 'busybox', 'true']);
    const rm = await e.berth(['volume', 'rm', 'keep']);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /volume is in use/);
    await e.berth(['rm', 'holder']);
    const ls = await e.berth(['volume', 'ls', '--format', '{{.Name}} {{.Driver}}']);
    assert.match(ls.stdout, /^keep local$/m);
    const insp = await e.berth(['volume', 'inspect', '-f', '{{.Labels.k}} {{.Mountpoint}}', 'keep']);
    assert.match(insp.stdout, /^v \/.*\/volumes\/keep\/_data\n$/);
    assert.equal((await e.berth(['volume', 'rm', 'keep'])).code, 0);
  });

  test('an empty volume over image content is pre-populated once, with ownership', async () => {
    const r = await e.berth(['run', '--rm', '-v', 'seed:/data', 'volimg:1', 'sh', '-c', 'cat /data/sub/f; stat -c "%u" /data /data/sub/f; echo changed > /data/sub/f; rm -f /data/extra']);
    assert.deepEqual(r.stdout.trim().split('\n'), ['seeded', '65534', '65534']);
    const again = await e.berth(['run', '--rm', '-v', 'seed:/data', 'volimg:1', 'cat', '/data/sub/f']);
    assert.equal(again.stdout, 'changed\n', 'the volume was filled twice');
    const nocopy = await e.berth(['run', '--rm', '--mount', 'type=volume,source=nocp,target=/data,volume-nocopy', 'volimg:1', 'ls', '-A', '/data']);
    assert.equal(nocopy.stdout, '');
  });

  test('image VOLUME gets an anonymous volume, removed by rm -v and by run --rm', async () => {
    const before = (await e.berth(['volume', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean).length;
    await e.berth(['run', '--name', 'anon', 'volimg:1', 'cat', '/data/sub/f']);
    const mounts = JSON.parse((await e.berth(['inspect', '-f', '{{json .Mounts}}', 'anon'])).stdout) as Array<{ Type: string; Name: string; Destination: string }>;
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0].Type, 'volume');
    assert.equal(mounts[0].Destination, '/data');
    assert.match(mounts[0].Name, /^[a-f0-9]{64}$/);
    assert.equal((await e.berth(['rm', '-v', 'anon'])).code, 0);
    await e.berth(['run', '--rm', 'volimg:1', 'true']);
    const afterCount = (await e.berth(['volume', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean).length;
    assert.equal(afterCount, before);
  });

  test('bind mounts: rw, :ro write fails, -v creates a missing host dir, --mount refuses it', async () => {
    const host = mkdtempSync(join(e.dir, 'bind-'));
    writeFileSync(join(host, 'in.txt'), 'from-host\n');
    const r = await e.berth(['run', '--rm', '-v', `${host}:/h`, 'busybox', 'sh', '-c', 'cat /h/in.txt; echo from-ctr > /h/out.txt']);
    assert.equal(r.stdout, 'from-host\n');
    assert.equal(readFileSync(join(host, 'out.txt'), 'utf8'), 'from-ctr\n');
    const ro = await e.berth(['run', '--rm', '-v', `${host}:/h:ro`, 'busybox', 'sh', '-c', '(echo x > /h/out.txt) 2>&1; echo rc=$?']);
    assert.match(ro.stdout, /Read-only file system/);
    const missing = join(e.dir, 'made-by-v');
    assert.equal((await e.berth(['run', '--rm', '-v', `${missing}:/m`, 'busybox', 'true'])).code, 0);
    assert.ok(existsSync(missing));
    const refused = await e.berth(['run', '--rm', '--mount', `type=bind,source=${join(e.dir, 'nope')},target=/m`, 'busybox', 'true']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /bind source path does not exist/);
  });

  test('tmpfs is a tmpfs; --volumes-from shares mounts', async () => {
    const t = await e.berth(['run', '--rm', '--tmpfs', '/scratch:size=1m', '--mount', 'type=tmpfs,target=/t2,tmpfs-size=2m', 'busybox', 'sh', '-c', 'grep -E " /(scratch|t2) " /proc/mounts']);
    assert.match(t.stdout, /tmpfs \/scratch tmpfs .*size=1024k/);
    assert.match(t.stdout, /tmpfs \/t2 tmpfs .*size=2048k/);
    await e.berth(['run', '--name', 'vsrc', '-v', 'shared:/shared', 'busybox', 'sh', '-c', 'echo hello > /shared/x']);
    const from = await e.berth(['run', '--rm', '--volumes-from', 'vsrc:ro', 'busybox', 'sh', '-c', 'cat /shared/x; touch /shared/y 2>&1 | grep -c Read-only']);
    assert.equal(from.stdout, 'hello\n1\n');
  });

  test('local driver options mount tmpfs or a host directory as the volume', async () => {
    assert.equal((await e.berth(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=3m', 'tv'])).code, 0);
    const t = await e.berth(['run', '--rm', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts']);
    assert.match(t.stdout, /^tmpfs \/t tmpfs .*size=3072k/);
    const host = mkdtempSync(join(e.dir, 'optbind-'));
    writeFileSync(join(host, 'h.txt'), 'via-opt\n');
    await e.berth(['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${host}`, 'bv']);
    const b = await e.berth(['run', '--rm', '-v', 'bv:/b', 'busybox', 'sh', '-c', 'cat /b/h.txt; echo back > /b/out']);
    assert.equal(b.stdout, 'via-opt\n');
    assert.equal(readFileSync(join(host, 'out'), 'utf8'), 'back\n');
    await e.berth(['volume', 'create', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${join(e.dir, 'missing-dev')}`, 'badv']);
    const bad = await e.berth(['run', '--rm', '-v', 'badv:/x', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /failed to mount local volume: no such device/);
    assert.equal((await e.berth(['volume', 'rm', 'tv', 'bv', 'badv'])).code, 0);
    assert.equal(readFileSync(join(host, 'h.txt'), 'utf8'), 'via-opt\n', 'removing a bind volume must not touch the host directory');
  });

  test('uid/gid/mode options own a fresh volume, so a non-root container can write to it', async () => {
    await e.berth(['volume', 'create', '-o', 'uid=1000', '-o', 'gid=1001', '-o', 'mode=0750', 'owned']);
    const r = await e.berth(['run', '--rm', '-u', '1000:1001', '-v', 'owned:/w', 'busybox', 'sh', '-c', 'stat -c "%u %g %a" /w && echo ok > /w/f && cat /w/f']);
    assert.equal(r.stdout, '1000 1001 750\nok\n', r.stderr);
    const denied = await e.berth(['run', '--rm', '-u', '1002:1002', '-v', 'owned:/w', 'busybox', 'sh', '-c', 'echo no > /w/g']);
    assert.notEqual(denied.code, 0, 'mode 0750 lets others in');
    // Podman's spelling; over image content the asked owner wins over the image directory's (65534).
    await e.berth(['volume', 'create', '-o', 'o=uid=2000,gid=2000', 'podstyle']);
    const p = await e.berth(['run', '--rm', '-v', 'podstyle:/data', 'volimg:1', 'stat', '-c', '%u:%g', '/data', '/data/sub/f']);
    assert.deepEqual(p.stdout.trim().split('\n'), ['2000:2000', '65534:65534']);
    for (const [opt, msg] of [['uid=-1', /invalid uid "-1"/], ['gid=x', /invalid gid "x"/], ['mode=999', /invalid mode "999"/], ['o=size=1m', /o takes only uid=, gid= and mode=/]] as const) {
      const bad = await e.berth(['volume', 'create', '-o', opt, `bad-${opt.length}`]);
      assert.notEqual(bad.code, 0, opt);
      assert.match(bad.stderr, msg);
    }
    const dev = await e.berth(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'uid=5', 'devowned']);
    assert.match(dev.stderr, /for a device volume give them in o=/);
    assert.equal((await e.berth(['volume', 'ls', '-q'])).stdout.split('\n').filter((n) => n.startsWith('bad-') || n === 'devowned').length, 0, 'a refused volume was left behind');
    await e.berth(['volume', 'rm', 'owned', 'podstyle']);
  });

  test('cp reaches volumes and binds, running or stopped; a :ro one refuses writes', async () => {
    const host = mkdtempSync(join(e.dir, 'cpbind-'));
    writeFileSync(join(host, 'from-host'), 'bound\n');
    const src = join(e.dir, 'cp-src.txt');
    writeFileSync(src, 'copied\n');
    await e.berth(['run', '-d', '--name', 'cpvol', '-v', 'cpdata:/data', '-v', `${host}:/bind`, '-v', 'cpdata:/ro:ro', 'busybox', 'sh', '-c', 'echo made-inside > /data/inside; sleep 100']);
    await e.berth(['exec', 'cpvol', 'true']);
    assert.equal((await e.berth(['cp', src, 'cpvol:/data/in.txt'])).code, 0);
    assert.equal((await e.berth(['exec', 'cpvol', 'cat', '/data/in.txt'])).stdout, 'copied\n', 'cp into a running container missed the volume');
    const out = join(e.dir, 'cp-out.txt');
    assert.equal((await e.berth(['cp', 'cpvol:/data/inside', out])).code, 0);
    assert.equal(readFileSync(out, 'utf8'), 'made-inside\n');
    assert.equal((await e.berth(['cp', src, 'cpvol:/bind/'])).code, 0);
    assert.equal(readFileSync(join(host, 'cp-src.txt'), 'utf8'), 'copied\n', 'cp into a bind did not reach the host directory');
    const ro = await e.berth(['cp', src, 'cpvol:/ro/']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /mounted volume is marked read-only/);
    // Stopped: the same paths, through the volume and bind sources.
    await e.berth(['stop', '-t', '0', 'cpvol']);
    const out2 = join(e.dir, 'cp-out2.txt');
    assert.equal((await e.berth(['cp', 'cpvol:/bind/from-host', out2])).code, 0);
    assert.equal(readFileSync(out2, 'utf8'), 'bound\n');
    assert.equal((await e.berth(['cp', src, 'cpvol:/data/stopped.txt'])).code, 0);
    assert.match((await e.berth(['run', '--rm', '-v', 'cpdata:/d', 'busybox', 'cat', '/d/stopped.txt'])).stdout, /^copied$/m);
    assert.match((await e.berth(['cp', src, 'cpvol:/ro/'])).stderr, /mounted volume is marked read-only/);
    // The container's own rootfs under /data (hidden by the volume) got nothing.
    assert.doesNotMatch((await e.berth(['export', 'cpvol'])).stdout, /stopped\.txt|in\.txt/);
    await e.berth(['rm', '-f', 'cpvol']);
    await e.berth(['volume', 'rm', 'cpdata']);
  });

  test('bad specs get clear errors', async () => {
    const r1 = await e.berth(['run', '--rm', '-v', 'bad name!:/x', 'busybox', 'true']);
    assert.match(r1.stderr, /invalid characters for a local volume name/);
    const r2 = await e.berth(['run', '--rm', '-v', 'vol:relative', 'busybox', 'true']);
    assert.match(r2.stderr, /must be absolute|invalid/);
    const r3 = await e.berth(['run', '--rm', '-v', 'vol:/x:bogus', 'busybox', 'true']);
    assert.match(r3.stderr, /invalid mode: bogus/);
  });
});
