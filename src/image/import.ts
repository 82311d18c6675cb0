/**
 * `import`: one tarball (plain, gzip or zstd) becomes a one-layer image.
 * The layer is stored uncompressed (its digest is its diffID) and unpacked
 * right away, so a malformed or hostile tar fails the import, not a later run.
 */
import type { Readable } from 'node:stream';
import { decompress } from './compression';
import { applyChanges } from './changes';
import type { ImageStore } from './store';
import { type ImageConfig, type ImageRecord, MEDIA_OCI_LAYER, platformArch } from './types';

export interface ImportOptions {
  ref?: string;
  changes?: string[];
  message?: string;
  /** Shown in history as the source (`-` for stdin, a file name or URL). */
  source?: string;
}

export async function importImage(store: ImageStore, source: Readable, opts: ImportOptions = {}): Promise<ImageRecord> {
  const layer = await store.content.putStream(decompress(source));
  const created = new Date().toISOString();
  const config: ImageConfig = {
    architecture: platformArch(),
    os: 'linux',
    created,
    config: applyChanges({}, opts.changes ?? []),
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created, created_by: '', comment: opts.message || `Imported from ${opts.source ?? '-'}` }],
  };
  const desc = { mediaType: MEDIA_OCI_LAYER, digest: layer.digest, size: layer.size };
  const snaps = store.snapshots;
  try {
    await snaps.prepare(config.rootfs.diff_ids, async () => decompress(store.content.stream(layer.digest)));
  } catch (e) {
    if (!store.list().some((i) => i.manifest.layers.some((l) => l.digest === layer.digest))) await store.content.delete(layer.digest);
    throw e;
  }
  return store.create(config, [desc], opts.ref);
}
