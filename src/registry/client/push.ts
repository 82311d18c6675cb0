/**
 * Push: each layer (stored uncompressed) is skipped (HEAD) or mounted from
 * another repository when an earlier push recorded its compressed digest;
 * otherwise it is gzipped in parallel blocks (gzip.ts) while it uploads, its
 * diffID checked on the way, and the upload closed with the digest the
 * stream hashed to. Layers go three at a time; then the config and an OCI
 * manifest. The compressed digest per diffID is remembered for next time.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InvalidArgumentError } from '../../errors';
import { type Digest, sha256 } from '../../image/digest';
import { fullName, fullString } from '../../image/reference';
import type { ImageStore } from '../../image/store';
import { type Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST } from '../../image/types';
import { CompressedMap } from './compressed';
import { parallelGzip } from './gzip';
import { registryError } from './errors';
import { runBounded } from './pool';
import { type ProgressFn, shortId, throttled } from './progress';
import { openSession, type SessionOptions } from './session';
import type { RegistryTransport } from './transport';
import { blobExists, DEFAULT_CHUNK, finishUpload, startUpload, uploadBlob, uploadStream } from './upload';

export interface PushOptions extends SessionOptions {
  /** Upload in chunks (POST/PATCH/PUT) above this size; smaller blobs go in one PUT. */
  chunkSize?: number;
}

export interface PushResult {
  digest: Digest;
  size: number;
  tag: string;
  repoDigest: string;
}

/** Pushes the local image named `refStr` (default tag latest) to its registry. */
export async function pushImage(store: ImageStore, refStr: string, opts: PushOptions = {}): Promise<PushResult> {
  const { ref, t } = openSession(refStr, opts);
  const progress: ProgressFn = opts.progress ?? (() => undefined);
  const rec = store.resolve(fullString(ref));
  const repo = ref.path;
  const domainRepo = fullName(ref);
  const map = new CompressedMap(store);
  const tag = ref.tag ?? 'latest';
  progress({ status: `The push refers to repository [${domainRepo}]` });
  await t.ping();

  const diffIds = rec.config.rootfs.diff_ids;
  const pushed: Array<{ digest: Digest; size: number }> = [];
  for (const d of diffIds) progress({ id: shortId(d), status: 'Preparing' });
  await runBounded(diffIds, opts.concurrency ?? 5, async (diffId, i) => {
    const id = shortId(diffId);
    const known = await map.get(diffId);
    let declined: string | undefined;
    if (known) {
      if (await blobExists(t, repo, known.digest)) {
        pushed[i] = known;
        progress({ id, status: 'Layer already exists' });
        return;
      }
      for (const from of known.repos) {
        const slash = from.indexOf('/');
        if (from.slice(0, slash) !== ref.domain || from.slice(slash + 1) === repo) continue;
        const r = await startUpload(t, repo, known.digest, from.slice(slash + 1));
        if (r === 'mounted') {
          pushed[i] = known;
          await map.record(diffId, known.digest, known.size, domainRepo);
          progress({ id, status: `Mounted from ${from.slice(slash + 1)}` });
          return;
        }
        // Declined: the registry opened an ordinary upload instead; use it.
        declined = r;
        break;
      }
    }
    const loc = declined ?? (await startUpload(t, repo));
    if (loc === 'mounted') throw new InvalidArgumentError('registry reported a mount that was not asked for');
    const total = rec.manifest.layers[i]?.size ?? 0;
    progress({ id, status: 'Pushing', current: 0, total });
    const c = await pushLayer(t, repo, store, diffId, loc, throttled(progress, id, 'Pushing', total), opts.chunkSize);
    progress({ id, status: 'Pushed' });
    await map.record(diffId, c.digest, c.size, domainRepo);
    pushed[i] = c;
  });

  const configBytes = await store.content.read(rec.manifest.config.digest);
  if (!(await blobExists(t, repo, rec.manifest.config.digest))) {
    const loc = await startUpload(t, repo);
    if (loc === 'mounted') throw new InvalidArgumentError('registry reported a mount that was not asked for');
    await uploadBlob(t, repo, loc, { kind: 'buffer', data: configBytes }, rec.manifest.config.digest, configBytes.length, () => undefined, opts.chunkSize ?? DEFAULT_CHUNK);
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_OCI_MANIFEST,
    config: { mediaType: MEDIA_OCI_CONFIG, digest: rec.manifest.config.digest, size: configBytes.length },
    layers: pushed.map((p) => ({ mediaType: MEDIA_OCI_LAYER_GZIP, digest: p.digest, size: p.size })),
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(body);
  const res = await t.request('PUT', `/v2/${repo}/manifests/${tag}`, { scopes: [`repository:${repo}:pull,push`], body, headers: { 'Content-Type': MEDIA_OCI_MANIFEST, 'Content-Length': String(body.length) } });
  await res.body?.cancel().catch(() => undefined);
  if (res.status !== 201) throw await registryError(res, `pushing manifest ${domainRepo}:${tag}`);
  const said = res.headers.get('docker-content-digest');
  if (said && said !== digest) throw new InvalidArgumentError(`registry stored manifest ${domainRepo}:${tag} as ${said}, but it hashes to ${digest}`);
  progress({ status: `${tag}: digest: ${digest} size: ${body.length}` });
  return { digest, size: body.length, tag, repoDigest: `${domainRepo}@${digest}` };
}

/**
 * Streams one layer: read → sha256 (must equal the diffID: a corrupted store
 * is never published) → parallel gzip → sha256 + size → upload. The upload is
 * closed with its digest only after both checks, so a failure leaves nothing
 * committed at the registry.
 */
async function pushLayer(t: RegistryTransport, repo: string, store: ImageStore, diffId: Digest, location: string, onBytes: (n: number) => void, chunk?: number): Promise<{ digest: Digest; size: number }> {
  const raw = createHash('sha256');
  let read = 0;
  async function* local(): AsyncGenerator<Buffer> {
    for await (const c of createReadStream(store.content.path(diffId), { highWaterMark: 1 << 20 })) {
      raw.update(c as Buffer);
      read += (c as Buffer).length;
      onBytes(read);
      yield c as Buffer;
    }
  }
  const hash = createHash('sha256');
  let size = 0;
  async function* compressed(): AsyncGenerator<Buffer[]> {
    for await (const pieces of parallelGzip(local())) {
      for (const p of pieces) {
        hash.update(p);
        size += p.length;
      }
      yield pieces;
    }
    const actual = `sha256:${raw.digest('hex')}`;
    if (actual !== diffId) throw new InvalidArgumentError(`local layer ${diffId} is corrupt (hashes to ${actual}); remove and re-pull the image`);
  }
  const end = await uploadStream(t, repo, location, compressed(), `layer ${shortId(diffId)}`, chunk);
  const digest: Digest = `sha256:${hash.digest('hex')}`;
  await finishUpload(t, repo, end, digest);
  return { digest, size };
}
