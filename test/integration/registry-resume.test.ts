/**
 * Resumable pull: a dropped connection resumes with a Range request (or a
 * clean restart when the registry ignores Range); a pull that fails, or whose
 * daemon is killed, leaves finished layers committed and no half blob, and
 * the next pull does not fetch those layers again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Digest, sha256 } from '../../src/image/digest';
import { ImageStore } from '../../src/image/store';
import { writeTar } from '../../src/image/tar';
import { MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, platformArch } from '../../src/image/types';
import { pullImage } from '../../src/registry/client/pull';
import { TestEngine, eventually, isRoot } from '../helpers/engine';

const root = isRoot();
const tmps: string[] = [];
after(() => {
  for (const d of tmps) rmSync(d, { recursive: true, force: true });
});

async function layer(name: string, bytes: number): Promise<{ gz: Buffer; diffId: Digest; digest: Digest }> {
  const chunks: Buffer[] = [];
  const body = randomBytes(bytes);
  for await (const c of writeTar([{ entry: { name, type: 'file', size: body.length }, body }])) chunks.push(c);
  const tar = Buffer.concat(chunks);
  const gz = gzipSync(tar, { level: 1 });
  return { gz, diffId: sha256(tar), digest: sha256(gz) };
}

type BlobMode = 'ok' | 'drop-once' | 'drop-always' | 'stall';

/** A registry with one two-layer image whose second layer can misbehave. */
class FlakyRegistry {
  server?: Server;
  port = 0;
  layers: Array<{ gz: Buffer; diffId: Digest; digest: Digest }> = [];
  config = Buffer.alloc(0);
  manifest = Buffer.alloc(0);
  mode: BlobMode = 'ok';
  rangeSupport = true;
  /** GETs per blob digest, and the Range header of each. */
  gets = new Map<string, Array<string | undefined>>();
  private dropped = false;
  private stalled: ServerResponse[] = [];

  async start(): Promise<void> {
    this.layers = [await layer('a.bin', 2 << 20), await layer('b.bin', 4 << 20)];
    this.config = Buffer.from(JSON.stringify({ architecture: platformArch(), os: 'linux', rootfs: { type: 'layers', diff_ids: this.layers.map((l) => l.diffId) }, config: {} }));
    this.manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_OCI_MANIFEST,
        config: { mediaType: MEDIA_OCI_CONFIG, digest: sha256(this.config), size: this.config.length },
        layers: this.layers.map((l) => ({ mediaType: MEDIA_OCI_LAYER_GZIP, digest: l.digest, size: l.gz.length })),
      }),
    );
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  reset(mode: BlobMode, rangeSupport = true): void {
    this.mode = mode;
    this.rangeSupport = rangeSupport;
    this.dropped = false;
    this.gets.clear();
  }

  stop(): void {
    for (const r of this.stalled) r.destroy();
    this.server?.closeAllConnections();
    this.server?.close();
  }

  getsOf(i: number): Array<string | undefined> {
    return this.gets.get(this.layers[i].digest) ?? [];
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.end('{}');
    if (url.endsWith('/manifests/v1')) {
      res.writeHead(200, { 'Content-Type': MEDIA_OCI_MANIFEST, 'Content-Length': this.manifest.length, 'Docker-Content-Digest': sha256(this.manifest) });
      return void res.end(this.manifest);
    }
    const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (!m) {
      res.writeHead(404);
      return void res.end();
    }
    if (m[1] === sha256(this.config)) return void res.end(this.config);
    const idx = this.layers.findIndex((l) => l.digest === m[1]);
    if (idx < 0) {
      res.writeHead(404);
      return void res.end();
    }
    const list = this.gets.get(m[1]) ?? [];
    list.push(req.headers.range);
    this.gets.set(m[1], list);
    const data = this.layers[idx].gz;
    const range = this.rangeSupport ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
    const start = range ? Number(range[1]) : 0;
    const body = data.subarray(start);
    const head = range ? { 'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}`, 'Content-Length': body.length } : { 'Content-Length': body.length };
    res.writeHead(range ? 206 : 200, head);
    const misbehave = idx === 1 && (this.mode === 'drop-always' || this.mode === 'stall' || (this.mode === 'drop-once' && !this.dropped));
    if (!misbehave) return void res.end(body);
    this.dropped = true;
    // Half of what was asked, then the connection goes away (or hangs).
    res.write(body.subarray(0, body.length >> 1), () => {
      if (this.mode === 'stall') this.stalled.push(res);
      else setTimeout(() => res.socket?.destroy(), 20);
    });
  }
}

function expectClean(store: ImageStore): void {
  assert.deepEqual(readdirSync(store.content.ingestDir), [], 'no partial blob in ingest/');
  assert.deepEqual(readdirSync(store.snapshots.root).filter((n) => n.startsWith('tmp-')), [], 'no half-extracted snapshot');
}

describe('resumable pull', { skip: root ? false : 'needs root to unpack layers' }, () => {
  const reg = new FlakyRegistry();
  before(() => reg.start());
  after(() => reg.stop());

  async function store(): Promise<ImageStore> {
    const d = mkdtempSync('/tmp/bresume-');
    tmps.push(d);
    const s = new ImageStore(d);
    await s.init();
    return s;
  }

  test('a dropped connection resumes with a Range request', async () => {
    reg.reset('drop-once');
    const s = await store();
    const res = await pullImage(s, `127.0.0.1:${reg.port}/x/y:v1`);
    assert.equal(res.image.id, sha256(reg.config));
    assert.equal(reg.getsOf(0).length, 1);
    const b = reg.getsOf(1);
    assert.equal(b.length, 2, `layer b fetched twice: ${JSON.stringify(b)}`);
    assert.equal(b[0], undefined);
    assert.match(b[1] ?? '', /^bytes=[1-9]\d*-$/, 'the second GET resumes where the first stopped');
    expectClean(s);
  });

  test('a registry without Range support: the resend is skipped up to where it stopped', async () => {
    reg.reset('drop-once', false);
    const s = await store();
    const res = await pullImage(s, `127.0.0.1:${reg.port}/x/y:v1`);
    assert.equal(res.image.id, sha256(reg.config));
    assert.equal(reg.getsOf(1).length, 2);
    expectClean(s);
  });

  test('a failed pull keeps the finished layer; pulling again does not fetch it twice', async () => {
    reg.reset('drop-always');
    const s = await store();
    await assert.rejects(pullImage(s, `127.0.0.1:${reg.port}/x/y:v1`), /layer sha256:[a-f0-9]+: download failed/);
    assert.equal(s.list().length, 0, 'no image registered');
    expectClean(s);
    assert.ok(await s.content.has(reg.layers[0].diffId), 'the finished layer stays committed');
    assert.ok(!(await s.content.has(reg.layers[1].diffId)), 'the broken layer is not visible');
    reg.reset('ok');
    const events: string[] = [];
    const res = await pullImage(s, `127.0.0.1:${reg.port}/x/y:v1`, { progress: (e) => events.push(`${e.id ?? ''} ${e.status}`) });
    assert.equal(res.image.id, sha256(reg.config));
    assert.equal(reg.getsOf(0).length, 0, 'layer a not fetched again');
    assert.equal(reg.getsOf(1).length, 1);
    assert.ok(events.some((e) => e.endsWith('Already exists')), events.join('\n'));
  });

  test('berthd killed mid-pull: after a restart the pull resumes without the finished layer', async () => {
    const e = new TestEngine();
    try {
      await e.start();
      reg.reset('stall');
      const ref = `127.0.0.1:${reg.port}/x/y:v1`;
      const pulling = e.berth(['pull', ref], { timeoutMs: 60_000 });
      const blobs = join(e.root, 'image', 'blobs', 'sha256');
      const hexA = reg.layers[0].diffId.slice(7);
      await eventually(() => existsSync(join(blobs, hexA)) && reg.getsOf(1).length > 0, 20_000);
      await e.stopDaemon('SIGKILL');
      await pulling;
      await e.start();
      // Restarted: no half blob, no half snapshot; the finished layer is still committed.
      assert.deepEqual(readdirSync(join(e.root, 'image', 'ingest')), []);
      assert.deepEqual(readdirSync(join(e.root, 'snapshots')).filter((n) => n.startsWith('tmp-')), []);
      assert.ok(existsSync(join(blobs, hexA)));
      assert.ok(!existsSync(join(blobs, reg.layers[1].diffId.slice(7))));
      reg.reset('ok');
      const r = await e.berth(['pull', ref], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Already exists/);
      // The summary counts only what moved this time: the one layer still missing.
      assert.match(r.stderr, /^Pulled 1 layer, [\d.]+MB in [\d.]+s \([\d.]+(MB|kB)\/s\)$/m);
      assert.equal(reg.getsOf(0).length, 0, 'layer a not fetched again');
      const id = await e.berth(['image', 'inspect', '--format', '{{.Id}}', ref]);
      assert.equal(id.stdout.trim(), sha256(reg.config));
    } finally {
      await e.cleanup();
    }
  });
});
