/**
 * The image store: an OCI image layout under `<root>/image` whose index.json
 * lists every image's manifest, annotated with the references that name it.
 * Image ID = digest of the image config, as Docker. The index is rewritten
 * atomically under a lock, so concurrent tag/rmi calls never tear it.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../errors';
import { atomicWriteJson, KeyedMutex, readJson } from '../sys/fsutil';
import { ContentStore } from './content/store';
import { type Digest, chainIds, isValidDigest } from './digest';
import { familiarString, fullString, parseReference, withDefaultTag } from './reference';
import { Snapshotter } from './snapshot/snapshotter';
import {
  ANNOTATION_NAME,
  ANNOTATION_REPO_DIGESTS,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageRecord,
  type Manifest,
  MEDIA_OCI_CONFIG,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_MANIFEST,
} from './types';

const GC_GRACE_MS = 60_000;

/**
 * containerd's lease: what a running operation (a build) uses — blobs and
 * layer-chain snapshots — is kept from garbage collection until it is
 * released, whatever its age. Pin through ImageStore.pin, so a pin never lands
 * in the middle of a sweep.
 */
export class Lease {
  readonly blobs = new Set<Digest>();
  readonly chains = new Set<Digest>();
  constructor(private readonly owner: Set<Lease>) {}

  /** Idempotent; also after a failure. */
  release(): void {
    this.owner.delete(this);
    this.blobs.clear();
    this.chains.clear();
  }
}

/** What a lease pins: blobs by digest, and the snapshots of the layer chain `diffIds` (each prefix). */
export interface LeaseRefs {
  blobs?: Iterable<Digest>;
  diffIds?: Digest[];
}

export interface RemoveResult {
  untagged: string[];
  deleted: Digest[];
}

/** Normalises a user's reference (`busybox` → `docker.io/library/busybox:latest`). */
export function normalizeRef(ref: string): string {
  return fullString(withDefaultTag(parseReference(ref)));
}

export function displayRef(full: string): string {
  return familiarString(parseReference(full));
}

export class ImageStore {
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  private images = new Map<Digest, ImageRecord>();
  private refs = new Map<string, Digest>();
  private lock = new KeyedMutex();
  private readonly indexPath: string;
  private readonly leases = new Set<Lease>();
  /** Set while a sweep runs: pins wait for it, then the caller re-checks what exists. */
  private sweeping?: Promise<void>;

  constructor(root: string) {
    this.content = new ContentStore(join(root, 'image'));
    this.snapshots = new Snapshotter(join(root, 'snapshots'));
    this.indexPath = join(root, 'image', 'index.json');
  }

  async init(): Promise<void> {
    await this.content.init();
    await this.snapshots.init();
    const index = await readJson<ImageIndex>(this.indexPath);
    for (const desc of index?.manifests ?? []) {
      try {
        const manifest = await this.content.readJson<Manifest>(desc.digest);
        const config = await this.content.readJson<ImageConfig>(manifest.config.digest);
        const rec = this.images.get(manifest.config.digest) ?? this.record(desc.digest, manifest, config);
        this.images.set(rec.id, rec);
        for (const rd of (desc.annotations?.[ANNOTATION_REPO_DIGESTS] ?? '').split(',').filter(Boolean)) if (!rec.repoDigests.includes(rd)) rec.repoDigests.push(rd);
        const name = desc.annotations?.[ANNOTATION_NAME];
        if (name && !rec.refs.includes(name)) {
          rec.refs.push(name);
          this.refs.set(name, rec.id);
        }
      } catch {
        // A manifest whose blobs are gone is dropped rather than breaking startup.
      }
    }
  }

  private record(manifestDigest: Digest, manifest: Manifest, config: ImageConfig): ImageRecord {
    const size = manifest.layers.reduce((n, l) => n + l.size, 0);
    return { id: manifest.config.digest, manifestDigest, refs: [], config, manifest, size, repoDigests: [] };
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  byId(id: Digest): ImageRecord | undefined {
    return this.images.get(id);
  }

  /** Looks an image up as Docker does: full ID, reference, then unique ID prefix. */
  resolve(nameOrId: string): ImageRecord {
    const found = this.find(nameOrId);
    if (!found) throw new NotFoundError(`No such image: ${nameOrId}`);
    return found;
  }

  find(nameOrId: string): ImageRecord | undefined {
    const s = nameOrId.trim();
    if (isValidDigest(s)) return this.images.get(s);
    if (/^[a-f0-9]{64}$/.test(s)) return this.images.get(`sha256:${s}`);
    let full: string | undefined;
    try {
      full = normalizeRef(s);
    } catch {
      full = undefined;
    }
    if (full) {
      const id = this.refs.get(full);
      if (id) return this.images.get(id);
    }
    const prefix = s.startsWith('sha256:') ? s.slice(7) : s;
    if (/^[a-f0-9]{1,64}$/.test(prefix)) {
      const hits = [...this.images.keys()].filter((id) => id.slice(7).startsWith(prefix));
      if (hits.length === 1) return this.images.get(hits[0]);
      if (hits.length > 1) throw new ConflictError(`ambiguous image ID prefix ${s}: matches ${hits.length} images`);
    }
    return undefined;
  }

  /** Stores config + manifest for layers already in the content store; optionally tags the result. */
  async create(config: ImageConfig, layers: Descriptor[], ref?: string): Promise<ImageRecord> {
    if (config.rootfs.diff_ids.length !== layers.length)
      throw new InvalidArgumentError('image config lists a different number of layers than the manifest');
    const cfg = await this.content.put(JSON.stringify(config));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_OCI_MANIFEST,
      config: { mediaType: MEDIA_OCI_CONFIG, digest: cfg.digest, size: cfg.size },
      layers,
    };
    const man = await this.content.put(JSON.stringify(manifest));
    return this.add(man.digest, manifest, config, ref);
  }

  /** Registers a manifest that is already in the content store (load, pull). */
  async add(manifestDigest: Digest, manifest: Manifest, config: ImageConfig, ref?: string): Promise<ImageRecord> {
    const full = ref ? normalizeRef(ref) : undefined;
    return this.lock.run('index', async () => {
      let rec = this.images.get(manifest.config.digest);
      if (!rec) {
        rec = this.record(manifestDigest, manifest, config);
        this.images.set(rec.id, rec);
      }
      if (full) this.setRef(full, rec);
      await this.save();
      return rec;
    });
  }

  private setRef(full: string, rec: ImageRecord): void {
    const prevId = this.refs.get(full);
    if (prevId === rec.id) return;
    if (prevId) {
      const prev = this.images.get(prevId);
      if (prev) prev.refs = prev.refs.filter((r) => r !== full);
    }
    this.refs.set(full, rec.id);
    rec.refs.push(full);
  }

  async tag(nameOrId: string, ref: string): Promise<void> {
    const full = normalizeRef(ref);
    await this.lock.run('index', async () => {
      const rec = this.resolve(nameOrId);
      this.setRef(full, rec);
      await this.save();
    });
  }

  /**
   * rmi: untag a reference, and delete the image when nothing names it and no
   * container uses it. `usedBy` returns the IDs of containers using an image.
   */
  async remove(nameOrId: string, opts: { force: boolean; usedBy: (id: Digest) => { id: string; running: boolean }[] }): Promise<RemoveResult> {
    return this.lock.run('index', async () => {
      const rec = this.resolve(nameOrId);
      const res: RemoveResult = { untagged: [], deleted: [] };
      const users = opts.usedBy(rec.id);
      const short = rec.id.slice(7, 19);
      let byRef: string | undefined;
      try {
        const full = normalizeRef(nameOrId);
        if (this.refs.get(full) === rec.id) byRef = full;
      } catch {
        byRef = undefined;
      }
      if (byRef && (rec.refs.length > 1 || (users.length > 0 && opts.force))) {
        this.untag(byRef, rec, res);
        await this.save();
        return res;
      }
      if (users.length > 0) {
        const running = users.find((u) => u.running);
        if (running) throw new ConflictError(`conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`);
        if (!opts.force) {
          if (byRef)
            throw new ConflictError(`conflict: unable to remove repository reference "${displayRef(byRef)}" (must force) - container ${users[0].id.slice(0, 12)} is using its referenced image ${short}`);
          throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${users[0].id.slice(0, 12)}`);
        }
      }
      if (!byRef && rec.refs.length > 1 && !opts.force)
        throw new ConflictError(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
      for (const r of [...rec.refs]) this.untag(r, rec, res);
      if (users.length === 0) {
        this.images.delete(rec.id);
        res.deleted.push(rec.id);
      }
      await this.save();
      return res;
    });
  }

  private untag(full: string, rec: ImageRecord, res: RemoveResult): void {
    rec.refs = rec.refs.filter((r) => r !== full);
    this.refs.delete(full);
    res.untagged.push(displayRef(full));
  }

  /** Records where an image lives in a registry; one digest per repository, the newest wins. */
  async addRepoDigest(id: Digest, repoDigest: string): Promise<void> {
    await this.lock.run('index', async () => {
      const rec = this.images.get(id);
      if (!rec) return;
      const repo = repoDigest.slice(0, repoDigest.indexOf('@'));
      rec.repoDigests = [...rec.repoDigests.filter((r) => !r.startsWith(`${repo}@`)), repoDigest];
      await this.save();
    });
  }

  /** Drops images by ID without checks (prune has done them). */
  async forget(ids: Digest[]): Promise<void> {
    await this.lock.run('index', async () => {
      for (const id of ids) {
        const rec = this.images.get(id);
        if (!rec) continue;
        for (const r of rec.refs) this.refs.delete(r);
        this.images.delete(id);
      }
      await this.save();
    });
  }

  private async save(): Promise<void> {
    const manifests: Descriptor[] = [];
    for (const rec of this.images.values()) {
      const base: Descriptor = { mediaType: MEDIA_OCI_MANIFEST, digest: rec.manifestDigest, size: Buffer.byteLength(JSON.stringify(rec.manifest)) };
      if (rec.repoDigests.length) base.annotations = { [ANNOTATION_REPO_DIGESTS]: rec.repoDigests.join(',') };
      const info = await this.content.info(rec.manifestDigest);
      if (info) base.size = info.size;
      if (rec.refs.length === 0) manifests.push(base);
      for (const r of rec.refs) manifests.push({ ...base, annotations: { ...base.annotations, [ANNOTATION_NAME]: r, 'org.opencontainers.image.ref.name': r.slice(r.lastIndexOf(':') + 1) } });
    }
    const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests };
    await atomicWriteJson(this.indexPath, index, 0o644);
  }

  /** Unpacks (once) and returns an image's layer dirs, bottom → top. */
  async layerDirs(rec: ImageRecord): Promise<string[]> {
    const snaps = await this.snapshots.prepare(rec.config.rootfs.diff_ids, async (i) => {
      const layer = rec.manifest.layers[i];
      const { decompress } = await import('./compression');
      return decompress(this.content.stream(layer.digest));
    });
    return snaps.map((s) => s.dir);
  }

  lease(): Lease {
    const l = new Lease(this.leases);
    this.leases.add(l);
    return l;
  }

  /**
   * Adds refs to a lease. Waits out a running sweep, so once this resolves
   * whatever still exists stays until the lease is released (check existence
   * after pinning, not before).
   */
  async pin(lease: Lease, refs: LeaseRefs): Promise<void> {
    while (this.sweeping) await this.sweeping;
    if (!this.leases.has(lease)) return;
    for (const b of refs.blobs ?? []) lease.blobs.add(b);
    if (refs.diffIds) for (const c of chainIds(refs.diffIds)) lease.chains.add(c);
  }

  /** Removes blobs and snapshots no image refers to (after rmi/prune); leased ones stay. */
  async collectGarbage(): Promise<void> {
    await this.lock.run('index', async () => {
      let done!: () => void;
      this.sweeping = new Promise<void>((r) => (done = r));
      try {
        await this.sweep();
      } finally {
        this.sweeping = undefined;
        done();
      }
    });
  }

  private async sweep(): Promise<void> {
    const keepBlobs = new Set<Digest>();
    const keepChains = new Set<Digest>();
    for (const rec of this.images.values()) {
      keepBlobs.add(rec.manifestDigest);
      keepBlobs.add(rec.manifest.config.digest);
      for (const l of rec.manifest.layers) keepBlobs.add(l.digest);
      for (const c of chainIds(rec.config.rootfs.diff_ids)) keepChains.add(c);
    }
    for (const l of this.leases) {
      for (const b of l.blobs) keepBlobs.add(b);
      for (const c of l.chains) keepChains.add(c);
    }
    // Blobs and snapshots written in the last minute may belong to an import, load or commit
    // that has not indexed its image yet: a lease by age, so GC never races a writer.
    const cutoff = Date.now() - GC_GRACE_MS;
    for (const d of await this.content.list()) {
      if (keepBlobs.has(d)) continue;
      const st = await fsp.stat(this.content.path(d)).catch(() => undefined);
      if (st && st.mtimeMs > cutoff) continue;
      await this.content.delete(d);
    }
    await this.snapshots.prune(keepChains, cutoff);
  }
}
