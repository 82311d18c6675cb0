/**
 * Mark and sweep for the registry's blob store: every manifest revision in
 * every repository marks itself, its config and layers, and (for an index)
 * its children. Unmarked blobs older than a grace period are deleted, so an
 * upload committed moments ago whose manifest is not pushed yet survives a GC
 * run while serving. Abandoned uploads older than a week are purged too.
 * Works on any storage driver through the RegistryStorage interface.
 */
import type { Digest } from '../../image/digest';
import type { RegistryStorage } from './storage';
import { FsStorage } from './storage-fs';

export interface GcResult {
  marked: number;
  deleted: Digest[];
  freedBytes: number;
  uploadsPurged: number;
}

const GRACE_MS = 60 * 60 * 1000;
const UPLOAD_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** `store` is a storage driver, or a filesystem root directory. */
export async function collectGarbage(store: RegistryStorage | string, opts: { dryRun?: boolean; graceMs?: number } = {}): Promise<GcResult> {
  const s = typeof store === 'string' ? new FsStorage(store) : store;
  await s.init();
  const marked = new Set<Digest>();
  for (const repo of await s.repositories()) {
    for (const d of await s.revisions(repo)) {
      const m = await s.getManifest(repo, d);
      if (!m) continue;
      marked.add(d);
      try {
        const doc = JSON.parse(m.bytes.toString('utf8')) as { config?: { digest?: string }; layers?: Array<{ digest?: string }>; manifests?: Array<{ digest?: string }> };
        for (const x of [doc.config, ...(doc.layers ?? []), ...(doc.manifests ?? [])]) if (x?.digest?.startsWith('sha256:')) marked.add(x.digest as Digest);
      } catch {
        // An unparsable manifest keeps only itself.
      }
    }
  }
  const cutoff = Date.now() - (opts.graceMs ?? GRACE_MS);
  const res: GcResult = { marked: marked.size, deleted: [], freedBytes: 0, uploadsPurged: 0 };
  for await (const b of s.listBlobs()) {
    if (marked.has(b.digest) || b.modified > cutoff) continue;
    res.deleted.push(b.digest);
    res.freedBytes += b.size;
    if (!opts.dryRun) await s.deleteBlob(b.digest);
  }
  const uploadCutoff = Date.now() - UPLOAD_MAX_AGE_MS;
  for await (const u of s.listUploads()) {
    if (Number.isFinite(u.startedAt) && u.startedAt > uploadCutoff) continue;
    res.uploadsPurged++;
    if (!opts.dryRun) await s.purgeUpload(u.name, u.id);
  }
  return res;
}
