/**
 * Mark and sweep for the registry's blob store: every manifest revision in
 * every repository marks itself, its config and layers, and (for an index)
 * its children. Unmarked blobs older than a grace period are deleted, so an
 * upload committed moments ago whose manifest is not pushed yet survives a GC
 * run while serving. Abandoned uploads older than a week are purged too.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Digest } from '../../image/digest';
import { FsStorage } from './storage';

export interface GcResult {
  marked: number;
  deleted: Digest[];
  freedBytes: number;
  uploadsPurged: number;
}

const GRACE_MS = 60 * 60 * 1000;
const UPLOAD_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

export async function collectGarbage(root: string, opts: { dryRun?: boolean; graceMs?: number } = {}): Promise<GcResult> {
  const store = new FsStorage(root);
  await store.init();
  const marked = new Set<Digest>();
  for (const repo of await store.repositories()) {
    for (const d of await store.revisions(repo)) {
      const m = await store.getManifest(repo, d);
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
  for (const d of await store.blobNames()) {
    if (marked.has(d)) continue;
    const st = await fsp.stat(store.blobPath(d)).catch(() => undefined);
    if (!st || st.mtimeMs > cutoff) continue;
    res.deleted.push(d);
    res.freedBytes += st.size;
    if (!opts.dryRun) await fsp.rm(dirname(store.blobPath(d)), { recursive: true, force: true });
  }
  const uploadCutoff = Date.now() - UPLOAD_MAX_AGE_MS;
  for (const repo of await store.repositories()) {
    const dir = join(root, 'repositories', repo, '_uploads');
    for (const id of await fsp.readdir(dir).catch(() => [] as string[])) {
      const started = Date.parse(await fsp.readFile(join(dir, id, 'startedat'), 'utf8').catch(() => ''));
      if (Number.isFinite(started) && started > uploadCutoff) continue;
      res.uploadsPurged++;
      if (!opts.dryRun) await fsp.rm(join(dir, id), { recursive: true, force: true });
    }
  }
  return res;
}
