/**
 * Berth's registry server on the S3 storage driver, over the wire against
 * s3rver (an S3-compatible server) on loopback: push/pull round trips with
 * Berth's client, chunked uploads, digest verification before a blob key
 * exists, garbage collection, tag listing, and resuming an upload after a
 * server restart. The bucket is inspected with the AWS SDK directly, so a
 * test sees exactly what an S3 client would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type Digest, sha256 } from '../../src/image/digest';
import { ImageStore } from '../../src/image/store';
import { writeTar } from '../../src/image/tar';
import { type ImageConfig, type ImageRecord, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST, platformArch } from '../../src/image/types';
import { pullImage } from '../../src/registry/client/pull';
import { pushImage } from '../../src/registry/client/push';
import { collectGarbage } from '../../src/registry/server/gc';
import { createRegistryServer } from '../../src/registry/server/server';
import { S3Storage, type S3StorageConfig } from '../../src/registry/server/storage-s3';
import { tempDirs } from '../helpers/net';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (opts: Record<string, unknown>) => S3rverInstance;
// s3rver ships no types; it is a devDependency used only here.
const S3rver = require('s3rver') as S3rverClass;

const tmpdir = tempDirs();

const BUCKET = 'registry';
const PREFIX = 'team/reg';
const root = process.getuid?.() === 0;

async function tarOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const items = [{ entry: { name: 'data/', type: 'directory' as const } }, ...Object.entries(files).map(([name, body]) => ({ entry: { name, type: 'file' as const, size: Buffer.byteLength(body) }, body: Buffer.from(body) }))];
  const chunks: Buffer[] = [];
  for await (const c of writeTar(items)) chunks.push(c);
  return Buffer.concat(chunks);
}

async function newStore(): Promise<ImageStore> {
  const s = new ImageStore(tmpdir('bs3store-'));
  await s.init();
  return s;
}

async function makeImage(store: ImageStore, ref: string, bigBytes: number): Promise<ImageRecord> {
  const l1 = await store.content.put(await tarOf({ 'data/hello.txt': `hello ${randomBytes(4).toString('hex')}\n` }));
  const l2 = await store.content.put(await tarOf({ 'data/big.bin': randomBytes(bigBytes) }));
  const config: ImageConfig = {
    architecture: platformArch(),
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: [l1.digest, l2.digest] },
    history: [{ created_by: 'one' }, { created_by: 'two' }],
  };
  return store.create(config, [l1, l2].map((l) => ({ mediaType: MEDIA_OCI_LAYER, digest: l.digest, size: l.size })), ref);
}

describe('Berth registry server on S3 (s3rver on loopback)', () => {
  let s3: S3rverInstance;
  let endpoint = '';
  let sdk: S3Client;
  let server: Server;
  let storage: S3Storage;
  let port = 0;
  let url = '';
  const creds = { accessKey: 'S3RVER', secretKey: 'S3RVER' };
  const driverConfig = (): S3StorageConfig => ({ bucket: BUCKET, endpoint, region: 'us-east-1', forcePathStyle: true, prefix: PREFIX, partSize: 5 << 20, ...creds });

  async function startServer(): Promise<void> {
    storage = new S3Storage(driverConfig());
    server = await createRegistryServer({ storage });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
  }

  async function stopServer(): Promise<void> {
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  }

  /** Every key in the bucket under the registry's root. */
  async function keys(under = ''): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const base = `${PREFIX}/docker/registry/v2/`;
    do {
      const r = await sdk.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: base + under, ContinuationToken: token }));
      for (const o of r.Contents ?? []) out.push(o.Key!.slice(base.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort();
  }

  const blobKey = (d: Digest) => `blobs/sha256/${d.slice(7, 9)}/${d.slice(7)}/data`;

  before(async () => {
    s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: tmpdir('bs3rver-'), configureBuckets: [{ name: BUCKET }] });
    const a = await s3.run();
    endpoint = `http://127.0.0.1:${a.port}`;
    sdk = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    await startServer();
  });
  after(async () => {
    await stopServer();
    sdk.destroy();
    await s3.close();
  });

  const api = (path: string, init?: RequestInit) => fetch(`${url}${path}`, init);
  const errCode = async (r: Response) => ((await r.json()) as { errors: Array<{ code: string }> }).errors[0].code;

  test('a missing bucket is a clear error at startup', async () => {
    const bad = new S3Storage({ ...driverConfig(), bucket: 'no-such-bucket' });
    await assert.rejects(bad.init(), /s3 bucket "no-such-bucket" at http:\/\/127\.0\.0\.1:\d+ is not usable: it does not exist/);
    await bad.close();
  });

  test('Berth client push/pull round trip: chunked (multipart-assembled) and streamed layers, cross-mount', { skip: root ? false : 'needs root to unpack layers' }, async () => {
    const a = await newStore();
    const ref = `127.0.0.1:${port}/s3/trip:v1`;
    // 12 MiB in 1 MiB PATCHes: twelve chunk objects assembled into a 3-part multipart blob.
    const img = await makeImage(a, ref, 12 << 20);
    const pushed = await pushImage(a, ref, { chunkSize: 1 << 20 });
    const manifest = (await (await api(`/v2/s3/trip/manifests/${pushed.digest}`)).json()) as { layers: Array<{ digest: Digest; size: number }> };
    assert.equal(manifest.layers.length, 2);
    assert.ok(manifest.layers[1].size > 12 << 20, 'the big layer went as a multipart-assembled blob');
    for (const l of manifest.layers) assert.deepEqual(await keys(blobKey(l.digest)), [blobKey(l.digest)], `blob ${l.digest} is in the bucket`);
    assert.deepEqual(await keys('repositories/s3/trip/_uploads/'), [], 'no staged upload left');
    const b = await newStore();
    const res = await pullImage(b, ref);
    assert.equal(res.image.id, img.id);
    assert.equal(res.digest, pushed.digest);
    // A second image pushed without chunking: one streamed PATCH per layer, copied server-side.
    const c = await newStore();
    const ref2 = `127.0.0.1:${port}/s3/streamed:v1`;
    const img2 = await makeImage(c, ref2, 2 << 20);
    const pushed2 = await pushImage(c, ref2);
    const d = await newStore();
    const res2 = await pullImage(d, ref2);
    assert.equal(res2.image.id, img2.id);
    assert.equal(res2.digest, pushed2.digest);
    // Cross-repository mount: no bytes move, the layer links appear.
    await a.tag(ref, `127.0.0.1:${port}/s3/other:v1`);
    const ev: string[] = [];
    await pushImage(a, `127.0.0.1:${port}/s3/other:v1`, { progress: (e) => ev.push(e.status) });
    assert.equal(ev.filter((s) => s === 'Mounted from s3/trip').length, 2, ev.join('\n'));
    assert.equal((await keys('repositories/s3/other/_layers/')).length, 3, 'two layers and the config linked');
  });

  test('chunked upload: out-of-order chunk → 416; in order commits; Range GET', async () => {
    const start = await api('/v2/c/one/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    let loc = start.headers.get('location')!;
    const p1 = await api(loc, { method: 'PATCH', body: 'abc', headers: { 'Content-Range': '0-2' } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-2');
    loc = p1.headers.get('location')!;
    const bad = await api(loc, { method: 'PATCH', body: 'xyz', headers: { 'Content-Range': '5-7' } });
    assert.equal(bad.status, 416);
    const short = await api(loc, { method: 'PATCH', body: 'de', headers: { 'Content-Range': '3-5' } });
    assert.equal(short.status, 400, 'a body shorter than its Content-Range is refused');
    const p2 = await api(loc, { method: 'PATCH', body: 'def', headers: { 'Content-Range': '3-5' } });
    assert.equal(p2.status, 202);
    assert.equal(p2.headers.get('range'), '0-5');
    const status = await api(loc);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-5');
    const fin = await api(`${loc}?digest=${sha256('abcdefgh')}`, { method: 'PUT', body: 'gh' });
    assert.equal(fin.status, 201);
    assert.deepEqual(await keys(blobKey(sha256('abcdefgh'))), [blobKey(sha256('abcdefgh'))]);
    assert.deepEqual(await keys('repositories/c/one/_uploads/'), []);
    assert.equal(await (await api(`/v2/c/one/blobs/${sha256('abcdefgh')}`)).text(), 'abcdefgh');
    const ranged = await api(`/v2/c/one/blobs/${sha256('abcdefgh')}`, { headers: { Range: 'bytes=2-4' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), 'bytes 2-4/8');
    assert.equal(await ranged.text(), 'cde');
    // Another repository cannot read it without a link.
    assert.equal((await api(`/v2/c/two/blobs/${sha256('abcdefgh')}`, { method: 'HEAD' })).status, 404);
  });

  test('a wrong digest leaves no blob key: monolithic POST, PUT with body, and chunks', async () => {
    const before = await keys('blobs/');
    const wrong = sha256('something else');
    const mono = await api(`/v2/w/one/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: 'hello' });
    assert.equal(mono.status, 400);
    assert.equal(await errCode(mono), 'DIGEST_INVALID');
    const start = await api('/v2/w/one/blobs/uploads/', { method: 'POST' });
    const put = await api(`${start.headers.get('location')}?digest=${wrong}`, { method: 'PUT', body: 'hello' });
    assert.equal(await errCode(put), 'DIGEST_INVALID');
    const s2 = await api('/v2/w/one/blobs/uploads/', { method: 'POST' });
    const loc = (await api(s2.headers.get('location')!, { method: 'PATCH', body: 'hel' })).headers.get('location')!;
    const loc2 = (await api(loc, { method: 'PATCH', body: 'lo' })).headers.get('location')!;
    const fin = await api(`${loc2}?digest=${wrong}`, { method: 'PUT' });
    assert.equal(await errCode(fin), 'DIGEST_INVALID');
    // A large body (several parts) with a wrong digest: the multipart upload is never completed.
    const big = randomBytes((11 << 20) + 17);
    const bigPut = await api(`/v2/w/one/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: big });
    assert.equal(await errCode(bigPut), 'DIGEST_INVALID');
    assert.deepEqual(await keys('blobs/'), before, 'no blob key appeared');
    assert.deepEqual(await keys('repositories/w/one/_uploads/'), [], 'the failed uploads are gone');
    assert.equal((await api(`/v2/w/one/blobs/${sha256('hello')}`, { method: 'HEAD' })).status, 404);
    assert.equal((await api(`/v2/w/one/blobs/${wrong}`, { method: 'HEAD' })).status, 404);
    // The same large body with its right digest streams straight into the blob key.
    const ok = await api(`/v2/w/one/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', body: big });
    assert.equal(ok.status, 201);
    const got = Buffer.from(await (await api(`/v2/w/one/blobs/${sha256(big)}`)).arrayBuffer());
    assert.equal(sha256(got), sha256(big));
  });

  test('an upload survives a server restart: state rebuilt from the stored chunks', async () => {
    const start = await api('/v2/r/one/blobs/uploads/', { method: 'POST' });
    const loc = (await api(start.headers.get('location')!, { method: 'PATCH', body: 'first-', headers: { 'Content-Range': '0-5' } })).headers.get('location')!;
    await stopServer();
    await startServer();
    const status = await api(loc);
    assert.equal(status.headers.get('range'), '0-5');
    const p2 = await api(loc, { method: 'PATCH', body: 'second', headers: { 'Content-Range': '6-11' } });
    assert.equal(p2.status, 202);
    const fin = await api(`${p2.headers.get('location')}?digest=${sha256('first-second')}`, { method: 'PUT' });
    assert.equal(fin.status, 201);
    assert.equal(await (await api(`/v2/r/one/blobs/${sha256('first-second')}`)).text(), 'first-second');
  });

  test('tags: listing with pagination, catalog, tag and manifest delete', async () => {
    const cfg = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    assert.equal((await api(`/v2/t/app/blobs/uploads/?digest=${sha256(cfg)}`, { method: 'POST', body: cfg })).status, 201);
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, config: { mediaType: MEDIA_OCI_CONFIG, digest: sha256(cfg), size: cfg.length }, layers: [] });
    for (const t of ['c', 'a', 'b', 'd']) {
      const r = await api(`/v2/t/app/manifests/${t}`, { method: 'PUT', body, headers: { 'Content-Type': MEDIA_OCI_MANIFEST } });
      assert.equal(r.status, 201);
    }
    const p1 = await api('/v2/t/app/tags/list?n=3');
    assert.deepEqual(await p1.json(), { name: 't/app', tags: ['a', 'b', 'c'] });
    assert.equal(p1.headers.get('link'), '</v2/t/app/tags/list?n=3&last=c>; rel="next"');
    assert.deepEqual(await (await api('/v2/t/app/tags/list?n=3&last=c')).json(), { name: 't/app', tags: ['d'] });
    const got = await api('/v2/t/app/manifests/b');
    assert.equal(got.headers.get('content-type'), MEDIA_OCI_MANIFEST);
    assert.equal(got.headers.get('docker-content-digest'), sha256(body));
    assert.equal(await got.text(), body);
    const catalog = (await (await api('/v2/_catalog')).json()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes('t/app'), catalog.repositories.join(','));
    assert.equal((await api('/v2/t/app/manifests/a', { method: 'DELETE' })).status, 202);
    assert.deepEqual(((await (await api('/v2/t/app/tags/list')).json()) as { tags: string[] }).tags, ['b', 'c', 'd']);
    assert.equal((await api('/v2/t/app/manifests/a')).status, 404);
    assert.equal((await api(`/v2/t/app/manifests/${sha256(body)}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual(((await (await api('/v2/t/app/tags/list')).json()) as { tags: string[] }).tags, [], 'deleting the revision removed every tag');
    assert.equal((await api(`/v2/t/app/manifests/${sha256(body)}`)).status, 404);
    assert.equal((await api('/v2/nope/tags/list')).status, 404);
  });

  test('gc deletes only unreferenced blobs and purges stale uploads, on S3', async () => {
    const cfg = Buffer.from(`{"architecture":"amd64","os":"linux","gc":"${randomBytes(4).toString('hex')}"}`);
    const layer = randomBytes(2048);
    for (const b of [cfg, layer]) assert.equal((await api(`/v2/g/img/blobs/uploads/?digest=${sha256(b)}`, { method: 'POST', body: b })).status, 201);
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, config: { mediaType: MEDIA_OCI_CONFIG, digest: sha256(cfg), size: cfg.length }, layers: [{ mediaType: MEDIA_OCI_LAYER, digest: sha256(layer), size: layer.length }] });
    assert.equal((await api('/v2/g/img/manifests/v1', { method: 'PUT', body, headers: { 'Content-Type': MEDIA_OCI_MANIFEST } })).status, 201);
    const orphan = Buffer.from(`orphan ${randomBytes(4).toString('hex')}`);
    assert.equal((await api(`/v2/g/img/blobs/uploads/?digest=${sha256(orphan)}`, { method: 'POST', body: orphan })).status, 201);
    // An abandoned upload from long ago, and a fresh one that must survive.
    const stale = (await api('/v2/g/img/blobs/uploads/', { method: 'POST' })).headers.get('docker-upload-uuid')!;
    await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/docker/registry/v2/repositories/g/img/_uploads/${stale}/startedat`, Body: '2000-01-01T00:00:00Z' }));
    const fresh = (await api('/v2/g/img/blobs/uploads/', { method: 'POST' })).headers.get('docker-upload-uuid')!;

    // Other tests' blobs are unreferenced too; keep only this test's view in the assertion.
    const gcStore = new S3Storage(driverConfig());
    const dry = await collectGarbage(gcStore, { graceMs: 0, dryRun: true });
    assert.ok(dry.deleted.includes(sha256(orphan)));
    assert.ok((await keys(blobKey(sha256(orphan)))).length === 1, 'dry run deletes nothing');
    const res = await collectGarbage(gcStore, { graceMs: 0 });
    await gcStore.close();
    assert.ok(res.deleted.includes(sha256(orphan)));
    for (const d of [sha256(cfg), sha256(layer), sha256(body)]) {
      assert.ok(!res.deleted.includes(d), `${d} is referenced`);
      assert.equal((await keys(blobKey(d))).length, 1);
    }
    assert.deepEqual(await keys(blobKey(sha256(orphan))), []);
    assert.ok(res.uploadsPurged >= 1);
    assert.deepEqual(await keys(`repositories/g/img/_uploads/${stale}/`), []);
    assert.equal((await keys(`repositories/g/img/_uploads/${fresh}/`)).length, 1);
    // The server sees the deletion (no stale cache answer), and the image still pulls.
    assert.equal((await api(`/v2/g/img/blobs/${sha256(orphan)}`)).status, 404);
    assert.equal(Buffer.compare(Buffer.from(await (await api(`/v2/g/img/blobs/${sha256(layer)}`)).arrayBuffer()), layer), 0);
    assert.equal(await (await api('/v2/g/img/manifests/v1')).text(), body);
  });

  test('keys follow distribution layout under the prefix', async () => {
    const all = await sdk.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 1000 }));
    const ks = (all.Contents ?? []).map((o) => o.Key!);
    assert.ok(ks.length > 0);
    for (const k of ks) assert.ok(k.startsWith(`${PREFIX}/docker/registry/v2/`), k);
    assert.ok(ks.some((k) => /\/repositories\/t\/app\/_manifests\/revisions\/sha256\/[a-f0-9]{64}\/link$/.test(k)) || ks.some((k) => /_layers\/sha256\/[a-f0-9]{64}\/link$/.test(k)));
  });
});
