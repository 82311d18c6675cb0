/**
 * `docker save`: one tar holding both the docker-archive view (manifest.json,
 * repositories) and an OCI image layout (oci-layout, index.json, blobs/),
 * laid out as Docker 25+ writes it. Layers go out uncompressed under their
 * diffID, so blobs/sha256/<diffid> serves both views. Output bytes depend only
 * on the images and the names asked for: sorted entries, fixed modes, mtime 0
 * or the image's created time (as moby does).
 */
import { createHash } from 'node:crypto';
import { InternalError, InvalidArgumentError } from '../../errors';
import { type Digest, hexOf, isValidDigest } from '../digest';
import { fullName, fullString, parseReference, type ImageReference } from '../reference';
import { displayRef, type ImageStore } from '../store';
import { writeTar, type TarWriteItem } from '../tar';
import {
  ANNOTATION_REF,
  type Descriptor,
  type ImageIndex,
  type ImageRecord,
  type Manifest,
  MEDIA_OCI_CONFIG,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_LAYER,
  MEDIA_OCI_MANIFEST,
} from '../types';
import {
  ANNOTATION_CONTAINERD_NAME,
  HEX64,
  INDEX_FILE,
  MANIFEST_FILE,
  type ManifestItem,
  OCI_LAYOUT_CONTENT,
  OCI_LAYOUT_FILE,
  REPOSITORIES_FILE,
} from './common';

interface Selected {
  rec: ImageRecord;
  /** Full references to record for this image, in the order asked. */
  refs: string[];
}

/** A file of the output: bytes in memory, or a blob streamed from the content store. */
interface OutFile {
  mtime: number;
  data?: Buffer;
  blob?: { digest: Digest; size: number };
}

function tryParse(s: string): ImageReference | undefined {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}

/**
 * Which images and tags `names` mean, following moby's parseNames: an ID
 * saves no tags, `repo:tag` saves that tag, a bare `repo` saves every tag of
 * that repository (or falls back to an ID prefix), `repo@digest` no tags.
 */
function selectImages(store: ImageStore, names: string[]): Selected[] {
  const out = new Map<Digest, Selected>();
  const add = (rec: ImageRecord, ref?: string): void => {
    let sel = out.get(rec.id);
    if (!sel) {
      sel = { rec, refs: [] };
      out.set(rec.id, sel);
    }
    if (ref && !sel.refs.includes(ref)) sel.refs.push(ref);
  };
  for (const raw of names) {
    const name = raw.trim();
    if (isValidDigest(name) || HEX64.test(name)) {
      add(store.resolve(name));
      continue;
    }
    const parsed = tryParse(name);
    if (parsed && parsed.digest === undefined && parsed.tag === undefined) {
      const repo = fullName(parsed);
      let hit = false;
      for (const rec of store.list()) {
        for (const r of rec.refs) {
          const p = tryParse(r);
          if (p && fullName(p) === repo && p.tag !== undefined) {
            add(rec, r);
            hit = true;
          }
        }
      }
      if (!hit) add(store.resolve(name));
      continue;
    }
    const rec = store.resolve(name);
    if (parsed && parsed.digest === undefined) {
      const full = fullString(parsed);
      add(rec, rec.refs.includes(full) ? full : undefined);
    } else {
      add(rec);
    }
  }
  return [...out.values()];
}

/** The image's created time as a tar mtime; 0 when absent or unparsable. */
function createdSeconds(rec: ImageRecord): number {
  const t = rec.config.created ? Date.parse(rec.config.created) : NaN;
  return Number.isFinite(t) && t > 0 ? Math.floor(t / 1000) : 0;
}

/** Streams a blob, re-hashing it: a corrupt store must not produce a plausible archive. */
async function* verifiedBlob(store: ImageStore, digest: Digest): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of store.content.stream(digest)) {
    const b = chunk as Buffer;
    hash.update(b);
    yield b;
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== digest) throw new InternalError(`content store blob ${digest} is corrupt: it hashes to ${actual}`);
}

/** Sorted-key JSON for maps, as Go's encoding/json writes them. */
function sortedRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [k, v] of [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) out[k] = v;
  return out;
}

export async function* saveImages(store: ImageStore, names: string[]): AsyncGenerator<Buffer> {
  if (names.length === 0) throw new InvalidArgumentError('save: no images given');
  const selected = selectImages(store, names);

  const files = new Map<string, OutFile>();
  const items: ManifestItem[] = [];
  const repos = new Map<string, Map<string, string>>();
  const indexEntries: Descriptor[] = [];

  for (const { rec, refs } of selected) {
    const mtime = createdSeconds(rec);
    const configBytes = await store.content.read(rec.id);
    const diffIds = rec.config.rootfs.diff_ids;
    const layers: Descriptor[] = [];
    for (const d of diffIds) {
      // Berth keeps layers uncompressed under their diffID; that blob is what both views name.
      const info = await store.content.info(d);
      if (!info) throw new InternalError(`save: layer ${d} of image ${rec.id} is missing from the content store`);
      layers.push({ mediaType: MEDIA_OCI_LAYER, digest: d, size: info.size });
      const path = `blobs/sha256/${hexOf(d)}`;
      if (!files.has(path)) files.set(path, { mtime, blob: { digest: d, size: info.size } });
    }
    files.set(`blobs/sha256/${hexOf(rec.id)}`, { mtime, data: configBytes });

    // A manifest for exactly the blobs written here (same shape as ImageStore.create's).
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_OCI_MANIFEST,
      config: { mediaType: MEDIA_OCI_CONFIG, digest: rec.id, size: configBytes.length },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest: Digest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
    files.set(`blobs/sha256/${hexOf(manifestDigest)}`, { mtime: 0, data: manifestBytes });

    const platform: NonNullable<Descriptor['platform']> = { architecture: rec.config.architecture, os: rec.config.os };
    if (rec.config.variant) platform.variant = rec.config.variant;
    const base = { mediaType: MEDIA_OCI_MANIFEST, digest: manifestDigest, size: manifestBytes.length };
    const repoTags: string[] = [];
    for (const full of refs) {
      const ref = parseReference(full);
      const tag = ref.tag ?? 'latest';
      repoTags.push(displayRef(full));
      indexEntries.push({ ...base, annotations: { [ANNOTATION_CONTAINERD_NAME]: full, [ANNOTATION_REF]: tag }, platform });
      if (diffIds.length > 0) {
        const familiar = displayRef(fullName(ref));
        let tags = repos.get(familiar);
        if (!tags) repos.set(familiar, (tags = new Map()));
        tags.set(tag, hexOf(diffIds[diffIds.length - 1]));
      }
    }
    // Docker leaves untagged images out of index.json; listing them keeps the OCI view complete.
    if (refs.length === 0) indexEntries.push({ ...base, platform });

    items.push({
      Config: `blobs/sha256/${hexOf(rec.id)}`,
      // Go marshals a nil slice as null, and Docker's loader accepts both.
      RepoTags: repoTags.length > 0 ? repoTags : null,
      Layers: diffIds.map((d) => `blobs/sha256/${hexOf(d)}`),
    });
  }

  // Newlines and spacing as moby writes them (json.Encoder for these two, Marshal for index.json).
  files.set(MANIFEST_FILE, { mtime: 0, data: Buffer.from(JSON.stringify(items) + '\n') });
  if (repos.size > 0) {
    const obj = sortedRecord([...repos].map(([name, tags]) => [name, sortedRecord(tags)] as [string, Record<string, string>]));
    files.set(REPOSITORIES_FILE, { mtime: 0, data: Buffer.from(JSON.stringify(obj) + '\n') });
  }
  files.set(OCI_LAYOUT_FILE, { mtime: 0, data: Buffer.from(OCI_LAYOUT_CONTENT) });
  const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests: indexEntries };
  files.set(INDEX_FILE, { mtime: 0, data: Buffer.from(JSON.stringify(index)) });

  const paths = [...files.keys()].sort();
  function* entries(): Generator<TarWriteItem> {
    yield { entry: { name: 'blobs/', type: 'directory', mode: 0o755 } };
    yield { entry: { name: 'blobs/sha256/', type: 'directory', mode: 0o755 } };
    for (const path of paths) {
      const f = files.get(path) as OutFile;
      if (f.data) {
        yield { entry: { name: path, type: 'file', mode: 0o644, mtime: f.mtime }, body: f.data };
      } else if (f.blob) {
        yield {
          entry: { name: path, type: 'file', mode: 0o644, mtime: f.mtime, size: f.blob.size },
          body: verifiedBlob(store, f.blob.digest),
        };
      }
    }
  }
  yield* writeTar(entries());
}
