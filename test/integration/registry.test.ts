/**
 * Registry client and server over loopback: Berth's client against Debian's
 * distribution registry (/usr/bin/docker-registry) and against Berth's own
 * server, skopeo against Berth's server, and hostile registries.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { type Digest, sha256 } from '../../src/image/digest';
import { ImageStore } from '../../src/image/store';
import { writeTar } from '../../src/image/tar';
import { type ImageConfig, type ImageRecord, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, platformArch } from '../../src/image/types';
import { pullImage } from '../../src/registry/client/pull';
import { pushImage } from '../../src/registry/client/push';

const tmps: string[] = [];
function tmpdir(prefix = 'breg-'): string {
  const d = mkdtempSync(`/tmp/${prefix}`);
  tmps.push(d);
  return d;
}
after(() => {
  for (const d of tmps) rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitFor(url: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      return;
    } catch {
      if (Date.now() > end) throw new Error(`${url} did not come up`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function tarOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const items = [{ entry: { name: 'data/', type: 'directory' as const } }, ...Object.entries(files).map(([name, body]) => ({ entry: { name, type: 'file' as const, size: Buffer.byteLength(body) }, body: Buffer.from(body) }))];
  const chunks: Buffer[] = [];
  for await (const c of writeTar(items)) chunks.push(c);
  return Buffer.concat(chunks);
}

export async function newStore(): Promise<ImageStore> {
  const s = new ImageStore(tmpdir('bstore-'));
  await s.init();
  return s;
}

/** A two-layer image; the second layer is `bigBytes` of random data (exercises chunked upload). */
export async function makeImage(store: ImageStore, ref: string, bigBytes = 3 << 20): Promise<ImageRecord> {
  const l1 = await store.content.put(await tarOf({ 'data/hello.txt': `hello ${randomBytes(4).toString('hex')}\n` }));
  const l2 = await store.content.put(await tarOf({ 'data/big.bin': randomBytes(bigBytes) }));
  const config: ImageConfig = {
    architecture: platformArch(),
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: ['A=1'] },
    rootfs: { type: 'layers', diff_ids: [l1.digest, l2.digest] },
    history: [{ created_by: 'one' }, { created_by: 'two' }],
  };
  return store.create(config, [l1, l2].map((l) => ({ mediaType: MEDIA_OCI_LAYER, digest: l.digest, size: l.size })), ref);
}

function blobCount(store: ImageStore): number {
  return readdirSync(store.content.blobDir).length;
}

class Distribution {
  proc?: ChildProcess;
  port = 0;
  readonly root = tmpdir('bdist-');
  async start(): Promise<void> {
    this.port = await freePort();
    const cfg = join(this.root, 'config.yml');
    writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(this.root, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${this.port}\n`);
    this.proc = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(`http://127.0.0.1:${this.port}/v2/`);
  }
  stop(): void {
    this.proc?.kill('SIGTERM');
  }
}

const hasDistribution = existsSync('/usr/bin/docker-registry');
const hasSkopeo = existsSync('/usr/bin/skopeo');
const root = process.getuid?.() === 0;

describe('client against distribution (/usr/bin/docker-registry)', { skip: !hasDistribution ? 'docker-registry not installed' : !root ? 'needs root to unpack layers' : false }, () => {
  const reg = new Distribution();
  before(() => reg.start());
  after(() => reg.stop());

  test('push then pull into a second store: same image ID, config digest and layers', async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${reg.port}/berth/test:v1`;
    const img = await makeImage(a, ref);
    const events: string[] = [];
    const pushed = await pushImage(a, ref, { chunkSize: 1 << 20, progress: (e) => events.push(e.status) });
    assert.match(pushed.digest, /^sha256:[a-f0-9]{64}$/);
    assert.ok(events.includes('Pushed'), events.join('\n'));
    // Second push: every layer is already there.
    const again: string[] = [];
    const pushed2 = await pushImage(a, ref, { progress: (e) => again.push(e.status) });
    assert.equal(pushed2.digest, pushed.digest, 'deterministic compression gives the same manifest');
    assert.equal(again.filter((s) => s === 'Layer already exists').length, 2, again.join('\n'));

    const b = await newStore();
    const res = await pullImage(b, ref);
    assert.equal(res.image.id, img.id);
    assert.equal(res.image.manifest.config.digest, img.manifest.config.digest);
    assert.deepEqual(res.image.config.rootfs.diff_ids, img.config.rootfs.diff_ids);
    assert.deepEqual(res.image.manifest.layers.map((l) => l.digest), img.manifest.layers.map((l) => l.digest));
    assert.equal(res.digest, pushed.digest);
    assert.equal(res.repoDigest, `127.0.0.1:${reg.port}/berth/test@${pushed.digest}`);
    assert.ok(b.find(ref));
    // Pull again: nothing re-fetched.
    const ev: string[] = [];
    const res2 = await pullImage(b, ref, { progress: (e) => ev.push(e.status) });
    assert.equal(res2.upToDate, true);
    assert.equal(ev.filter((s) => s === 'Already exists').length, 2);
    // By digest too.
    const c = await newStore();
    const byDigest = await pullImage(c, `127.0.0.1:${reg.port}/berth/test@${pushed.digest}`);
    assert.equal(byDigest.image.id, img.id);
  });

  test('cross-repository mount on a second repository', async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${reg.port}/berth/mount-src:v1`;
    await makeImage(a, ref, 1000);
    await pushImage(a, ref);
    const ref2 = `127.0.0.1:${reg.port}/berth/mount-dst:v1`;
    await a.tag(ref, ref2);
    const ev: string[] = [];
    await pushImage(a, ref2, { progress: (e) => ev.push(e.status) });
    assert.equal(ev.filter((s) => s === 'Mounted from berth/mount-src').length, 2, ev.join('\n'));
  });

  test('skopeo inspects what Berth pushed', { skip: !hasSkopeo }, async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${reg.port}/berth/skopeo:v1`;
    const img = await makeImage(a, ref, 1000);
    const pushed = await pushImage(a, ref);
    const r = spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, pushed.digest);
    assert.equal(info.Layers.length, 2);
    const cfg = spawnSync('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' });
    assert.equal(sha256(cfg.stdout), img.id);
  });

  test('unknown tag and unknown repository are clear errors', async () => {
    const b = await newStore();
    await assert.rejects(pullImage(b, `127.0.0.1:${reg.port}/berth/test:nope`), /manifest for 127\.0\.0\.1:\d+\/berth\/test:nope not found/);
    await assert.rejects(pullImage(b, `127.0.0.1:${reg.port}/no/such:v1`), /not found|unknown/);
  });
});

void [Readable, gzipSync, createServer, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, blobCount];
export type { Digest, IncomingMessage, Server, ServerResponse };
