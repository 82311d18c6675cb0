/**
 * berthd can die at any moment: containers run on under conmon, and a new
 * berthd lists them, serves logs/exec/stop, and reports the exit codes of
 * those that ended while no daemon was there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestEngine, eventually, isRoot, sleep } from '../helpers/engine';

describe('daemon restart', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('SIGKILL of berthd leaves containers running and a new berthd adopts them', async () => {
    await e.berth(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', 'while true; do echo alive; sleep 0.2; done']);
    await e.berth(['run', '-d', '--name', 'ends-meanwhile', 'busybox', 'sh', '-c', 'sleep 1; exit 42']);
    await e.berth(['run', '-d', '--name', 'killed-meanwhile', 'busybox', 'sleep', '600']);
    const pid = (await e.berth(['inspect', '-f', '{{.State.Pid}}', 'killed-meanwhile'])).stdout.trim();
    const ids = (await e.berth(['inspect', '-f', '{{.Id}}', 'ends-meanwhile', 'killed-meanwhile'])).stdout.trim().split('\n');
    await e.stopDaemon('SIGKILL');
    // While no daemon runs: one container ends by itself, one is killed from outside.
    process.kill(Number(pid), 'SIGKILL');
    await eventually(() => ids.every((id) => existsSync(join(e.run, 'exits', id))), 20_000);
    await sleep(100);
    await e.start();
    const ps = await e.berth(['ps', '--format', '{{.Names}}']);
    assert.deepEqual(ps.stdout.trim().split('\n'), ['survivor']);
    const codes = await e.berth(['inspect', '-f', '{{.Name}} {{.State.Status}} {{.State.ExitCode}}', 'ends-meanwhile', 'killed-meanwhile']);
    assert.deepEqual(codes.stdout.trim().split('\n'), ['/ends-meanwhile exited 42', '/killed-meanwhile exited 137']);
    const logs = await e.berth(['logs', '--tail', '1', 'survivor']);
    assert.equal(logs.stdout, 'alive\n');
    const ex = await e.berth(['exec', 'survivor', 'echo', 'exec-after-restart']);
    assert.equal(ex.stdout, 'exec-after-restart\n');
    const st = await e.berth(['stop', '-t', '1', 'survivor']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Status}}', 'survivor'])).stdout.trim(), 'exited');
  });

  test('torn files (what a power loss leaves of unsynced writes) do not stop the daemon', async () => {
    await e.berth(['create', '--name', 'torn-state', 'busybox', 'true']);
    await e.berth(['create', '--name', 'torn-config', 'busybox', 'true']);
    const ids = (await e.berth(['inspect', '-f', '{{.Id}}', 'torn-state', 'torn-config'])).stdout.trim().split('\n');
    await e.stopDaemon();
    writeFileSync(join(e.root, 'containers', ids[0], 'state.json'), '');
    writeFileSync(join(e.root, 'containers', ids[1], 'container.json'), '{"Id": "trunc');
    await e.start();
    const st = await e.berth(['inspect', '-f', '{{.State.Status}}', 'torn-state']);
    assert.equal(st.stdout.trim(), 'created', st.stderr);
    const gone = await e.berth(['inspect', 'torn-config']);
    assert.notEqual(gone.code, 0, 'a container without a readable config is dropped');
    assert.equal(existsSync(join(e.root, 'containers', ids[1])), false);
    const again = await e.berth(['run', '--rm', 'busybox', 'echo', 'ok']);
    assert.equal(again.stdout, 'ok\n', again.stderr);
  });

  test('a second berthd on the same run dir is refused', async () => {
    const r = await import('../helpers/engine').then((m) => m.runProcess(process.execPath, [m.BERTHD_BIN], e.env, { timeoutMs: 10_000 }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /another berthd/);
  });
});
