/**
 * Pull: manifest (through an index to one platform) → config → layers,
 * three at a time. Each layer is decompressed on the way in while both its
 * compressed digest (manifest) and its diffID (config) are checked; the
 * uncompressed blob is committed only when both match. Layers are unpacked
 * before the image is registered, so a hostile layer fails the pull, and a
 * failed pull removes the blobs it wrote: no partial image is left behind.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '../../errors';
import { decompress } from '../../image/compression';
import type { ContentStore } from '../../image/content/store';
import { type Digest, isValidDigest, sha256 } from '../../image/digest';
import { familiarName, fullName, fullString } from '../../image/reference';
import type { ImageStore } from '../../image/store';
import { type Descriptor, type ImageConfig, type ImageIndex, type ImageRecord, type Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST, platformArch } from '../../image/types';
import { readCapped, registryError } from './errors';
import { checkManifest, fetchManifest, isImageManifest, isIndex, parsePlatform, selectPlatform } from './manifest';
import { runBounded } from './pool';
import { type ProgressFn, shortId, throttled } from './progress';
import { openSession, type SessionOptions } from './session';
import type { RegistryTransport } from './transport';

const MAX_CONFIG_BYTES = 16 << 20;

export interface PullOptions extends SessionOptions {
  /** 'linux/arm64', default linux/<host arch>. */
  platform?: string;
}

export interface PullResult {
  image: ImageRecord;
  /** Digest of what the reference named (the index when there was one), as Docker shows it. */
  digest: Digest;
  /** 'localhost:5000/app@sha256:…' for the image's RepoDigests. */
  repoDigest: string;
  /** True when the image was already present under this name. */
  upToDate: boolean;
}

export async function pullImage(store: ImageStore, refStr: string, opts: PullOptions = {}): Promise<PullResult> {
  const { ref, t } = openSession(refStr, opts);
  const progress: ProgressFn = opts.progress ?? (() => undefined);
  const repo = ref.path;
  const what = familiarName(ref) + (ref.digest ? `@${ref.digest}` : `:${ref.tag}`);
  await t.ping();
  progress({ id: ref.digest ?? ref.tag, status: `Pulling from ${repo}` });

  const top = await fetchManifest(t, repo, ref.digest ?? ref.tag!, what);
  let chosen = top;
  if (isIndex(top.mediaType)) {
    const index = JSON.parse(top.bytes.toString('utf8')) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new InvalidArgumentError(`manifest list for ${what} has no manifests`);
    const want = opts.platform ? parsePlatform(opts.platform) : { os: 'linux', architecture: platformArch() };
    const desc = selectPlatform(index, want, what);
    if (!isValidDigest(desc.digest)) throw new InvalidArgumentError(`manifest list for ${what} has an invalid digest`);
    chosen = await fetchManifest(t, repo, desc.digest, what);
    if (!isImageManifest(chosen.mediaType)) throw new InvalidArgumentError(`${what}: nested manifest lists are not supported`);
  } else if (!isImageManifest(top.mediaType)) {
    throw new InvalidArgumentError(`${what}: unsupported manifest type "${top.mediaType}"`);
  }
  const remote = JSON.parse(chosen.bytes.toString('utf8')) as Manifest;
  checkManifest(remote, what);

  const configBytes = await fetchBlobSmall(t, repo, remote.config, `config of ${what}`);
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== remote.layers.length || !diffIds.every(isValidDigest))
    throw new InvalidArgumentError(`${what}: image config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff IDs for ${remote.layers.length} layers`);

  const fullRef = ref.tag !== undefined && ref.digest === undefined ? fullString(ref) : undefined;
  const before = store.byId(remote.config.digest);
  const upToDate = !!before && (fullRef === undefined || before.refs.includes(fullRef));
  const written = new Set<Digest>();
  try {
    const sizes: number[] = [];
    for (const l of remote.layers) progress({ id: shortId(l.digest), status: 'Pulling fs layer' });
    await runBounded(remote.layers, opts.concurrency ?? 3, async (layer, i) => {
      const id = shortId(layer.digest);
      const have = await store.content.info(diffIds[i]);
      if (have) {
        sizes[i] = have.size;
        progress({ id, status: 'Already exists' });
        return;
      }
      sizes[i] = await fetchLayer(t, repo, store.content, layer, diffIds[i], progress);
      written.add(diffIds[i]);
      progress({ id, status: 'Download complete' });
    });
    const cfg = await store.content.put(configBytes, remote.config.digest);
    written.add(cfg.digest);
    const local: Manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_OCI_MANIFEST,
      config: { mediaType: MEDIA_OCI_CONFIG, digest: cfg.digest, size: cfg.size },
      layers: diffIds.map((d, i): Descriptor => ({ mediaType: MEDIA_OCI_LAYER, digest: d, size: sizes[i] })),
    };
    const man = await store.content.put(JSON.stringify(local));
    written.add(man.digest);
    await store.snapshots.prepare(diffIds, async (i) => {
      progress({ id: shortId(remote.layers[i].digest), status: 'Extracting' });
      return decompress(store.content.stream(diffIds[i]));
    });
    for (const l of remote.layers) progress({ id: shortId(l.digest), status: 'Pull complete' });
    const image = await store.add(man.digest, local, config, fullRef);
    progress({ status: `Digest: ${top.digest}` });
    const shown = familiarName(ref) + (fullRef ? `:${ref.tag}` : `@${ref.digest}`);
    progress({ status: upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}` });
    return { image, digest: top.digest, repoDigest: `${fullName(ref)}@${top.digest}`, upToDate };
  } catch (e) {
    await dropUnreferenced(store, written);
    throw e;
  }
}

/** Removes blobs this pull wrote that no registered image uses (the image store's GC would, later). */
async function dropUnreferenced(store: ImageStore, written: Set<Digest>): Promise<void> {
  const used = new Set<Digest>();
  for (const rec of store.list()) {
    used.add(rec.manifestDigest);
    used.add(rec.manifest.config.digest);
    for (const l of rec.manifest.layers) used.add(l.digest);
  }
  for (const d of written) if (!used.has(d)) await store.content.delete(d).catch(() => undefined);
}

/** A small blob (config) read whole, checked against its descriptor's size and digest. */
export async function fetchBlobSmall(t: RegistryTransport, repo: string, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_BYTES) throw new InvalidArgumentError(`${what} is ${desc.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const res = await t.request('GET', `/v2/${repo}/blobs/${desc.digest}`, { scopes: [`repository:${repo}:pull`] });
  if (res.status !== 200) throw await registryError(res, `fetching ${what}`);
  const data = await readCapped(res, desc.size);
  if (data.length !== desc.size) throw new InvalidArgumentError(`${what}: got ${data.length} bytes, the manifest says ${desc.size}`);
  const actual = sha256(data);
  if (actual !== desc.digest) throw new InvalidArgumentError(`${what}: digest mismatch: content is ${actual}, expected ${desc.digest}`);
  return data;
}

/**
 * Streams one layer into the content store uncompressed. The compressed bytes
 * are counted and hashed as they arrive (more than the declared size fails at
 * once); the blob is committed under its diffID only after both checks pass.
 */
async function fetchLayer(t: RegistryTransport, repo: string, content: ContentStore, desc: Descriptor, diffId: Digest, progress: ProgressFn): Promise<number> {
  const id = shortId(desc.digest);
  const res = await t.request('GET', `/v2/${repo}/blobs/${desc.digest}`, { scopes: [`repository:${repo}:pull`] });
  if (res.status !== 200 || !res.body) throw await registryError(res, `fetching layer ${desc.digest}`);
  const body = res.body;
  const hash = createHash('sha256');
  let got = 0;
  const tick = throttled(progress, id, 'Downloading', desc.size);
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const c of body) {
      got += c.length;
      if (got > desc.size) throw new InvalidArgumentError(`layer ${desc.digest}: the registry sent more than the ${desc.size} bytes the manifest declares`);
      hash.update(c);
      tick(got);
      yield Buffer.from(c);
    }
  }
  const w = await content.writer();
  try {
    for await (const chunk of decompress(Readable.from(counted()))) await w.write(chunk as Buffer);
    if (got !== desc.size) throw new InvalidArgumentError(`layer ${desc.digest}: truncated: got ${got} of ${desc.size} bytes`);
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== desc.digest) throw new InvalidArgumentError(`layer ${desc.digest}: digest mismatch: the registry sent content hashing to ${actual}`);
  } catch (e) {
    await w.abort();
    await body.cancel().catch(() => undefined);
    if (e instanceof InvalidArgumentError) throw e;
    throw new InvalidArgumentError(`layer ${desc.digest}: download failed: ${(e as Error).message} (got ${got} of ${desc.size} bytes)`, { cause: e });
  }
  progress({ id, status: 'Verifying Checksum' });
  try {
    return (await w.commit({ digest: diffId })).size;
  } catch (e) {
    throw new InvalidArgumentError(`layer ${desc.digest}: uncompressed content does not match diff ID ${diffId} from the image config: ${(e as Error).message}`);
  }
}
