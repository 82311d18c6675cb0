import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ForbiddenError, InvalidArgumentError } from '../../src/errors';
import { loadImages, saveImages, type LoadOptions } from '../../src/image/archive';
import type { Digest } from '../../src/image/digest';
import { importImage } from '../../src/image/import';
import { ImageStore } from '../../src/image/store';
import { writeTar, type TarWriteItem } from '../../src/image/tar';
import { type ImageConfig, MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX, MEDIA_OCI_LAYER, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST, platformArch } from '../../src/image/types';

// ---------- helpers ----------

const tmpRoots: string[] = [];
process.on('exit', () => {
  if (process.env.BERTH_KEEP_TMP) return;
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `berth-archive-${tag}-`));
  tmpRoots.push(d);
  return d;
}

async function freshStore(): Promise<{ store: ImageStore; root: string }> {
  const root = tmpDir('store');
  const store = new ImageStore(root);
  await store.init();
  return { store, root };
}

async function concat(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

async function tarOf(items: TarWriteItem[]): Promise<Buffer> {
  return concat(writeTar(items));
}

function file(name: string, data: Buffer | string, mode = 0o644): TarWriteItem {
  return { entry: { name, type: 'file', mode }, body: Buffer.from(data) };
}

function json(name: string, value: unknown): TarWriteItem {
  return file(name, JSON.stringify(value));
}

/** Feeds a buffer in small pieces, so the loader's streaming paths are exercised. */
async function* chunks(buf: Buffer, size = 3000): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

function sha(b: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function hex(d: Digest): string {
  return d.slice(7);
}

/** A small layer: a directory, a file, a symlink (and whatever else is asked for). */
async function layerTar(tag: string, extra: TarWriteItem[] = []): Promise<Buffer> {
  return tarOf([
    { entry: { name: `${tag}/`, type: 'directory', mode: 0o755, mtime: 1_700_000_000 } },
    { entry: { name: `${tag}/hello.txt`, type: 'file', mode: 0o640, mtime: 1_700_000_000 }, body: Buffer.from(`hello from ${tag}\n`) },
    { entry: { name: `${tag}/link`, type: 'symlink', linkname: 'hello.txt', mtime: 1_700_000_000 } },
    ...extra,
  ]);
}

/** Config bytes deliberately NOT in JSON.stringify's compact form: an ID that survives proves the bytes were kept. */
function configBytes(diffIds: Digest[], arch = platformArch()): Buffer {
  const cfg: ImageConfig = {
    architecture: arch,
    os: 'linux',
    created: '2024-01-02T03:04:05Z',
    config: { Cmd: ['/bin/sh'], Env: ['A=1'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'test' })),
  };
  return Buffer.from(JSON.stringify(cfg, null, 2));
}

/** The base image of most tests: imported from a small tar, as `berth import` does. */
async function baseStore(): Promise<{ store: ImageStore; root: string; id: Digest }> {
  const s = await freshStore();
  const rec = await importImage(s.store, Readable.from([await layerTar('base')]), { ref: 'test/base:1' });
  return { ...s, id: rec.id };
}

/** Lists a directory tree: type, mode, size, content hash or link target per path. */
function treeOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(dir, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const p = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, p));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`d ${p} ${mode}`);
        walk(p);
      } else if (st.isSymbolicLink()) {
        out.push(`l ${p} -> ${fs.readlinkSync(path.join(dir, p))}`);
      } else {
        out.push(`f ${p} ${mode} ${st.size} ${sha(fs.readFileSync(path.join(dir, p)))}`);
      }
    }
  };
  walk('');
  return out;
}

function tarList(archive: Buffer): string[] {
  const dir = tmpDir('list');
  const f = path.join(dir, 'a.tar');
  fs.writeFileSync(f, archive);
  const r = spawnSync('tar', ['-tf', f], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

function extract(archive: Buffer, member: string): Buffer {
  const dir = tmpDir('x');
  const f = path.join(dir, 'a.tar');
  fs.writeFileSync(f, archive);
  const r = spawnSync('tar', ['-xOf', f, member]);
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

async function save(store: ImageStore, names: string[]): Promise<Buffer> {
  return concat(saveImages(store, names));
}

/** Every failing load must leave the store exactly as it was: no image, no blob, no temp file. */
async function expectRejected(
  archive: Buffer,
  cls: typeof InvalidArgumentError | typeof ForbiddenError,
  re: RegExp,
  opts: LoadOptions = { maxMemoryBytes: 0 },
): Promise<void> {
  const { store, root } = await freshStore();
  const blobsBefore = (await store.content.list()).sort();
  await assert.rejects(loadImages(store, chunks(archive), opts), (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.match(e.message, re);
    return true;
  });
  assert.deepEqual(store.list(), []);
  assert.deepEqual((await store.content.list()).sort(), blobsBefore);
  assert.deepEqual(fs.readdirSync(store.content.ingestDir), []);
  const reopened = new ImageStore(root);
  await reopened.init();
  assert.deepEqual(reopened.list(), []);
}

interface OldImage {
  layers: Buffer[];
  repoTags: string[] | null;
  config?: Buffer;
  /** Overrides of manifest.json fields, for hostile variants. */
  manifest?: Record<string, unknown>;
  extra?: TarWriteItem[];
  repositories?: unknown;
}

/** A docker-archive as Docker 1.10–24 wrote it: <v1id>/{VERSION,json,layer.tar}, <cfg>.json, manifest.json, repositories. */
async function oldFormatArchive(img: OldImage): Promise<{ archive: Buffer; id: Digest; diffIds: Digest[] }> {
  const diffIds = img.layers.map((l) => sha(l));
  const cfg = img.config ?? configBytes(diffIds);
  const id = sha(cfg);
  const items: TarWriteItem[] = [];
  const layerPaths: string[] = [];
  let parent = '';
  img.layers.forEach((layer, i) => {
    const v1 = hex(sha(`${parent} ${diffIds[i]}`));
    items.push({ entry: { name: `${v1}/`, type: 'directory' } });
    items.push(file(`${v1}/VERSION`, '1.0'));
    items.push(json(`${v1}/json`, { id: v1, ...(parent ? { parent } : {}), created: '1970-01-01T00:00:00Z' }));
    items.push(file(`${v1}/layer.tar`, layer));
    layerPaths.push(`${v1}/layer.tar`);
    parent = v1;
  });
  items.push(file(`${hex(id)}.json`, cfg));
  items.push(json('manifest.json', [{ Config: `${hex(id)}.json`, RepoTags: img.repoTags, Layers: layerPaths, ...img.manifest }]));
  const repos: Record<string, Record<string, string>> = {};
  for (const t of img.repoTags ?? []) {
    const i = t.lastIndexOf(':');
    (repos[t.slice(0, i)] ??= {})[t.slice(i + 1)] = parent;
  }
  items.push(json('repositories', img.repositories ?? repos));
  items.push(...(img.extra ?? []));
  return { archive: await tarOf(items), id, diffIds };
}

// ---------- save ----------

test('save writes a Docker 25 style archive: docker-archive files plus an OCI layout', async () => {
  const { store, id } = await baseStore();
  const rec = store.resolve(id);
  const archive = await save(store, ['test/base:1']);
  const names = tarList(archive);
  const diff = rec.config.rootfs.diff_ids[0];
  for (const n of ['manifest.json', 'repositories', 'index.json', 'oci-layout', 'blobs/', 'blobs/sha256/', `blobs/sha256/${hex(id)}`, `blobs/sha256/${hex(diff)}`]) {
    assert.ok(names.includes(n), `${n} missing from ${names.join(', ')}`);
  }
  assert.deepEqual(names, [...names].sort(), 'entries are sorted');

  const manifest = JSON.parse(extract(archive, 'manifest.json').toString());
  assert.deepEqual(manifest, [{ Config: `blobs/sha256/${hex(id)}`, RepoTags: ['test/base:1'], Layers: [`blobs/sha256/${hex(diff)}`] }]);
  assert.deepEqual(JSON.parse(extract(archive, 'repositories').toString()), { 'test/base': { '1': hex(diff) } });
  assert.deepEqual(JSON.parse(extract(archive, 'oci-layout').toString()), { imageLayoutVersion: '1.0.0' });
  assert.equal(sha(extract(archive, `blobs/sha256/${hex(id)}`)), id, 'config blob hashes to the image ID');
  assert.equal(sha(extract(archive, `blobs/sha256/${hex(diff)}`)), diff, 'layer blob is the uncompressed layer');

  const index = JSON.parse(extract(archive, 'index.json').toString());
  assert.equal(index.mediaType, MEDIA_OCI_INDEX);
  assert.equal(index.manifests.length, 1);
  const desc = index.manifests[0];
  assert.deepEqual(desc.annotations, { 'io.containerd.image.name': 'docker.io/test/base:1', 'org.opencontainers.image.ref.name': '1' });
  const manBytes = extract(archive, `blobs/sha256/${hex(desc.digest)}`);
  assert.equal(sha(manBytes), desc.digest);
  assert.equal(manBytes.length, desc.size);
  const man = JSON.parse(manBytes.toString());
  assert.equal(man.config.digest, id);
  assert.deepEqual(man.layers.map((l: { digest: string; mediaType: string }) => [l.digest, l.mediaType]), [[diff, MEDIA_OCI_LAYER]]);

  const again = await save(store, ['test/base:1']);
  assert.ok(archive.equals(again), 'saving twice gives identical bytes');
});

test('save by ID records no tag; save by bare repository name records all its tags', async () => {
  const { store, id } = await baseStore();
  await store.tag(id, 'test/base:2');
  const byId = await save(store, [id.slice(7, 19)]);
  assert.deepEqual(JSON.parse(extract(byId, 'manifest.json').toString())[0].RepoTags, null);
  assert.ok(!tarList(byId).includes('repositories'));
  const byRepo = await save(store, ['test/base']);
  assert.deepEqual(JSON.parse(extract(byRepo, 'manifest.json').toString())[0].RepoTags.sort(), ['test/base:1', 'test/base:2']);
  await assert.rejects(concat(saveImages(store, ['nope:latest'])), /No such image/);
});

// ---------- round trip ----------

test('save → load into a fresh store keeps the image ID, refs and layer contents', async () => {
  const { store, id } = await baseStore();
  // A second, two-layer image sharing the base layer, created with a config in a non-compact byte form.
  const base = store.resolve(id);
  const top = await layerTar('top');
  const topBlob = await store.content.put(top);
  const cfg = configBytes([base.config.rootfs.diff_ids[0], topBlob.digest]);
  const cfgInfo = await store.content.put(cfg);
  const manifest = {
    schemaVersion: 2 as const,
    mediaType: MEDIA_OCI_MANIFEST,
    config: { mediaType: MEDIA_OCI_CONFIG, digest: cfgInfo.digest, size: cfgInfo.size },
    layers: [base.manifest.layers[0], { mediaType: MEDIA_OCI_LAYER, digest: topBlob.digest, size: topBlob.size }],
  };
  const manInfo = await store.content.put(JSON.stringify(manifest));
  const two = await store.add(manInfo.digest, manifest, JSON.parse(cfg.toString()) as ImageConfig, 'example.com:5000/team/app:v2');
  await store.layerDirs(two);

  const archive = await save(store, ['test/base:1', 'example.com:5000/team/app:v2']);
  for (const opts of [{}, { maxMemoryBytes: 0 }] as LoadOptions[]) {
    const { store: dst } = await freshStore();
    const lines = await loadImages(dst, chunks(archive), opts);
    assert.deepEqual(lines, ['Loaded image: test/base:1', 'Loaded image: example.com:5000/team/app:v2']);
    for (const [ref, rec] of [['test/base:1', base], ['example.com:5000/team/app:v2', two]] as const) {
      const got = dst.resolve(ref);
      assert.equal(got.id, rec.id);
      assert.deepEqual(got.refs, rec.refs.filter((r) => r.endsWith(ref.slice(ref.lastIndexOf(':')))));
      const srcDirs = await store.layerDirs(rec);
      const dstDirs = await dst.layerDirs(got);
      assert.equal(dstDirs.length, srcDirs.length);
      for (let i = 0; i < srcDirs.length; i++) assert.deepEqual(treeOf(dstDirs[i]), treeOf(srcDirs[i]));
      // Layers are stored uncompressed: blob digest == diffID.
      assert.deepEqual(got.manifest.layers.map((l) => l.digest), rec.config.rootfs.diff_ids);
    }
    assert.ok(treeOf((await dst.layerDirs(dst.resolve('test/base:1')))[0]).includes('l base/link -> hello.txt'));
    // The same archive saved from the destination is byte-identical.
    assert.ok((await save(dst, ['test/base:1', 'example.com:5000/team/app:v2'])).equals(archive));
  }
});

test('load accepts a gzip-compressed archive and reports untagged images by ID', async () => {
  const { store, id } = await baseStore();
  const archive = gzipSync(await save(store, [id]));
  const { store: dst } = await freshStore();
  assert.deepEqual(await loadImages(dst, chunks(archive)), [`Loaded image ID: ${id}`]);
  assert.deepEqual(dst.resolve(id).refs, []);
});

test('loading over an existing tag moves it and says so, like Docker', async () => {
  const a = await baseStore();
  const archive = await save(a.store, ['test/base:1']);
  const { store: dst } = await freshStore();
  const other = await importImage(dst, Readable.from([await layerTar('other')]), { ref: 'test/base:1' });
  const lines = await loadImages(dst, chunks(archive));
  assert.deepEqual(lines, [`The image test/base:1 already exists, renaming the old one with ID ${other.id} to empty string`, 'Loaded image: test/base:1']);
  assert.equal(dst.resolve('test/base:1').id, a.id);
  assert.deepEqual(dst.resolve(other.id).refs, []);
});

// ---------- other formats ----------

test('an old-format docker archive (<id>/layer.tar, <cfg>.json, gzip) loads', async () => {
  const layers = [await layerTar('one'), await layerTar('two', [{ entry: { name: 'one/.wh.hello.txt', type: 'file' }, body: Buffer.alloc(0) }])];
  const { archive, id, diffIds } = await oldFormatArchive({ layers, repoTags: ['old/image:v1', 'old/image:latest'] });
  const { store } = await freshStore();
  const lines = await loadImages(store, chunks(gzipSync(archive)));
  assert.deepEqual(lines, ['Loaded image: old/image:v1', 'Loaded image: old/image:latest']);
  const rec = store.resolve('old/image');
  assert.equal(rec.id, id);
  assert.deepEqual(rec.config.rootfs.diff_ids, diffIds);
  assert.deepEqual(rec.refs.sort(), ['docker.io/old/image:latest', 'docker.io/old/image:v1']);
  const dirs = await store.layerDirs(rec);
  assert.equal(fs.readFileSync(path.join(dirs[1], 'two', 'hello.txt'), 'utf8'), 'hello from two\n');
  assert.equal(sha(await store.content.read(rec.id)), id);
});

test('a Docker 25 archive whose blobs hold a gzip layer (manifest.json first) loads with the same ID', async () => {
  const layer = await layerTar('gz');
  const gz = gzipSync(layer);
  const diff = sha(layer);
  const cfg = configBytes([diff]);
  const id = sha(cfg);
  const man = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_OCI_MANIFEST,
    config: { mediaType: MEDIA_OCI_CONFIG, digest: id, size: cfg.length },
    layers: [{ mediaType: MEDIA_OCI_LAYER_GZIP, digest: sha(gz), size: gz.length }],
  }));
  const archive = await tarOf([
    json('manifest.json', [{ Config: `blobs/sha256/${hex(id)}`, RepoTags: ['gz/image:1'], Layers: [`blobs/sha256/${hex(sha(gz))}`] }]),
    json('index.json', { schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests: [{ mediaType: MEDIA_OCI_MANIFEST, digest: sha(man), size: man.length }] }),
    file('oci-layout', '{"imageLayoutVersion": "1.0.0"}'),
    file(`blobs/sha256/${hex(sha(man))}`, man),
    file(`blobs/sha256/${hex(id)}`, cfg),
    file(`blobs/sha256/${hex(sha(gz))}`, gz),
  ]);
  for (const opts of [{}, { maxMemoryBytes: 0 }] as LoadOptions[]) {
    const { store } = await freshStore();
    assert.deepEqual(await loadImages(store, chunks(archive), opts), ['Loaded image: gz/image:1']);
    const rec = store.resolve('gz/image:1');
    assert.equal(rec.id, id);
    assert.deepEqual(rec.manifest.layers.map((l) => [l.digest, l.mediaType]), [[diff, MEDIA_OCI_LAYER]]);
    assert.ok(await store.content.has(diff), 'layer stored uncompressed');
    assert.ok(!(await store.content.has(sha(gz))), 'the compressed blob is not kept');
    await store.layerDirs(rec);
  }
});

test('a pure OCI layout tar (nested index, attestation, other platform) loads by its annotations', async () => {
  const layer = await layerTar('oci');
  const gz = gzipSync(layer);
  const cfg = configBytes([sha(layer)]);
  const id = sha(cfg);
  const man = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_OCI_MANIFEST,
    config: { mediaType: MEDIA_OCI_CONFIG, digest: id, size: cfg.length },
    layers: [{ mediaType: MEDIA_OCI_LAYER_GZIP, digest: sha(gz), size: gz.length }],
  }));
  const absent = (n: number): Digest => sha(`absent ${n}`);
  const otherArch = platformArch() === 'amd64' ? 'arm64' : 'amd64';
  const nested = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_OCI_INDEX,
    manifests: [
      { mediaType: MEDIA_OCI_MANIFEST, digest: absent(1), size: 500, platform: { architecture: otherArch, os: 'linux' } },
      { mediaType: MEDIA_OCI_MANIFEST, digest: sha(man), size: man.length, platform: { architecture: platformArch(), os: 'linux' } },
      { mediaType: MEDIA_OCI_MANIFEST, digest: absent(2), size: 500, platform: { architecture: 'unknown', os: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
    ],
  }));
  // A BuildKit-style attestation manifest whose blobs ARE present: it must be skipped, not loaded.
  const stmt = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}');
  const attCfg = Buffer.from('{}');
  const att = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(attCfg), size: attCfg.length },
    layers: [{ mediaType: 'application/vnd.in-toto+json', digest: sha(stmt), size: stmt.length }],
  }));
  const archive = await tarOf([
    file(`blobs/sha256/${hex(sha(stmt))}`, stmt),
    file(`blobs/sha256/${hex(sha(attCfg))}`, attCfg),
    file(`blobs/sha256/${hex(sha(att))}`, att),
    { entry: { name: 'blobs/', type: 'directory' } },
    { entry: { name: 'blobs/sha256/', type: 'directory' } },
    file(`blobs/sha256/${hex(sha(gz))}`, gz),
    file(`blobs/sha256/${hex(id)}`, cfg),
    file(`blobs/sha256/${hex(sha(man))}`, man),
    file(`blobs/sha256/${hex(sha(nested))}`, nested),
    json('index.json', {
      schemaVersion: 2,
      mediaType: MEDIA_OCI_INDEX,
      manifests: [
        { mediaType: MEDIA_OCI_INDEX, digest: sha(nested), size: nested.length, annotations: { 'io.containerd.image.name': 'docker.io/library/ocitest:v1', 'org.opencontainers.image.ref.name': 'v1' } },
        { mediaType: MEDIA_OCI_MANIFEST, digest: sha(att), size: att.length, platform: { architecture: 'unknown', os: 'unknown' } },
        { mediaType: MEDIA_OCI_MANIFEST, digest: sha(man), size: man.length, annotations: { 'org.opencontainers.image.ref.name': 'registry.test/x/ocitest:v2' } },
      ],
    }),
    file('oci-layout', '{"imageLayoutVersion":"1.0.0"}'),
  ]);
  const { store } = await freshStore();
  assert.deepEqual(await loadImages(store, chunks(archive)), ['Loaded image: ocitest:v1', 'Loaded image: registry.test/x/ocitest:v2']);
  assert.equal(store.resolve('ocitest:v1').id, id);
  assert.equal(store.resolve('registry.test/x/ocitest:v2').id, id);
  await store.layerDirs(store.resolve(id));

  // The same layout whose index has only a bare tag in ref.name: loaded untagged.
  const bare = await tarOf([
    file(`blobs/sha256/${hex(sha(gz))}`, gz),
    file(`blobs/sha256/${hex(id)}`, cfg),
    file(`blobs/sha256/${hex(sha(man))}`, man),
    json('index.json', { schemaVersion: 2, manifests: [{ mediaType: MEDIA_OCI_MANIFEST, digest: sha(man), size: man.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
  ]);
  const { store: s2 } = await freshStore();
  assert.deepEqual(await loadImages(s2, chunks(bare)), [`Loaded image ID: ${id}`]);
});

// ---------- skopeo interop ----------

function skopeo(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`skopeo could not be run (${r.error.message}); install it with: apt-get install -y skopeo`);
  assert.equal(r.status, 0, `skopeo ${args.join(' ')} failed:\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

test('skopeo interop: skopeo-written docker-archive loads; Berth-saved archive is read by skopeo', async () => {
  const probe = spawnSync('skopeo', ['--version'], { encoding: 'utf8' });
  assert.ok(!probe.error && probe.status === 0, `skopeo is required for this test but is not available (${probe.error?.message ?? probe.stderr}); install it with: apt-get install -y skopeo`);

  const { store, id } = await baseStore();
  const rec = store.resolve(id);
  const archive = await save(store, ['test/base:1']);
  const work = tmpDir('skopeo');

  // 1. Berth's save output, unpacked, is an OCI layout skopeo reads by its ref.name; skopeo writes a docker-archive.
  const layoutDir = path.join(work, 'layout');
  fs.mkdirSync(layoutDir);
  fs.writeFileSync(path.join(work, 'berth.tar'), archive);
  assert.equal(spawnSync('tar', ['-xf', path.join(work, 'berth.tar'), '-C', layoutDir]).status, 0);
  const fromSkopeo = path.join(work, 'skopeo.tar');
  skopeo(['copy', `oci:${layoutDir}:1`, `docker-archive:${fromSkopeo}:interop/img:v3`]);
  const { store: dst } = await freshStore();
  assert.deepEqual(await loadImages(dst, chunks(fs.readFileSync(fromSkopeo))), ['Loaded image: interop/img:v3']);
  const loaded = dst.resolve('interop/img:v3');
  assert.equal(loaded.id, id);
  assert.deepEqual(treeOf((await dst.layerDirs(loaded))[0]), treeOf((await store.layerDirs(rec))[0]));

  // 2. skopeo reads Berth's archive as a docker-archive.
  const berthTar = path.join(work, 'berth.tar');
  const inspect = JSON.parse(skopeo(['inspect', `docker-archive:${berthTar}`]).stdout);
  assert.deepEqual(inspect.Layers, rec.config.rootfs.diff_ids);
  assert.equal(inspect.Architecture, rec.config.architecture);
  const config = JSON.parse(skopeo(['inspect', '--config', '--raw', `docker-archive:${berthTar}`]).stdout);
  assert.deepEqual(config.rootfs.diff_ids, rec.config.rootfs.diff_ids);
  const ociOut = path.join(work, 'oci-out');
  skopeo(['copy', `docker-archive:${berthTar}`, `oci:${ociOut}:copied`]);
  const outIndex = JSON.parse(fs.readFileSync(path.join(ociOut, 'index.json'), 'utf8'));
  assert.equal(outIndex.manifests[0].annotations['org.opencontainers.image.ref.name'], 'copied');
  // skopeo's own OCI layout, tarred, loads back too (gzip layers, bare-tag ref.name → untagged). skopeo
  // re-marshals the config when converting to OCI, so the ID to expect is its config's digest.
  const outManifest = JSON.parse(fs.readFileSync(path.join(ociOut, 'blobs', 'sha256', outIndex.manifests[0].digest.slice(7)), 'utf8'));
  assert.equal(outManifest.layers[0].mediaType, MEDIA_OCI_LAYER_GZIP);
  const ociTar = path.join(work, 'oci-out.tar');
  assert.equal(spawnSync('tar', ['-cf', ociTar, '-C', ociOut, '.']).status, 0);
  const { store: dst2 } = await freshStore();
  assert.deepEqual(await loadImages(dst2, chunks(fs.readFileSync(ociTar))), [`Loaded image ID: ${outManifest.config.digest}`]);
  const reloaded = dst2.resolve(outManifest.config.digest);
  assert.deepEqual(reloaded.config.rootfs.diff_ids, rec.config.rootfs.diff_ids);
  assert.deepEqual(treeOf((await dst2.layerDirs(reloaded))[0]), treeOf((await store.layerDirs(rec))[0]));
});

// ---------- hostile archives ----------

test('hostile: manifest.json layer path with ../ is refused and nothing is stored', async () => {
  const { archive } = await oldFormatArchive({ layers: [await layerTar('h')], repoTags: ['h/x:1'], manifest: { Layers: ['../../etc/passwd'] } });
  await expectRejected(archive, ForbiddenError, /manifest\.json layer path "\.\.\/\.\.\/etc\/passwd" contains '\.\.'/);
});

test('hostile: manifest.json Config with an absolute path is refused', async () => {
  const { archive } = await oldFormatArchive({ layers: [await layerTar('h')], repoTags: ['h/x:1'], manifest: { Config: '/etc/passwd' } });
  await expectRejected(archive, ForbiddenError, /manifest\.json Config path "\/etc\/passwd" is an absolute path/);
});

test('hostile: archive entry names with .. or absolute paths are refused, nothing written outside', async () => {
  const mark = `berth-archive-escape-${randomBytes(6).toString('hex')}`;
  const { archive: good } = await oldFormatArchive({ layers: [await layerTar('h')], repoTags: ['h/x:1'] });
  const body = good.subarray(0, good.length - 1024); // drop the end marker, append a hostile entry
  for (const name of [`../../${mark}`, `blobs/../../${mark}`, `/tmp/${mark}`]) {
    const hostile = Buffer.concat([body, await tarOf([file(name, 'pwned')])]);
    await expectRejected(hostile, ForbiddenError, name.startsWith('/') ? /archive entry ".*" is an absolute path/ : /archive entry ".*" contains '\.\.'/);
  }
  for (const base of [process.cwd(), os.tmpdir(), path.join(os.tmpdir(), 'x', 'y'), '/']) {
    assert.ok(!fs.existsSync(path.resolve(base, '..', '..', mark)) && !fs.existsSync(path.join('/tmp', mark)));
  }
});

test('hostile: symlinks in the archive may not leave it; legacy IDs must be 64 hex', async () => {
  const { archive: good } = await oldFormatArchive({ layers: [await layerTar('h')], repoTags: ['h/x:1'] });
  const body = good.subarray(0, good.length - 1024);
  const link = await tarOf([{ entry: { name: 'evil.tar', type: 'symlink', linkname: '../../../etc/passwd' } }]);
  await expectRejected(Buffer.concat([body, link]), ForbiddenError, /archive symlink "evil\.tar" points outside the archive/);
  const abs = await tarOf([{ entry: { name: 'evil.tar', type: 'symlink', linkname: '/etc/passwd' } }]);
  await expectRejected(Buffer.concat([body, abs]), ForbiddenError, /points to the absolute path "\/etc\/passwd"/);
  const badId = await tarOf([file('not-a-layer-id/layer.tar', 'x')]);
  await expectRejected(Buffer.concat([body, badId]), InvalidArgumentError, /invalid layer ID "not-a-layer-id"/);
  const { archive: badRepos } = await oldFormatArchive({ layers: [await layerTar('h')], repoTags: ['h/x:1'], repositories: { 'h/x': { '1': '../../etc' } } });
  await expectRejected(badRepos, InvalidArgumentError, /invalid image ID "\.\.\/\.\.\/etc" for h\/x:1 in repositories/);
  const { archive: badTag } = await oldFormatArchive({ layers: [await layerTar('h')], repoTags: ['../../x:1'] });
  await expectRejected(badTag, InvalidArgumentError, /invalid tag "\.\.\/\.\.\/x:1"/);
});

test('hostile: config whose content does not match its digest is refused', async () => {
  const layer = await layerTar('h');
  const cfg = configBytes([sha(layer)]);
  const forged = sha('some other config');
  // Old layout: <hex>.json named by a digest it does not have.
  const { archive } = await oldFormatArchive({
    layers: [layer],
    repoTags: ['h/x:1'],
    config: cfg,
    manifest: { Config: `${hex(forged)}.json` },
    extra: [file(`${hex(forged)}.json`, cfg)],
  });
  await expectRejected(archive, InvalidArgumentError, new RegExp(`image config "${hex(forged)}\\.json" does not match its digest: content hashes to ${sha(cfg)}`));
  // New layout: blobs/sha256/<hex> that hashes to something else.
  const blobs = await tarOf([
    file(`blobs/sha256/${hex(sha(layer))}`, layer),
    file(`blobs/sha256/${hex(forged)}`, cfg),
    json('manifest.json', [{ Config: `blobs/sha256/${hex(forged)}`, RepoTags: ['h/x:1'], Layers: [`blobs/sha256/${hex(sha(layer))}`] }]),
  ]);
  await expectRejected(blobs, InvalidArgumentError, new RegExp(`blob "blobs/sha256/${hex(forged)}" is corrupt`));
});

test('hostile: a layer that does not match the config diff_ids is refused', async () => {
  const real = await layerTar('real');
  const swapped = await layerTar('swapped');
  const cfg = configBytes([sha(real)]);
  const { archive } = await oldFormatArchive({ layers: [swapped], repoTags: ['h/x:1'], config: cfg });
  await expectRejected(archive, InvalidArgumentError, new RegExp(`invalid diffID for layer 0 .*expected "${sha(real)}", got "${sha(swapped)}"`));
  await expectRejected(archive, InvalidArgumentError, /invalid diffID for layer 0/, {});
  const { archive: short } = await oldFormatArchive({ layers: [real], repoTags: ['h/x:1'], config: configBytes([sha(real), sha(swapped)]) });
  await expectRejected(short, InvalidArgumentError, /layers length mismatch: expected 1, got 2/);
});

test('hostile: a layer that escapes its root fails unpacking and registers nothing', async () => {
  const evil = await tarOf([file('../../escape-from-layer', 'x')]);
  const { archive } = await oldFormatArchive({ layers: [evil], repoTags: ['h/x:1'] });
  const { store } = await freshStore();
  await assert.rejects(loadImages(store, chunks(archive), { maxMemoryBytes: 0 }), (e: unknown) => e instanceof ForbiddenError);
  assert.deepEqual(store.list(), []);
  assert.deepEqual(await store.content.list(), []);
});

test('hostile: truncated archives and corrupt gzip are refused cleanly', async () => {
  const { store } = await baseStore();
  const archive = await save(store, ['test/base:1']);
  const layerOffset = archive.indexOf(Buffer.from('base/hello.txt'));
  assert.ok(layerOffset > 0);
  await expectRejected(archive.subarray(0, layerOffset + 700), InvalidArgumentError, /tar: unexpected end of archive/);
  await expectRejected(archive.subarray(0, Math.floor(archive.length * 0.6)), InvalidArgumentError, /unexpected end of archive|missing from the archive|neither manifest\.json/);
  const gz = gzipSync(archive);
  await expectRejected(gz.subarray(0, Math.floor(gz.length / 2)), InvalidArgumentError, /corrupt archive: gzip/);
  await expectRejected(Buffer.alloc(0), InvalidArgumentError, /neither manifest\.json nor index\.json/);
  await expectRejected(await tarOf([file('manifest.json', 'null')]), InvalidArgumentError, /manifest cannot be null/);
  await expectRejected(await tarOf([file('manifest.json', 'x'.repeat(2000))]), InvalidArgumentError, /"manifest\.json" is 2000 bytes, over the 1000-byte limit/, { maxJsonBytes: 1000 });
  await expectRejected(await tarOf([file('a', ''), file('b', ''), file('c', '')]), InvalidArgumentError, /more than 2 entries/, { maxEntries: 2 });
});

test('hostile: OCI layout blobs are checked against descriptor digest and size', async () => {
  const layer = await layerTar('o');
  const cfg = configBytes([sha(layer)]);
  const man = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: MEDIA_OCI_CONFIG, digest: sha(cfg), size: cfg.length + 1 },
    layers: [{ mediaType: MEDIA_OCI_LAYER, digest: sha(layer), size: layer.length }],
  }));
  const archive = await tarOf([
    file(`blobs/sha256/${hex(sha(layer))}`, layer),
    file(`blobs/sha256/${hex(sha(cfg))}`, cfg),
    file(`blobs/sha256/${hex(sha(man))}`, man),
    json('index.json', { schemaVersion: 2, manifests: [{ mediaType: MEDIA_OCI_MANIFEST, digest: sha(man), size: man.length }] }),
  ]);
  await expectRejected(archive, InvalidArgumentError, /image config sha256:[a-f0-9]{64} is \d+ bytes, but its descriptor says \d+/);
  const badDigest = await tarOf([json('index.json', { schemaVersion: 2, manifests: [{ mediaType: MEDIA_OCI_MANIFEST, digest: 'sha256:../../etc', size: 1 }] })]);
  await expectRejected(badDigest, InvalidArgumentError, /invalid digest "sha256:\.\.\/\.\.\/etc"/);
});
