/**
 * The real docker CLI, pointed at berthd's socket, pushes an image to Berth's
 * own registry (`berth registry serve` on loopback), removes it, and pulls it
 * back: same manifest digest, same image ID, RepoDigests recorded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH_BIN, DOCKER_BIN, TestEngine, isRoot } from '../helpers/engine';
import { freePort } from '../helpers/net';

const skip = !isRoot() ? 'needs root: berthd unpacks layers' : !existsSync(DOCKER_BIN) ? `no docker CLI at ${DOCKER_BIN}` : false;


describe('docker push/pull through Berth to Berth\'s registry', { skip }, () => {
  const e = new TestEngine();
  const dir = mkdtempSync('/tmp/bregdocker-');
  let registry: ChildProcess | undefined;
  let port = 0;

  before(async () => {
    port = await freePort();
    registry = spawn(process.execPath, [BERTH_BIN, 'registry', 'serve', '-q', '--addr', `127.0.0.1:${port}`, '--root', join(dir, 'data')], { env: e.env, stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await fetch(`http://127.0.0.1:${port}/v2/`).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await e.start();
    await e.busybox();
  });
  after(async () => {
    registry?.kill('SIGTERM');
    await e.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('push, rmi, pull back: same digest and image ID', async () => {
    const ref = `127.0.0.1:${port}/berth/busybox:v1`;
    assert.equal((await e.docker(['tag', 'busybox:latest', ref])).code, 0);
    const id = (await e.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
    const push = await e.docker(['push', ref], { timeoutMs: 120_000 });
    assert.equal(push.code, 0, push.stderr);
    const pushed = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(push.stdout);
    assert.ok(pushed, push.stdout);
    // What the registry holds is what docker was told.
    const head = await fetch(`http://127.0.0.1:${port}/v2/berth/busybox/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(head.headers.get('docker-content-digest'), pushed[1]);

    assert.equal((await e.docker(['rmi', ref])).code, 0);
    assert.equal((await e.docker(['image', 'inspect', ref])).code, 1);

    const pull = await e.docker(['pull', ref], { timeoutMs: 120_000 });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`Digest: ${pushed[1]}`));
    assert.match(pull.stdout, new RegExp(`Status: (Downloaded newer image|Image is up to date) for ${ref.replace(/\./g, '\\.')}`));
    const back = await e.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    assert.equal(back.stdout.trim(), id, back.stderr);
    const digests = JSON.parse((await e.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])).stdout) as string[];
    assert.ok(digests.includes(`127.0.0.1:${port}/berth/busybox@${pushed[1]}`), digests.join(','));
    const listed = await e.docker(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}']);
    assert.match(listed.stdout, new RegExp(`127\\.0\\.0\\.1:${port}/berth/busybox v1 ${pushed[1]}`));
  });

  test('run pulls an image it does not have (--pull missing), --pull never refuses, --pull always pulls again', async () => {
    const ref = `127.0.0.1:${port}/berth/runpull:v1`;
    await e.berth(['tag', 'busybox:latest', ref]);
    assert.equal((await e.berth(['push', '-q', ref], { timeoutMs: 120_000 })).code, 0);
    await e.berth(['rmi', ref]);
    const never = await e.berth(['run', '--rm', '--pull', 'never', ref, 'true']);
    assert.equal(never.code, 125);
    assert.match(never.stderr, /Unable to find image '127\.0\.0\.1:\d+\/berth\/runpull:v1' locally/);
    const r = await e.berth(['run', '--rm', ref, 'echo', 'pulled-and-ran'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled-and-ran\n', 'the pull wrote to stdout');
    assert.match(r.stderr, /Unable to find image .* locally/);
    const always = await e.berth(['run', '--rm', '--pull', 'always', ref, 'true'], { timeoutMs: 120_000 });
    assert.equal(always.code, 0, always.stderr);
    assert.match(always.stderr, /Pulling from berth\/runpull|up to date|Pulled/i);
    assert.doesNotMatch(always.stderr, /Unable to find image/);
    const missing = await e.berth(['run', '--rm', `127.0.0.1:${port}/berth/nothere:v1`, 'true'], { timeoutMs: 60_000 });
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /not found|unknown/i);
    const bad = await e.berth(['run', '--rm', '--pull', 'sometimes', ref, 'true']);
    assert.match(bad.stderr, /invalid pull option: 'sometimes'/);
  });
});
