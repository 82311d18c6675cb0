/**
 * Pull: manifest (through an index to one platform) → config → layers,
 * several at a time. Each layer streams through one pass: the compressed
 * bytes are counted and hashed as they arrive, decompressed, and teed into
 * the content store (hashed again for the diffID) and into the layer's
 * snapshot, which is extracted alongside and published only after the blob
 * committed with both digests verified. A dropped connection resumes with a
 * Range request. A failed pull registers no image and leaves no partial blob;
 * layers that were completely fetched and verified stay in the content store
 * (until image GC), so pulling again does not fetch them twice.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BerthError, InvalidArgumentError } from '../../errors';
import { decompress } from '../../image/compression';
import { type Digest, isValidDigest, sha256 } from '../../image/digest';
import { familiarName, fullName, fullString } from '../../image/reference';
import type { ImageStore } from '../../image/store';
import { type Descriptor, type ImageConfig, type ImageIndex, type ImageRecord, type Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, MEDIA_OCI_MANIFEST, platformArch } from '../../image/types';
import { CompressedMap } from './compressed';
import { readCapped, registryError } from './errors';
import { Feed } from './feed';
import { checkManifest, fetchManifest, isImageManifest, isIndex, parsePlatform, selectPlatform } from './manifest';
import { runBounded } from './pool';
import { type ProgressFn, shortId, throttled } from './progress';
import { openSession, type SessionOptions } from './session';
import type { RegistryTransport } from './transport';
import { coalesce } from '../../sys/chunks';

const MAX_CONFIG_BYTES = 16 << 20;
/** Range requests after a dropped connection, per layer. */
const MAX_RESUMES = 3;
const GZIP_MEDIA = new Set(['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);

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
  const fetched: Array<{ diffId: Digest; digest: Digest; size: number }> = [];
  try {
    const sizes: number[] = [];
    for (const l of remote.layers) progress({ id: shortId(l.digest), status: 'Pulling fs layer' });
    await runBounded(remote.layers, opts.concurrency ?? 4, async (layer, i) => {
      const id = shortId(layer.digest);
      const have = await store.content.info(diffIds[i]);
      if (have) {
        sizes[i] = have.size;
        progress({ id, status: 'Already exists' });
        return;
      }
      sizes[i] = await fetchLayer(t, repo, store, layer, diffIds, i, progress);
      progress({ id, status: 'Pull complete' });
      if (GZIP_MEDIA.has(layer.mediaType)) fetched.push({ diffId: diffIds[i], digest: layer.digest, size: layer.size });
    });
    // A later push to this registry can skip or mount these layers instead of recompressing them.
    if (fetched.length) await new CompressedMap(store).recordMany(fetched, fullName(ref)).catch(() => undefined);
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
    // Layers that were already in the store and were never unpacked.
    await store.snapshots.prepare(diffIds, async (i) => {
      progress({ id: shortId(remote.layers[i].digest), status: 'Extracting' });
      return decompress(store.content.stream(diffIds[i]));
    });
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
 * Streams one layer into the content store uncompressed and into its
 * snapshot. More bytes than the descriptor declares fail at once; the blob is
 * committed under its diffID only after the compressed digest matched, and the
 * snapshot is published only after that commit.
 */
async function fetchLayer(t: RegistryTransport, repo: string, store: ImageStore, desc: Descriptor, diffIds: Digest[], index: number, progress: ProgressFn): Promise<number> {
  const diffId = diffIds[index];
  const id = shortId(desc.digest);
  const counter = { got: 0 };
  const feed = new Feed();
  let release!: (ok: boolean) => void;
  const committed = new Promise<void>((resolve, reject) => (release = (ok) => (ok ? resolve() : reject(new Error('layer not verified')))));
  committed.catch(() => undefined);
  const unpacking = store.snapshots.unpackVerified(diffIds, index, feed, committed);
  // Set only when the unpacker failed on its own (a hostile tar), not because the download did.
  let unpackFailure: { error: unknown } | undefined;
  let downloadFailed = false;
  unpacking.catch((e: unknown) => {
    if (!downloadFailed) unpackFailure ??= { error: e };
    feed.abort(e);
  });
  const w = await store.content.writer();
  try {
    // The network's 16–64 KiB pieces regrouped into 1 MiB ones: every stage after costs per chunk.
    for await (const chunk of inflate(coalesce(blobBody(t, repo, desc, counter, throttled(progress, id, 'Downloading', desc.size))))) {
      await Promise.all([w.write(chunk), feed.push(chunk)]);
    }
    feed.end();
  } catch (e) {
    downloadFailed = unpackFailure === undefined;
    feed.fail(e);
    release(false);
    await w.abort();
    await unpacking.catch(() => undefined);
    // A hostile tar stops the download: report the unpacker's words.
    if (unpackFailure) throw unpackFailure.error;
    if (e instanceof BerthError) throw e;
    throw new InvalidArgumentError(`layer ${desc.digest}: download failed: ${(e as Error).message} (got ${counter.got} of ${desc.size} bytes)`, { cause: e });
  }
  progress({ id, status: 'Verifying Checksum' });
  let size: number;
  try {
    size = (await w.commit({ digest: diffId })).size;
  } catch (e) {
    release(false);
    await unpacking.catch(() => undefined);
    throw new InvalidArgumentError(`layer ${desc.digest}: uncompressed content does not match diff ID ${diffId} from the image config: ${(e as Error).message}`);
  }
  progress({ id, status: 'Download complete' });
  progress({ id, status: 'Extracting' });
  release(true);
  await unpacking;
  return size;
}

/**
 * The compressed bytes of a layer blob, counted and hashed; the digest and
 * size are checked at the end. A connection that drops mid-blob is resumed
 * with `Range: bytes=N-`; a registry that answers 200 instead of 206 resends
 * from the start, and the bytes already taken are skipped.
 */
async function* blobBody(t: RegistryTransport, repo: string, desc: Descriptor, counter: { got: number }, tick: (n: number) => void): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const path = `/v2/${repo}/blobs/${desc.digest}`;
  for (let attempt = 0; ; attempt++) {
    const from = counter.got;
    const res = await t.request('GET', path, { scopes: [`repository:${repo}:pull`], headers: from > 0 ? { Range: `bytes=${from}-` } : {} });
    let skip = 0;
    if (from > 0 && res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== from) {
        await res.body?.cancel().catch(() => undefined);
        throw new InvalidArgumentError(`layer ${desc.digest}: resuming at byte ${from}, the registry answered with range "${res.headers.get('content-range') ?? ''}"`);
      }
    } else if (res.status === 200 && res.body) {
      skip = from;
    } else {
      throw await registryError(res, `fetching layer ${desc.digest}`);
    }
    try {
      for await (const raw of res.body!) {
        let c = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        if (skip > 0) {
          const n = Math.min(skip, c.length);
          skip -= n;
          c = c.subarray(n);
          if (!c.length) continue;
        }
        counter.got += c.length;
        if (counter.got > desc.size) throw new InvalidArgumentError(`layer ${desc.digest}: the registry sent more than the ${desc.size} bytes the manifest declares`);
        hash.update(c);
        tick(counter.got);
        yield c;
      }
    } catch (e) {
      await res.body!.cancel().catch(() => undefined);
      // Our own verdicts end the pull; a network failure is worth a resume.
      if (e instanceof BerthError || attempt >= MAX_RESUMES) throw e;
      continue;
    }
    if (counter.got < desc.size && attempt < MAX_RESUMES && counter.got > from) continue;
    break;
  }
  if (counter.got !== desc.size) throw new InvalidArgumentError(`layer ${desc.digest}: truncated: got ${counter.got} of ${desc.size} bytes`);
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== desc.digest) throw new InvalidArgumentError(`layer ${desc.digest}: digest mismatch: the registry sent content hashing to ${actual}`);
}

/**
 * Decompresses by magic bytes: gzip in-process with large output chunks,
 * anything else through decompress(). The source is always read to its end,
 * so its own checks (size, digest) run even if the gzip member ends early.
 */
async function* inflate(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  })();
  if (!(head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b)) {
    const out = decompress(Readable.from(rest, { objectMode: false }));
    for await (const c of out) yield c as Buffer;
    return;
  }
  const gz = createGunzip({ chunkSize: 1 << 20 });
  const stop = new AbortController();
  const pump = (async () => {
    for await (const c of rest) if (!gz.destroyed && !gz.write(c)) await once(gz, 'drain', { signal: stop.signal });
    gz.end();
  })();
  pump.catch((e: unknown) => gz.destroy(e as Error));
  try {
    for await (const c of gz) yield c as Buffer;
    await pump;
  } catch (e) {
    stop.abort();
    const source = await pump.then(() => undefined, (p: unknown) => p);
    // The source's own verdict (digest, size, network) explains more than zlib's.
    if (source !== undefined && (source === e || source instanceof BerthError)) throw source;
    if (typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code!.startsWith('Z_')) throw new Error(`gzip: ${(e as Error).message}`);
    throw e;
  } finally {
    stop.abort();
    gz.destroy();
    await rest.return(undefined).catch(() => undefined);
  }
}
