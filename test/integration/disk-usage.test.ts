/** `system df` (sizes measured: container upper dirs, volumes, build cache), prunes that say what they freed, `system prune`. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestEngine, isRoot } from '../helpers/engine';

describe('disk usage', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('system df counts what containers and volumes wrote; prunes report the space they freed', async () => {
    assert.equal((await e.berth(['run', '--name', 'writer', 'busybox', 'sh', '-c', 'head -c 300000 /dev/zero > /big; ln /big /big2'])).code, 0);
    await e.berth(['run', '-d', '--name', 'idle', 'busybox', 'sleep', '100']);
    await e.berth(['volume', 'create', 'kept']);
    await e.berth(['run', '--rm', '-v', 'kept:/v', 'busybox', 'sh', '-c', 'head -c 50000 /dev/zero > /v/f']);
    const rows = (await e.berth(['system', 'df', '--format', '{{json .}}'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((r) => r.Type), ['Images', 'Containers', 'Local Volumes', 'Build Cache']);
    // The hard link counts once; the running container is active, the stopped one reclaimable.
    assert.deepEqual(rows[1], { Type: 'Containers', TotalCount: 2, Active: 1, Size: '300kB', Reclaimable: '300kB (100%)' });
    assert.deepEqual(rows[2], { Type: 'Local Volumes', TotalCount: 1, Active: 0, Size: '50kB', Reclaimable: '50kB (100%)' });
    assert.equal(rows[0]!.Active, 1);
    const verbose = (await e.berth(['system', 'df', '-v'])).stdout;
    assert.match(verbose, /^Containers space usage:$/m);
    assert.match(verbose, /\s300kB\s.*writer$/m);
    assert.match(verbose, /^kept\s+0\s+50kB$/m);
    // API 1.42's type filter.
    const onlyVolumes = await e.apiGet('/v1.45/system/df?type=volume');
    assert.deepEqual(Object.keys(onlyVolumes), ['Volumes']);
    // The real docker CLI reads the same answer.
    const d = await e.docker(['system', 'df']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^Containers\s+2\s+1\s+300kB\s+300kB \(100%\)$/m);

    // ps -s / inspect --size, from berth and from the docker CLI; CreatedAt as Go prints a time.
    const ps = await e.berth(['ps', '-a', '-s', '--filter', 'name=writer', '--format', '{{.Names}} {{.Size}} {{.Mounts}} {{.CreatedAt}}']);
    assert.match(ps.stdout, /^writer 300kB \(virtual 2\.\d+MB\)  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\n$/);
    assert.match((await e.berth(['ps', '-a', '-s'])).stdout, /^CONTAINER ID .* SIZE\n/);
    assert.equal((await e.berth(['ps', '--filter', 'name=idle', '--format', '{{.Networks}}'])).stdout, 'bridge\n');
    const dps = await e.docker(['ps', '-a', '-s', '--filter', 'name=writer', '--format', '{{.Size}}']);
    assert.match(dps.stdout, /^300kB \(virtual 2\.\d+MB\)\n$/);
    const insp = JSON.parse((await e.docker(['inspect', '--size', 'writer'])).stdout)[0] as { SizeRw: number; SizeRootFs: number };
    assert.equal(insp.SizeRw, 300000);
    assert.ok(insp.SizeRootFs > 300000);

    const pruned = await e.berth(['container', 'prune', '-f']);
    assert.match(pruned.stdout, /Total reclaimed space: 300kB/);
    // Without -f and with no "y": nothing goes.
    await e.berth(['run', '--name', 'second', '-v', '/anon', 'busybox', 'sh', '-c', 'head -c 1000 /dev/zero > /anon/f; head -c 2000 /dev/zero > /c']);
    const declined = await e.berth(['system', 'prune'], { input: 'n\n' });
    assert.match(declined.stdout, /WARNING! This will remove:\n {2}- all stopped containers\n/);
    assert.equal((await e.berth(['inspect', 'second'])).code, 0, 'a declined prune removed a container');
    const sys = await e.berth(['system', 'prune', '-f', '--volumes']);
    assert.equal(sys.code, 0, sys.stderr);
    assert.match(sys.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n/m);
    assert.match(sys.stdout, /^Deleted Volumes:\n[0-9a-f]{64}\n/m);
    assert.match(sys.stdout, /Total reclaimed space: 3kB/);
    assert.equal((await e.berth(['volume', 'inspect', 'kept'])).code, 0, 'system prune --volumes removed a named volume');
    assert.equal((await e.berth(['inspect', 'idle'])).code, 0, 'system prune removed a running container');
    await e.berth(['rm', '-f', 'idle']);
  });

  test('system prune --filter removes only what the filter selects', async () => {
    await e.berth(['run', '--name', 'doomed', '--label', 'doomed=1', 'busybox', 'true']);
    await e.berth(['run', '--name', 'spared', 'busybox', 'true']);
    await e.berth(['network', 'create', '--label', 'doomed=1', 'doomednet']);
    await e.berth(['network', 'create', 'sparednet']);
    const r = await e.berth(['system', 'prune', '-f', '--filter', 'label=doomed=1']);
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual((await e.berth(['inspect', 'doomed'])).code, 0, 'the labelled container was kept');
    assert.equal((await e.berth(['inspect', 'spared'])).code, 0, 'a container without the label was pruned');
    assert.equal((await e.berth(['network', 'inspect', 'sparednet'])).code, 0, 'a network without the label was pruned');
    assert.notEqual((await e.berth(['network', 'inspect', 'doomednet'])).code, 0);
    const bad = await e.berth(['system', 'prune', '-f', '--filter', 'lable=x']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'lable'/);
    assert.equal((await e.berth(['inspect', 'spared'])).code, 0, 'a refused filter still pruned');
    const until = await e.berth(['system', 'prune', '-f', '--volumes', '--filter', 'until=1h']);
    assert.match(until.stderr, /"until" filter is not supported with "--volumes"/);
    await e.berth(['rm', 'spared']);
    await e.berth(['network', 'rm', 'sparednet']);
  });
});
