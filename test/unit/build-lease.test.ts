/**
 * Leases: what a running build pins survives the image store's GC whatever its
 * age, and is collected once the lease is released (also after a failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageStore } from '../../src/image/store';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lease-test-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const old = new Date(Date.now() - 3600_000);

test('a leased blob and snapshot survive GC; released, they are collected', async () => {
  const store = new ImageStore(tmpRoot);
  await store.init();
  const blob = await store.content.put('layer-ish bytes');
  const loose = await store.content.put('nobody keeps this');
  const layerTar = await store.content.put(Buffer.alloc(1024)); // two empty tar blocks: an empty layer
  const [snap] = await store.snapshots.prepare([layerTar.digest], async () => store.content.stream(layerTar.digest));
  for (const d of [blob.digest, loose.digest, layerTar.digest]) fs.utimesSync(store.content.path(d), old, old);
  fs.utimesSync(path.join(path.dirname(snap.dir), 'chain'), old, old);

  const lease = store.lease();
  await store.pin(lease, { blobs: [blob.digest], diffIds: [layerTar.digest] });
  await store.collectGarbage();
  assert.equal(await store.content.has(blob.digest), true);
  assert.equal(store.snapshots.get(snap.chainId)?.dir, snap.dir);
  assert.equal(await store.content.has(loose.digest), false);
  assert.equal(await store.content.has(layerTar.digest), false); // only its snapshot was pinned

  lease.release();
  lease.release();
  await store.pin(lease, { blobs: [blob.digest] }); // a released lease pins nothing
  await store.collectGarbage();
  assert.equal(await store.content.has(blob.digest), false);
  assert.equal(store.snapshots.get(snap.chainId), undefined);
});

test('a pin made while GC sweeps waits for it, so the caller sees what is really there', async () => {
  const store = new ImageStore(path.join(tmpRoot, 'b'));
  await store.init();
  const blob = await store.content.put('swept');
  fs.utimesSync(store.content.path(blob.digest), old, old);
  const lease = store.lease();
  const gc = store.collectGarbage();
  await new Promise((r) => setImmediate(r));
  await store.pin(lease, { blobs: [blob.digest] });
  // The sweep started before the pin: the blob is gone, and the pin only resolved after it.
  assert.equal(await store.content.has(blob.digest), false);
  await gc;
  lease.release();
});
