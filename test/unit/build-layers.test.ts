/**
 * The builder's COPY layers: the directory written beside the blob is adopted
 * by the snapshotter, so it must be exactly what extracting the blob gives
 * (names, types, owners, modes, times, bytes); a --no-cache rebuild whose
 * snapshot exists writes the blob only; tar output is coalesced without
 * changing a byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BuildLayers } from '../../src/build/layer';
import { coalesce } from '../../src/sys/chunks';
import { chainIds } from '../../src/image/digest';
import { applyLayer } from '../../src/image/snapshot/apply';
import { ImageStore } from '../../src/image/store';
import { writeTar, type TarWriteItem } from '../../src/image/tar/writer';

const isRoot = process.getuid?.() === 0;
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-layers-test-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function items(): TarWriteItem[] {
  const f = (name: string, data: string, extra: Partial<TarWriteItem['entry']> = {}): TarWriteItem => ({
    entry: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1000, size: Buffer.byteLength(data), ...extra },
    body: (async function* () {
      yield Buffer.from(data);
    })(),
  });
  return [
    { entry: { name: 'app', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1000 } },
    { entry: { name: 'app/bin', type: 'directory', mode: 0o2775, uid: 1000, gid: 50, mtime: 1000 } },
    f('app/bin/tool', '#!/bin/sh\necho hi\n', { mode: 0o4755, uid: 1000, gid: 50 }),
    f('app/empty', ''),
    { entry: { name: 'app/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1000, linkname: '../etc/passwd' } },
    f('app/replaced', 'first'),
    // A later entry of the same name wins: a file becomes a directory.
    { entry: { name: 'app/replaced', type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime: 1000 } },
    f('app/replaced/inner', 'second', { mode: 0o600 }),
    f('big.bin', 'x'.repeat(3 << 20)),
  ];
}

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  data?: string;
}

function tree(dir: string, rel = '', out: Record<string, Node> = {}): Record<string, Node> {
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const p = path.join(dir, r);
    const st = fs.lstatSync(p);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    const data = type === 'file' ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : type === 'symlink' ? fs.readlinkSync(p) : undefined;
    out[r] = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), data };
    if (type === 'dir') tree(dir, r, out);
  }
  return out;
}

test('a COPY layer dir adopted by the snapshotter is exactly its blob extracted', { skip: !isRoot && 'needs root (chown)' }, async () => {
  const store = new ImageStore(path.join(tmpRoot, 'store1'));
  await store.init();
  const buildTmp = path.join(tmpRoot, 'store1', 'builder-tmp');
  const layers = new BuildLayers(store, buildTmp);
  const layer = await layers.write([], items());
  assert.ok(layer);
  const snap = store.snapshots.get(chainIds([layer.digest])[0]);
  assert.ok(snap, 'the layer dir was adopted');
  const extracted = path.join(tmpRoot, 'extracted');
  fs.mkdirSync(extracted);
  await applyLayer(extracted, store.content.stream(layer.digest));
  assert.deepEqual(tree(snap.dir), tree(extracted));
  assert.equal(fs.statSync(snap.dir).mode & 0o7777, 0o755);
  assert.deepEqual(await layers.dirsOf({ layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }], diffIds: [layer.digest] }), [snap.dir]);
  await layers.remove();

  // A rebuild expected to give the same layer writes the blob only; one that gives the same layer unexpectedly drops its dir.
  const before = store.snapshots.all().length;
  const again = new BuildLayers(store, buildTmp);
  assert.deepEqual(await again.write([], items(), layer.digest), layer);
  assert.deepEqual(await again.write([], items()), layer);
  assert.equal(store.snapshots.all().length, before);
  assert.deepEqual(fs.readdirSync(buildTmp).flatMap((d) => fs.readdirSync(path.join(buildTmp, d))), []);
  await again.remove();
});

test('coalesce: same bytes in fewer, bounded chunks', async () => {
  const chunks = [Buffer.from('a'), Buffer.alloc(700, 1), Buffer.alloc(5000, 2), Buffer.from('b'), Buffer.alloc(300, 3)];
  const out: Buffer[] = [];
  for await (const c of coalesce((async function* () {
    yield* chunks;
  })(), 1024)) out.push(c);
  assert.deepEqual(Buffer.concat(out), Buffer.concat(chunks));
  assert.deepEqual(out.map((c) => c.length), [701, 5000, 301]);
  const tar: Buffer[] = [];
  for await (const c of coalesce(writeTar(items()))) tar.push(c);
  const plain: Buffer[] = [];
  for await (const c of writeTar(items())) plain.push(c);
  assert.ok(tar.length < plain.length);
  assert.ok(Buffer.concat(tar).equals(Buffer.concat(plain)));
});
