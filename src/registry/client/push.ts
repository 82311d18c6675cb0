/**
 * Push: each layer (stored uncompressed) is gzipped deterministically to a
 * temp file while hashing, then skipped (HEAD), mounted from another
 * repository, or uploaded; three layers at a time. Then the config and an OCI
 * manifest. The compressed digest per diffID is remembered for next time.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { InvalidArgumentError } from '../../errors';
import { type Digest, sha256 } from '../../image/digest';
import { fullName, fullString } from '../../image/reference';
import type { ImageStore } from '../../image/store';
import { type Manifest, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_MANIFEST } from '../../image/types';
import { CompressedMap } from './compressed';
import { registryError } from './errors';
import { runBounded } from './pool';
import { type ProgressFn, shortId, throttled } from './progress';
import { openSession, type SessionOptions } from './session';
import { blobExists, DEFAULT_CHUNK, startUpload, uploadBlob } from './upload';

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
  await runBounded(diffIds, opts.concurrency ?? 3, async (diffId, i) => {
    const id = shortId(diffId);
    const known = await map.get(diffId);
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
        // Registry declined the mount and opened an ordinary upload; cancel it by letting it expire.
        break;
      }
    }
    const tmp = join(store.content.ingestDir, `push-${randomBytes(8).toString('hex')}.gz`);
    try {
      const c = await compressLayer(store, diffId, tmp);
      if (known && known.digest !== c.digest) throw new InvalidArgumentError(`layer ${diffId}: compression is not reproducible (got ${c.digest}, earlier ${known.digest})`);
      if (known || !(await blobExists(t, repo, c.digest))) {
        progress({ id, status: 'Pushing', current: 0, total: c.size });
        const loc = await startUpload(t, repo);
        if (loc === 'mounted') throw new InvalidArgumentError('registry reported a mount that was not asked for');
        await uploadBlob(t, repo, loc, { kind: 'file', path: tmp }, c.digest, c.size, throttled(progress, id, 'Pushing', c.size), opts.chunkSize ?? DEFAULT_CHUNK);
        progress({ id, status: 'Pushed' });
      } else {
        progress({ id, status: 'Layer already exists' });
      }
      await map.record(diffId, c.digest, c.size, domainRepo);
      pushed[i] = c;
    } finally {
      await fsp.rm(tmp, { force: true });
    }
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

/** gzip with default level and an empty header (no name, mtime 0): the same input always gives the same bytes. */
async function compressLayer(store: ImageStore, diffId: Digest, dest: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const raw = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      raw.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(store.content.stream(diffId), check, createGzip(), tap, createWriteStream(dest, { mode: 0o600 }));
  // The local blob is trusted only as its hash: a corrupted store must not be published.
  const actual = `sha256:${raw.digest('hex')}`;
  if (actual !== diffId) throw new InvalidArgumentError(`local layer ${diffId} is corrupt (hashes to ${actual}); remove and re-pull the image`);
  return { digest: `sha256:${hash.digest('hex')}`, size };
}
