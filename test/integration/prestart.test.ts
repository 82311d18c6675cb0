/**
 * `berth run` asks berthd (X-Berth-Start) to make a container's runtime while
 * the start request is on its way. The container must stay "created" to every
 * API until then, and a runtime no start takes, or that anything but a start
 * would invalidate, must go away without a trace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestEngine, eventually, isRoot, sleep } from '../helpers/engine';

const TTL_MS = 600;

describe('runtime made at create (berth run)', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine({ BERTH_PRESTART_TTL_MS: String(TTL_MS) });
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  /** POST /containers/create as `berth run` sends it. */
  function createAhead(body: Record<string, unknown>): Promise<string> {
    return new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = request(
        { socketPath: e.socket, method: 'POST', path: '/v1.45/containers/create', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), 'X-Berth-Start': 'now' } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => (res.statusCode === 201 ? resolve((JSON.parse(text) as { Id: string }).Id) : reject(new Error(`${res.statusCode} ${text}`))));
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }
  const runtimeState = (id: string) => join(e.run, 'runc', id);
  const mounted = (id: string) => readFileSync('/proc/mounts', 'utf8').includes(id);

  test('the runtime is made at create, the container stays created, and start runs it', async () => {
    const id = await createAhead({ Image: 'busybox', Cmd: ['sh', '-c', 'echo ran; exit 4'] });
    await eventually(() => existsSync(runtimeState(id)));
    const st = await e.berth(['inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}', id]);
    assert.equal(st.stdout.trim(), 'created 0 0001-01-01T00:00:00Z');
    const r = await e.berth(['start', '-a', id]);
    assert.equal(r.stdout, 'ran\n');
    assert.equal((await e.berth(['inspect', '-f', '{{.State.ExitCode}}', id])).stdout.trim(), '4');
    await e.berth(['rm', id]);
  });

  test('a runtime no start takes is taken down, and a later start still works', async () => {
    const id = await createAhead({ Image: 'busybox', Cmd: ['echo', 'late'] });
    await eventually(() => existsSync(runtimeState(id)));
    await eventually(() => !existsSync(runtimeState(id)) && !mounted(id), TTL_MS + 5000);
    await sleep(100);
    assert.equal(existsSync(join(e.run, 'exits', id)), false, 'no exit file may be left for the next start');
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim(), 'created');
    assert.equal((await e.berth(['start', '-a', id])).stdout, 'late\n');
    await e.berth(['rm', id]);
  });

  test('cp into a created container and removal take the waiting runtime down first', async () => {
    const id = await createAhead({ Image: 'busybox', Cmd: ['cat', '/copied'] });
    await eventually(() => existsSync(runtimeState(id)));
    const src = join(e.root, '..', 'copied');
    writeFileSync(src, 'copied in\n');
    await e.berth(['cp', src, `${id}:/copied`]);
    assert.equal((await e.berth(['start', '-a', id])).stdout, 'copied in\n');
    await e.berth(['rm', id]);
    const gone = await createAhead({ Image: 'busybox', Cmd: ['true'] });
    await eventually(() => existsSync(runtimeState(gone)));
    await e.berth(['rm', gone]);
    assert.equal(existsSync(runtimeState(gone)), false);
    assert.equal(mounted(gone), false);
  });

  test('a runtime that cannot be made is reported by the start, as without it (--rm too)', async () => {
    const r = await e.berth(['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /executable file not found/);
    const again = await e.berth(['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(again.code, 126);
    assert.equal((await e.berth(['ps', '-a', '-q'])).stdout, '');
  });

  test('a daemon that stops with a waiting runtime takes it down when it comes back', async () => {
    const id = await createAhead({ Image: 'busybox', Cmd: ['echo', 'after restart'], HostConfig: { AutoRemove: true } });
    await eventually(() => existsSync(runtimeState(id)));
    await e.stopDaemon('SIGKILL');
    assert.equal(existsSync(runtimeState(id)), true);
    await e.start();
    assert.equal(existsSync(runtimeState(id)), false);
    assert.equal(mounted(id), false);
    // --rm mounts are volatile: mounting the same upper dir again must still work.
    assert.equal((await e.berth(['start', '-a', id])).stdout, 'after restart\n');
  });
});
