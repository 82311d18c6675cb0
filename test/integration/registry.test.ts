/**
 * Registry client and server over loopback: Berth's client against Debian's
 * distribution registry (/usr/bin/docker-registry) and against Berth's own
 * server, skopeo against Berth's server, and hostile registries.
 */
import { EventBus } from '../../src/engine/events';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../../src/image/digest';
import { ImageStore } from '../../src/image/store';
import { writeTar } from '../../src/image/tar';
import { type ImageConfig, type ImageRecord, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, platformArch } from '../../src/image/types';
import { pullImage } from '../../src/registry/client/pull';
import { pushImage } from '../../src/registry/client/push';
import { createRegistryServer } from '../../src/registry/server/server';
import { saveImages } from '../../src/image/archive';
import { collectGarbage } from '../../src/registry/server/gc';
import { handlePull, handlePush } from '../../src/api/routes/registry';
import type { RequestContext } from '../../src/api/router';
import type { Engine } from '../../src/engine/engine';
import { freePort, run } from '../helpers/net';

const tmps: string[] = [];
function tmpdir(prefix = 'breg-'): string {
  const d = mkdtempSync(`/tmp/${prefix}`);
  tmps.push(d);
  return d;
}
after(() => {
  for (const d of tmps) rmSync(d, { recursive: true, force: true });
});


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
    this.proc = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
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
    const r = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, pushed.digest);
    assert.equal(info.Layers.length, 2);
    const cfg = await run('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`]);
    assert.equal(sha256(cfg.stdout), img.id);
  });

  test('unknown tag and unknown repository are clear errors', async () => {
    const b = await newStore();
    await assert.rejects(pullImage(b, `127.0.0.1:${reg.port}/berth/test:nope`), /manifest for 127\.0\.0\.1:\d+\/berth\/test:nope not found/);
    await assert.rejects(pullImage(b, `127.0.0.1:${reg.port}/no/such:v1`), /not found|unknown/);
  });
});


async function startBerthRegistry(): Promise<{ server: Server; port: number; root: string; url: string }> {
  const root = tmpdir('bsrv-');
  const server = await createRegistryServer({ root });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, port, root, url: `http://127.0.0.1:${port}` };
}

describe('Berth registry server', () => {
  let srv: Awaited<ReturnType<typeof startBerthRegistry>>;
  before(async () => {
    srv = await startBerthRegistry();
  });
  after(() => srv.server.close());

  test('Berth client push/pull round trip', { skip: root ? false : 'needs root to unpack layers' }, async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${srv.port}/round/trip:v1`;
    const img = await makeImage(a, ref);
    const pushed = await pushImage(a, ref, { chunkSize: 1 << 20 });
    const b = await newStore();
    const res = await pullImage(b, ref);
    assert.equal(res.image.id, img.id);
    assert.equal(res.digest, pushed.digest);
    const ev: string[] = [];
    await pushImage(a, ref, { progress: (e) => ev.push(e.status) });
    assert.equal(ev.filter((s) => s === 'Layer already exists').length, 2);
    await a.tag(ref, `127.0.0.1:${srv.port}/round/other:v1`);
    const ev2: string[] = [];
    await pushImage(a, `127.0.0.1:${srv.port}/round/other:v1`, { progress: (e) => ev2.push(e.status) });
    assert.equal(ev2.filter((s) => s === 'Mounted from round/trip').length, 2, ev2.join('\n'));
  });

  test('skopeo pushes a docker-archive and pulls it back with identical digests', { skip: !hasSkopeo }, async () => {
    const a = await newStore();
    const img = await makeImage(a, 'skopeo/src:v1', 5000);
    const dir = tmpdir('bsko-');
    const archive = join(dir, 'img.tar');
    const chunks: Buffer[] = [];
    for await (const c of saveImages(a, ['skopeo/src:v1'])) chunks.push(c);
    writeFileSync(archive, Buffer.concat(chunks));
    const dest = `docker://127.0.0.1:${srv.port}/sko/img:v1`;
    const digestFile = join(dir, 'digest');
    const push = await run('skopeo', ['copy', '--format', 'oci', '--dest-tls-verify=false', '--digestfile', digestFile, `docker-archive:${archive}`, dest]);
    assert.equal(push.status, 0, push.stderr);
    const pushedDigest = readFileSync(digestFile, 'utf8').trim();
    const inspect = await run('skopeo', ['inspect', '--tls-verify=false', dest]);
    assert.equal(inspect.status, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, pushedDigest);
    const oci = join(dir, 'oci');
    const pull = await run('skopeo', ['copy', '--src-tls-verify=false', dest, `oci:${oci}:v1`]);
    assert.equal(pull.status, 0, pull.stderr);
    // Pushed as OCI (--format oci), so the oci: layout needs no conversion: same manifest digest.
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.equal(index.manifests[0].digest, pushedDigest);
    const manifest = JSON.parse(readFileSync(join(oci, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    // dir: keeps the manifest byte for byte.
    const plain = join(dir, 'plain');
    const pullDir = await run('skopeo', ['copy', '--src-tls-verify=false', dest, `dir:${plain}`]);
    assert.equal(pullDir.status, 0, pullDir.stderr);
    assert.equal(sha256(readFileSync(join(plain, 'manifest.json'))), pushedDigest);
    // skopeo re-serialises the config when it converts to OCI (field order), so the
    // registry's config digest, not the local image ID, is what must survive the round trip.
    const registryManifest = JSON.parse(readFileSync(join(plain, 'manifest.json'), 'utf8')) as { config: { digest: string } };
    assert.equal(manifest.config.digest, registryManifest.config.digest);
    assert.deepEqual(manifest.layers.map((l) => l.digest), info.Layers);
    for (const l of info.Layers) assert.equal(sha256(readFileSync(join(oci, 'blobs', 'sha256', l.slice(7)))), l);
    // And Berth's client pulls what skopeo pushed.
    if (root) {
      const b = await newStore();
      const res = await pullImage(b, `127.0.0.1:${srv.port}/sko/img:v1`);
      assert.equal(res.image.id, registryManifest.config.digest);
      assert.deepEqual(res.image.config.rootfs.diff_ids, img.config.rootfs.diff_ids);
      assert.equal(res.digest, pushedDigest);
    }
  });

  const api = (path: string, init?: RequestInit) => fetch(`${srv.url}${path}`, init);
  const errCode = async (r: Response) => ((await r.json()) as { errors: Array<{ code: string }> }).errors[0].code;

  test('wrong digest on PUT → 400 DIGEST_INVALID, no blob', async () => {
    const start = await api('/v2/h/one/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const loc = start.headers.get('location')!;
    const wrong = sha256('something else');
    const put = await api(`${loc}?digest=${wrong}`, { method: 'PUT', body: 'hello' });
    assert.equal(put.status, 400);
    assert.equal(await errCode(put), 'DIGEST_INVALID');
    const head = await api(`/v2/h/one/blobs/${wrong}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal((await api(`/v2/h/one/blobs/${sha256('hello')}`, { method: 'HEAD' })).status, 404);
    // Monolithic POST ?digest= with the right digest works; GET with Range.
    const good = await api(`/v2/h/one/blobs/uploads/?digest=${sha256('hello')}`, { method: 'POST', body: 'hello' });
    assert.equal(good.status, 201);
    assert.equal(good.headers.get('docker-content-digest'), sha256('hello'));
    const ranged = await api(`/v2/h/one/blobs/${sha256('hello')}`, { headers: { Range: 'bytes=1-3' } });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), 'ell');
  });

  test('chunked upload: out-of-order chunk → 416; in order commits', async () => {
    const start = await api('/v2/h/two/blobs/uploads/', { method: 'POST' });
    let loc = start.headers.get('location')!;
    const p1 = await api(loc, { method: 'PATCH', body: 'abc', headers: { 'Content-Range': '0-2' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-2');
    loc = p1.headers.get('location')!;
    const bad = await api(loc, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '5-7' } });
    assert.equal(bad.status, 416);
    const p2 = await api(loc, { method: 'PATCH', body: 'def', headers: { 'Content-Range': '3-5' } });
    assert.equal(p2.status, 202);
    const fin = await api(`${loc}?digest=${sha256('abcdef')}`, { method: 'PUT' });
    assert.equal(fin.status, 201);
    assert.equal(await (await api(`/v2/h/two/blobs/${sha256('abcdef')}`)).text(), 'abcdef');
  });

  test('manifests: unknown blob → MANIFEST_BLOB_UNKNOWN; oversize rejected; tags, catalog, delete', async () => {
    const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    await api(`/v2/h/three/blobs/uploads/?digest=${sha256(cfg)}`, { method: 'POST', body: cfg });
    const missing = sha256('missing layer');
    const man = (layers: string[]) => JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, config: { mediaType: MEDIA_OCI_CONFIG, digest: sha256(cfg), size: cfg.length }, layers: layers.map((d) => ({ mediaType: MEDIA_OCI_LAYER_GZIP, digest: d, size: 1 })) });
    const r1 = await api('/v2/h/three/manifests/v1', { method: 'PUT', body: man([missing]), headers: { 'Content-Type': MEDIA_OCI_MANIFEST } });
    assert.equal(r1.status, 400);
    assert.equal(await errCode(r1), 'MANIFEST_BLOB_UNKNOWN');
    const big = Buffer.alloc((4 << 20) + 1, 0x20);
    const r2 = await api('/v2/h/three/manifests/v1', { method: 'PUT', body: big, headers: { 'Content-Type': MEDIA_OCI_MANIFEST } });
    assert.ok(r2.status === 413 || r2.status === 400, String(r2.status));
    const body = man([]);
    const wrongDigest = await api(`/v2/h/three/manifests/${sha256('x')}`, { method: 'PUT', body, headers: { 'Content-Type': MEDIA_OCI_MANIFEST } });
    assert.equal(await errCode(wrongDigest), 'DIGEST_INVALID');
    for (const t of ['a', 'b', 'c']) {
      const r = await api(`/v2/h/three/manifests/${t}`, { method: 'PUT', body, headers: { 'Content-Type': MEDIA_OCI_MANIFEST } });
      assert.equal(r.status, 201);
      assert.equal(r.headers.get('docker-content-digest'), sha256(body));
    }
    const got = await api('/v2/h/three/manifests/b', { headers: { Accept: MEDIA_OCI_MANIFEST } });
    assert.equal(got.headers.get('content-type'), MEDIA_OCI_MANIFEST);
    assert.equal(await got.text(), body);
    const p1 = await api('/v2/h/three/tags/list?n=2');
    assert.deepEqual(((await p1.json()) as { tags: string[] }).tags, ['a', 'b']);
    assert.equal(p1.headers.get('link'), '</v2/h/three/tags/list?n=2&last=b>; rel="next"');
    const p2 = await api('/v2/h/three/tags/list?n=2&last=b');
    assert.deepEqual(((await p2.json()) as { tags: string[] }).tags, ['c']);
    const cat = (await (await api('/v2/_catalog')).json()) as { repositories: string[] };
    assert.ok(cat.repositories.includes('h/three'), JSON.stringify(cat));
    const tooMany = await api('/v2/_catalog?n=100000');
    assert.equal(tooMany.status, 400);
    assert.equal(await errCode(tooMany), 'PAGINATION_NUMBER_INVALID');
    assert.equal((await api(`/v2/h/three/manifests/${sha256(body)}`, { method: 'DELETE' })).status, 202);
    assert.equal((await api('/v2/h/three/manifests/a')).status, 404);
    assert.equal(await errCode(await api('/v2/BAD/manifests/a')), 'NAME_INVALID');
    assert.equal((await api('/v2/../../etc/manifests/a')).status, 404);
  });
});


type Mode = 'honest' | 'wrong-digest' | 'truncated' | 'lying-size' | 'bad-diffid' | 'auth-loop' | 'redirect' | 'redirect-file' | 'basic' | 'manifest-digest';

/** A tiny registry that can misbehave in one way at a time. */
class FakeRegistry {
  server!: Server;
  other!: Server;
  port = 0;
  otherPort = 0;
  mode: Mode = 'honest';
  requests = 0;
  /** Authorization headers seen by the other host (redirect target). */
  otherAuth: Array<string | undefined> = [];
  layer = gzipSync(Buffer.alloc(0));
  layerDiff = sha256('');
  config = Buffer.alloc(0);
  manifest = Buffer.alloc(0);
  index = Buffer.alloc(0);

  async start(): Promise<void> {
    const tar = await tarOf({ 'data/x.txt': 'hostile test\n' });
    this.layer = gzipSync(tar);
    this.layerDiff = sha256(tar);
    this.other = createServer((req, res) => {
      this.otherAuth.push(req.headers.authorization);
      res.writeHead(200, { 'Content-Length': this.layer.length });
      res.end(this.layer);
    });
    await new Promise<void>((r) => this.other.listen(0, '127.0.0.2', r));
    this.otherPort = (this.other.address() as AddressInfo).port;
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  stop(): void {
    this.server.close();
    this.other.close();
  }

  build(): void {
    const diff = this.mode === 'bad-diffid' ? sha256('not the layer') : this.layerDiff;
    this.config = Buffer.from(JSON.stringify({ architecture: platformArch(), os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diff] } }));
    const size = this.mode === 'lying-size' ? this.layer.length - 10 : this.layer.length;
    this.manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(this.config), size: this.config.length }, layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(this.layer), size }] }));
    this.index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [
      { mediaType: MEDIA_OCI_MANIFEST, digest: sha256('attestation'), size: 10, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: sha256(this.manifest), size: this.manifest.length, platform: { os: 'linux', architecture: 'riscv-none' } },
      { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: sha256(this.manifest), size: this.manifest.length, platform: { os: 'linux', architecture: platformArch() } },
    ] }));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const url = req.url ?? '/';
    if (url.startsWith('/token')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: 'tok', expires_in: 300 }));
      return;
    }
    if (this.mode === 'auth-loop') {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${this.port}/token",service="fake",scope="repository:x/y:pull"`, 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if ((this.mode === 'basic' || this.mode === 'redirect') && req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="fake"' });
      res.end();
      return;
    }
    if (url === '/v2/') {
      res.writeHead(200);
      res.end('{}');
      return;
    }
    const m = /^\/v2\/x\/y\/(manifests|blobs)\/(.+)$/.exec(url);
    if (!m) {
      res.writeHead(404);
      res.end();
      return;
    }
    if (m[1] === 'manifests') {
      if (m[2] === 'idx' || m[2] === sha256(this.index)) {
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.index.v1+json' });
        res.end(this.index);
        return;
      }
      const body = this.mode === 'manifest-digest' && m[2].startsWith('sha256:') ? Buffer.concat([this.manifest, Buffer.from(' ')]) : this.manifest;
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json', 'Docker-Content-Digest': sha256(this.manifest) });
      res.end(body);
      return;
    }
    if (m[2] === sha256(this.config)) {
      res.writeHead(200, { 'Content-Length': this.config.length });
      res.end(this.config);
      return;
    }
    if (m[2] !== sha256(this.layer)) {
      res.writeHead(404);
      res.end();
      return;
    }
    if (this.mode === 'redirect' || this.mode === 'redirect-file') {
      res.writeHead(307, { Location: this.mode === 'redirect' ? `http://127.0.0.2:${this.otherPort}/blob` : 'file:///etc/passwd' });
      res.end();
      return;
    }
    if (this.mode === 'wrong-digest') {
      const flipped = Buffer.from(this.layer);
      flipped[flipped.length - 20] ^= 0xff;
      res.writeHead(200, { 'Content-Length': flipped.length });
      res.end(flipped);
      return;
    }
    if (this.mode === 'truncated') {
      res.writeHead(200, { 'Content-Length': this.layer.length });
      res.write(this.layer.subarray(0, 40));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.writeHead(200, { 'Content-Length': this.layer.length });
    res.end(this.layer);
  }
}

describe('Berth registry server: htpasswd and TLS', () => {
  test('htpasswd: 401 with a Basic challenge without credentials; push and pull with them', { skip: root ? false : 'needs root to unpack layers' }, async () => {
    const { hashSync } = await import('bcryptjs');
    const dir = tmpdir('bauth-');
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `# users\nalice:${hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$')}\n`);
    const server = await createRegistryServer({ root: join(dir, 'root'), htpasswd });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const anon = await fetch(`http://127.0.0.1:${port}/v2/`);
      assert.equal(anon.status, 401);
      assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      const wrong = await fetch(`http://127.0.0.1:${port}/v2/`, { headers: { Authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } });
      assert.equal(wrong.status, 401);
      const a = await newStore();
      await makeImage(a, `127.0.0.1:${port}/auth/img:v1`, 4096);
      await assert.rejects(pushImage(a, `127.0.0.1:${port}/auth/img:v1`), /no basic auth credentials|unauthorized|401/i);
      const creds = { username: 'alice', password: 's3cret' };
      const pushed = await pushImage(a, `127.0.0.1:${port}/auth/img:v1`, { credentials: creds });
      const b = await newStore();
      const res = await pullImage(b, `127.0.0.1:${port}/auth/img:v1`, { credentials: creds });
      assert.equal(res.digest, pushed.digest);
    } finally {
      server.close();
    }
  });

  test('TLS: serves HTTPS from a certificate and key', async () => {
    const dir = tmpdir('btls-');
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const gen = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1']);
    assert.equal(gen.status, 0, gen.stderr);
    const server = await createRegistryServer({ root: join(dir, 'root'), tls: { cert, key } });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await run('curl', ['-sS', '--cacert', cert, `https://127.0.0.1:${port}/v2/`]);
      assert.equal(r.stdout.trim(), '{}', r.stderr);
      const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/v2/`]);
      assert.notEqual(plain.stdout.trim(), '200', 'plain HTTP must not be served on a TLS port');
    } finally {
      server.close();
    }
  });
});

describe('hostile registries', { skip: root ? false : 'needs root to unpack layers' }, () => {
  const fake = new FakeRegistry();
  before(() => fake.start());
  after(() => fake.stop());

  const expectNothingLeft = (store: ImageStore) => {
    assert.equal(store.list().length, 0, 'no image registered');
    assert.equal(blobCount(store), 0, 'no blobs left behind');
    assert.deepEqual(readdirSync(store.content.ingestDir), [], 'ingest cleaned up');
  };

  const cases: Array<[Mode, RegExp]> = [
    ['wrong-digest', /digest mismatch|gzip/],
    ['truncated', /truncated|download failed/],
    ['lying-size', /more than the \d+ bytes the manifest declares/],
    ['bad-diffid', /does not match diff ID/],
    ['auth-loop', /unauthorized: authentication required/],
    ['redirect-file', /refusing redirect to file: URL/],
    ['manifest-digest', /hashes to sha256:[a-f0-9]+, not the requested/],
  ];
  for (const [mode, re] of cases) {
    test(`${mode}: clear error, nothing left in the store`, async () => {
      fake.mode = mode;
      fake.build();
      fake.requests = 0;
      const store = await newStore();
      const ref = mode === 'manifest-digest' ? `127.0.0.1:${fake.port}/x/y@${sha256(fake.manifest)}` : `127.0.0.1:${fake.port}/x/y:v1`;
      await assert.rejects(pullImage(store, ref), re);
      expectNothingLeft(store);
      if (mode === 'auth-loop') assert.ok(fake.requests <= 6, `bounded: ${fake.requests} requests`);
    });
  }

  test('honest registry via an index: attestation skipped, platform chosen', async () => {
    fake.mode = 'honest';
    fake.build();
    const store = await newStore();
    const res = await pullImage(store, `127.0.0.1:${fake.port}/x/y:idx`);
    assert.equal(res.image.id, sha256(fake.config));
    assert.equal(res.digest, sha256(fake.index));
    assert.deepEqual(res.image.config.rootfs.diff_ids, [fake.layerDiff]);
  });

  test('redirect to another host: followed without the Authorization header', async () => {
    fake.mode = 'redirect';
    fake.build();
    fake.otherAuth = [];
    const store = await newStore();
    const res = await pullImage(store, `127.0.0.1:${fake.port}/x/y:v1`, { credentials: { username: 'u', password: 'p' } });
    assert.equal(res.image.id, sha256(fake.config));
    assert.deepEqual(fake.otherAuth, [undefined]);
  });

  test('basic auth: without credentials a clear error; with them it works', async () => {
    fake.mode = 'basic';
    fake.build();
    const store = await newStore();
    await assert.rejects(pullImage(store, `127.0.0.1:${fake.port}/x/y:v1`), /no basic auth credentials/);
    await assert.rejects(pullImage(store, `127.0.0.1:${fake.port}/x/y:v1`, { credentials: { username: 'u', password: 'bad' } }), /unauthorized/);
    const res = await pullImage(store, `127.0.0.1:${fake.port}/x/y:v1`, { credentials: { username: 'u', password: 'p' } });
    assert.equal(res.image.id, sha256(fake.config));
  });
});


describe('Engine API handlers and registry gc', { skip: root ? false : 'needs root to unpack layers' }, () => {
  let srv: Awaited<ReturnType<typeof startBerthRegistry>>;
  before(async () => {
    srv = await startBerthRegistry();
  });
  after(() => srv.server.close());

  /** Just enough of RequestContext for the registry handlers; the stream is captured. */
  function fakeCtx(query: Record<string, string>, params: Record<string, string>, headers: Record<string, string>) {
    const written: string[] = [];
    const res = { write: (s: string) => written.push(s), end: () => undefined };
    const ctx = {
      req: { headers } as unknown as IncomingMessage,
      params,
      query: new URLSearchParams(query),
      apiVersion: '1.45',
      json: async () => undefined,
      send: () => undefined,
      hijack: () => {
        throw new Error('no hijack');
      },
      stream: () => res as unknown as ServerResponse,
    };
    return { ctx: ctx as unknown as RequestContext, lines: () => written.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  test('push and pull handlers stream Docker JSON messages', async () => {
    const a = await newStore();
    const name = `127.0.0.1:${srv.port}/api/img`;
    const img = await makeImage(a, `${name}:v2`, 2000);
    const auth = Buffer.from(JSON.stringify({ username: '', password: '', serveraddress: `127.0.0.1:${srv.port}` })).toString('base64url');
    const p = fakeCtx({ tag: 'v2' }, { name }, { 'x-registry-auth': auth });
    await handlePush(p.ctx, { images: a, events: new EventBus() } as unknown as Engine);
    const pl = p.lines();
    assert.equal(pl[0].status, `The push refers to repository [${name}]`);
    assert.ok(pl.some((m) => m.status === 'Pushed' && typeof m.id === 'string'));
    const aux = pl.find((m) => m.aux) as { aux: { Tag: string; Digest: string } };
    assert.equal(aux.aux.Tag, 'v2');
    const b = await newStore();
    const q = fakeCtx({ fromImage: name, tag: 'v2' }, {}, {});
    await handlePull(q.ctx, { images: b, events: new EventBus() } as unknown as Engine);
    const ql = q.lines();
    assert.equal(ql[0].status, 'Pulling from api/img');
    assert.equal(ql[0].id, 'v2');
    assert.ok(ql.some((m) => m.status === 'Pull complete'));
    assert.ok(ql.some((m) => m.status === `Digest: ${aux.aux.Digest}`));
    assert.equal(ql[ql.length - 1].status, `Status: Downloaded newer image for ${name}:v2`);
    assert.equal(b.find(`${name}:v2`)?.id, img.id);
  });

  test('gc deletes only unreferenced blobs', async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${srv.port}/gc/img:v1`;
    await makeImage(a, ref, 1000);
    await pushImage(a, ref);
    const orphan = Buffer.from('orphan blob');
    const r = await fetch(`${srv.url}/v2/gc/img/blobs/uploads/?digest=${sha256(orphan)}`, { method: 'POST', body: orphan });
    assert.equal(r.status, 201);
    const res = await collectGarbage(srv.root, { graceMs: 0 });
    assert.deepEqual(res.deleted, [sha256(orphan)]);
    const b = await newStore();
    await pullImage(b, ref);
  });
});

void Readable;
