/**
 * `docker load`: reads a docker-archive (Docker 1.10–24 `<id>/layer.tar`
 * layout, skopeo's `<hex>.tar` layout, or Docker 25+ `blobs/`), or a plain OCI
 * layout tar (index.json only), plain or compressed, in ONE streaming pass.
 *
 * manifest.json may come after the layers, so every file that may be a blob
 * is streamed into the content store as it arrives (decompressed: Berth keeps
 * layers uncompressed) and small files stay in memory; everything is resolved
 * at the end. Archive paths never become host paths, and every name, digest
 * and ID is validated (CVE-2014-9358). Checks all pass before anything is
 * registered; blobs this load added are removed again on failure.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { BerthError, InvalidArgumentError, messageOf } from '../../errors';
import { decompress } from '../compression';
import type { BlobInfo } from '../content/store';
import { type Digest, hexOf, isValidDigest, sha256 } from '../digest';
import { fullString, parseReference, type ImageReference } from '../reference';
import { displayRef, type ImageStore } from '../store';
import { readTar } from '../tar';
import {
  ANNOTATION_REF,
  type Descriptor,
  type ImageConfig,
  type Manifest,
  MEDIA_OCI_CONFIG,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_LAYER,
  MEDIA_OCI_MANIFEST,
  platformArch,
} from '../types';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_DOCKER_REF_TYPE,
  cleanArchivePath,
  HEX64,
  INDEX_FILE,
  MANIFEST_FILE,
  MEDIA_DOCKER_MANIFEST_LIST,
  type ManifestItem,
  OCI_LAYOUT_FILE,
  REPOSITORIES_FILE,
  resolveLinkTarget,
} from './common';

export interface LoadOptions {
  /** Most tar entries accepted (default 100,000). */
  maxEntries?: number;
  /** Largest JSON document (manifest.json, index.json, configs, manifests; default 8 MiB). */
  maxJsonBytes?: number;
  /** Total bytes of small files kept in memory; later files are streamed to the store and read back (default 64 MiB). */
  maxMemoryBytes?: number;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_MAX_JSON = 8 << 20;
const DEFAULT_MAX_MEMORY = 64 << 20;
const MAX_LINK_HOPS = 40;
const MAX_INDEX_DEPTH = 4;

/** One regular file of the archive, as far as the loader keeps it. */
interface ArchiveFile {
  path: string;
  /** sha256 of the bytes as they are in the archive (possibly compressed). */
  raw: Digest;
  rawSize: number;
  /** Small files: the bytes themselves. */
  data?: Buffer;
  /** The (decompressed) content, once it is in the content store. */
  stored?: BlobInfo;
}

/** An image whose blobs are all verified and stored, ready to register. */
interface Planned {
  configDigest: Digest;
  configBytes: Buffer;
  config: ImageConfig;
  layers: BlobInfo[];
  refs: string[];
}

function show(s: string): string {
  return JSON.stringify(s);
}

function invalid(msg: string): InvalidArgumentError {
  return new InvalidArgumentError(`load: ${msg}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`${what} is not valid JSON: ${messageOf(e)}`);
  }
}

function checkDigest(v: unknown, what: string): Digest {
  if (typeof v !== 'string' || !isValidDigest(v)) throw invalid(`${what} has invalid digest ${show(String(v))}: want sha256:<64 hex digits>`);
  return v;
}

/**
 * decompress() whose output always has an 'error' listener: its internal
 * pipe() re-emits a late error on the output, which would otherwise crash the
 * process once the consumer has stopped listening. Errors still reach readers.
 */
function decompressed(source: Readable): Readable {
  const out = decompress(source);
  out.on('error', () => undefined);
  return out;
}

/** Resolves after `drain` or `close`, never rejects (errors surface through the consumer). */
function drained(s: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}

/**
 * Streams one archive file into the content store, decompressing it and
 * hashing the raw bytes on the way. The body is always read to its end, so
 * the tar reader can move on even when the store side failed early.
 */
async function ingestStream(store: ImageStore, body: AsyncIterable<Buffer>): Promise<{ raw: Digest; rawSize: number; stored: BlobInfo }> {
  const hash = createHash('sha256');
  let rawSize = 0;
  const pipe = new PassThrough({ highWaterMark: 1 << 20 });
  pipe.on('error', () => undefined);
  let settled = false;
  const consumer = store.content.putStream(decompressed(pipe)).finally(() => {
    settled = true;
  });
  // Observed below; this only keeps a rejection from being reported as unhandled meanwhile.
  consumer.catch(() => undefined);
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      rawSize += chunk.length;
      if (settled || pipe.destroyed) continue;
      if (!pipe.write(chunk)) await Promise.race([drained(pipe), consumer.then(() => undefined, () => undefined)]);
    }
  } catch (e) {
    pipe.destroy(e instanceof Error ? e : new Error(String(e)));
    await consumer.catch(() => undefined);
    throw e;
  }
  pipe.end();
  const stored = await consumer;
  return { raw: `sha256:${hash.digest('hex')}`, rawSize, stored };
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

/** What the archive holds, by cleaned path; links are resolved inside the archive only. */
class ArchiveContents {
  readonly files = new Map<string, ArchiveFile>();
  readonly links = new Map<string, string>();
  memory = 0;

  setFile(f: ArchiveFile): void {
    this.links.delete(f.path);
    this.files.set(f.path, f);
  }

  setLink(path: string, target: string): void {
    this.files.delete(path);
    this.links.set(path, target);
  }

  /** Follows symlinks/hard links component by component, like FollowSymlinkInScope but on archive paths. */
  get(path: string): ArchiveFile | undefined {
    let parts = path.split('/');
    let hops = 0;
    for (let i = 0; i < parts.length; ) {
      const target = this.links.get(parts.slice(0, i + 1).join('/'));
      if (target === undefined) {
        i++;
        continue;
      }
      if (++hops > MAX_LINK_HOPS) throw invalid(`too many levels of links resolving ${show(path)} in the archive`);
      parts = [...(target === '' ? [] : target.split('/')), ...parts.slice(i + 1)];
      i = 0;
    }
    return this.files.get(parts.join('/'));
  }
}

/** Names the loader reads as metadata (kept in memory, size-capped); anything else may be a blob. */
function classify(path: string): 'meta' | 'blob' {
  const parts = path.split('/');
  if (parts.length === 1) {
    if (path === MANIFEST_FILE || path === REPOSITORIES_FILE || path === INDEX_FILE || path === OCI_LAYOUT_FILE) return 'meta';
    return path.endsWith('.json') ? 'meta' : 'blob';
  }
  if (parts.length === 2 && (parts[1] === 'json' || parts[1] === 'VERSION' || parts[1] === 'layer.tar')) {
    // Legacy per-layer directories are named by v1 layer IDs; anything else is forged.
    if (!HEX64.test(parts[0])) throw invalid(`invalid layer ID ${show(parts[0])} in archive entry ${show(path)}: want 64 lowercase hex digits`);
    return parts[1] === 'layer.tar' ? 'blob' : 'meta';
  }
  if (parts[0] === 'blobs' && parts[1] === 'sha256') {
    if (parts.length !== 3 || !HEX64.test(parts[2])) throw invalid(`invalid blob name ${show(path)}: want blobs/sha256/<64 hex digits>`);
  }
  return 'blob';
}

/** The digest an archive path claims for its content, if its name carries one. */
function claimedDigest(path: string): Digest | undefined {
  const m = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.json)$/.exec(path);
  const hex = m?.[1] ?? m?.[2];
  return hex ? `sha256:${hex}` : undefined;
}

function parseConfig(bytes: Buffer, what: string): ImageConfig {
  const v = parseJson(bytes, what);
  if (!isObject(v)) throw invalid(`${what} is not a JSON object`);
  const rootfs = v.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids)) throw invalid(`invalid image JSON in ${what}: no rootfs.diff_ids`);
  if (rootfs.type !== undefined && rootfs.type !== 'layers') throw invalid(`invalid image JSON in ${what}: rootfs type ${show(String(rootfs.type))}`);
  rootfs.diff_ids.forEach((d, i) => checkDigest(d, `${what} rootfs.diff_ids[${i}]`));
  if (v.os !== undefined && typeof v.os !== 'string') throw invalid(`invalid image JSON in ${what}: os is not a string`);
  if (typeof v.os === 'string' && v.os !== '' && v.os !== 'linux') throw invalid(`cannot load ${v.os} image on linux`);
  if (v.architecture !== undefined && typeof v.architecture !== 'string') throw invalid(`invalid image JSON in ${what}: architecture is not a string`);
  return v as unknown as ImageConfig;
}

/** A repo:tag from manifest.json or repositories, normalised; digests and bare names are refused as Docker does. */
function parseTag(s: unknown, where: string): string {
  if (typeof s !== 'string') throw invalid(`invalid tag ${show(String(s))} in ${where}`);
  let ref: ImageReference;
  try {
    ref = parseReference(s);
  } catch (e) {
    throw invalid(`invalid tag ${show(s)} in ${where}: ${messageOf(e)}`);
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw invalid(`invalid tag ${show(s)} in ${where}`);
  return fullString(ref);
}

function parseManifestJson(bytes: Buffer): ManifestItem[] {
  const v = parseJson(bytes, MANIFEST_FILE);
  if (v === null) throw invalid('invalid manifest, manifest cannot be null (but can be [])');
  if (!Array.isArray(v)) throw invalid('invalid manifest.json: want a JSON array');
  return v.map((item, i) => {
    const where = `manifest.json entry ${i}`;
    if (!isObject(item)) throw invalid(`${where} is not an object`);
    if (typeof item.Config !== 'string' || item.Config === '') throw invalid(`${where} has no Config path`);
    if (!Array.isArray(item.Layers) || !item.Layers.every((l) => typeof l === 'string')) throw invalid(`${where} has no valid Layers list`);
    if (item.RepoTags !== undefined && item.RepoTags !== null && !Array.isArray(item.RepoTags)) throw invalid(`${where} has an invalid RepoTags list`);
    return { Config: item.Config, Layers: item.Layers as string[], RepoTags: (item.RepoTags as string[] | null | undefined) ?? null };
  });
}

/** The legacy `repositories` file: {repo: {tag: <64-hex layer ID>}}; only validated, manifest.json decides. */
function validateRepositories(bytes: Buffer): void {
  const v = parseJson(bytes, REPOSITORIES_FILE);
  if (!isObject(v)) throw invalid('invalid repositories file: want a JSON object');
  for (const [repo, tags] of Object.entries(v)) {
    if (!isObject(tags)) throw invalid(`invalid repositories file: entry ${show(repo)} is not an object`);
    for (const [tag, id] of Object.entries(tags)) {
      parseTag(`${repo}:${tag}`, 'repositories');
      if (typeof id !== 'string' || !HEX64.test(id)) throw invalid(`invalid image ID ${show(String(id))} for ${repo}:${tag} in repositories: want 64 lowercase hex digits`);
    }
  }
}

function isAttestation(d: Record<string, unknown>): boolean {
  const p = d.platform;
  if (isObject(p) && p.os === 'unknown' && p.architecture === 'unknown') return true;
  const a = d.annotations;
  return isObject(a) && a[ANNOTATION_DOCKER_REF_TYPE] === 'attestation-manifest';
}

function matchesHost(d: Record<string, unknown>): boolean {
  const p = d.platform;
  return isObject(p) && p.os === 'linux' && p.architecture === platformArch();
}

function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw invalid(`${what} is not an object`);
  checkDigest(v.digest, what);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw invalid(`${what} has an invalid size`);
  return v as unknown as Descriptor;
}

/** Image names from an index.json descriptor's annotations (containerd's first, then a full ref.name). */
function namesFromAnnotations(d: Record<string, unknown>): string[] {
  const a = d.annotations;
  if (!isObject(a)) return [];
  const full = a[ANNOTATION_CONTAINERD_NAME];
  if (full !== undefined) return [parseTag(full, `index.json annotation ${ANNOTATION_CONTAINERD_NAME}`)];
  const refName = a[ANNOTATION_REF];
  // ref.name is free-form; only a full reference names an image, a bare tag ('latest', 'v1') does not.
  if (typeof refName === 'string' && (refName.includes('/') || refName.includes(':'))) {
    try {
      return [parseTag(refName, 'index.json')];
    } catch {
      return [];
    }
  }
  return [];
}

class Loader {
  readonly contents = new ArchiveContents();
  /** Blobs this load put into the content store that were not there before. */
  readonly added = new Set<Digest>();
  private readonly maxEntries: number;
  private readonly maxJson: number;
  private readonly maxMemory: number;

  constructor(
    private readonly store: ImageStore,
    private readonly before: Set<Digest>,
    opts: LoadOptions,
  ) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxJson = opts.maxJsonBytes ?? DEFAULT_MAX_JSON;
    this.maxMemory = opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY;
  }

  private track(info: BlobInfo): BlobInfo {
    if (!this.before.has(info.digest)) this.added.add(info.digest);
    return info;
  }

  async ingest(source: AsyncIterable<Buffer>): Promise<void> {
    let count = 0;
    for await (const { header, body } of readTar(decompressed(Readable.from(source)))) {
      if (++count > this.maxEntries) throw invalid(`archive has more than ${this.maxEntries} entries`);
      const path = cleanArchivePath(header.name.toString('utf8'), 'archive entry');
      if (path === '') continue;
      if (header.type === 'symlink') {
        this.contents.setLink(path, resolveLinkTarget(path, header.linkname.toString('utf8')));
        continue;
      }
      if (header.type === 'hardlink') {
        this.contents.setLink(path, cleanArchivePath(header.linkname.toString('utf8'), `hard link target of ${show(path)}`));
        continue;
      }
      // Directories, devices and FIFOs mean nothing in an image archive.
      if (header.type !== 'file') continue;

      const kind = classify(path);
      if (kind === 'meta' && header.size > this.maxJson) {
        throw invalid(`${show(path)} is ${header.size} bytes, over the ${this.maxJson}-byte limit`);
      }
      let file: ArchiveFile;
      // Metadata counts against the same memory budget; past it, it goes to the store and is read back.
      if (header.size <= this.maxJson && this.contents.memory + header.size <= this.maxMemory) {
        const data = await readAll(body);
        this.contents.memory += data.length;
        file = { path, raw: sha256(data), rawSize: data.length, data };
      } else {
        const r = await ingestStream(this.store, body);
        file = { path, raw: r.raw, rawSize: r.rawSize, stored: this.track(r.stored) };
      }
      const claimed = path.startsWith('blobs/') ? claimedDigest(path) : undefined;
      if (claimed && claimed !== file.raw) throw invalid(`blob ${show(path)} is corrupt: its content hashes to ${file.raw}`);
      this.contents.setFile(file);
    }
  }

  private async bytesOf(f: ArchiveFile, what: string): Promise<Buffer> {
    if (f.data) return f.data;
    if (f.rawSize > this.maxJson) throw invalid(`${what} (${show(f.path)}) is ${f.rawSize} bytes, over the ${this.maxJson}-byte limit`);
    if (!f.stored || f.stored.digest !== f.raw) throw invalid(`${what} (${show(f.path)}) is compressed, not plain JSON`);
    return this.store.content.read(f.stored.digest);
  }

  /** The layer's uncompressed content in the store (stored now if it was kept in memory). */
  private async layerBlob(f: ArchiveFile): Promise<BlobInfo> {
    if (!f.stored) f.stored = this.track(await this.store.content.putStream(decompressed(Readable.from([f.data ?? Buffer.alloc(0)]))));
    return f.stored;
  }

  private file(path: string, what: string): ArchiveFile {
    const f = this.contents.get(path);
    if (!f) throw invalid(`${what} ${show(path)} is missing from the archive`);
    return f;
  }

  /** Checks and stores the layers, each against the config's diff_ids. */
  private async layers(config: ImageConfig, files: { file: ArchiveFile; label: string }[]): Promise<BlobInfo[]> {
    const diffIds = config.rootfs.diff_ids;
    if (files.length !== diffIds.length) throw invalid(`invalid manifest, layers length mismatch: expected ${files.length}, got ${diffIds.length}`);
    const out: BlobInfo[] = [];
    for (let i = 0; i < files.length; i++) {
      const info = await this.layerBlob(files[i].file);
      if (info.digest !== diffIds[i]) {
        throw invalid(`invalid diffID for layer ${i} (${files[i].label}): expected ${show(diffIds[i])}, got ${show(info.digest)}`);
      }
      out.push(info);
    }
    return out;
  }

  /** docker-archive: manifest.json decides, index.json (if any) is ignored, as in moby's loader. */
  async planDockerArchive(manifestFile: ArchiveFile): Promise<Planned[]> {
    const items = parseManifestJson(await this.bytesOf(manifestFile, MANIFEST_FILE));
    const repos = this.contents.get(REPOSITORIES_FILE);
    if (repos) validateRepositories(await this.bytesOf(repos, REPOSITORIES_FILE));
    // Every path and tag is checked before any blob is read or stored for this manifest.
    const checked = items.map((item) => ({
      config: cleanArchivePath(item.Config, 'manifest.json Config path'),
      layers: item.Layers.map((l) => cleanArchivePath(l, 'manifest.json layer path')),
      refs: (item.RepoTags ?? []).map((t) => parseTag(t, 'manifest.json RepoTags')),
    }));
    const plans: Planned[] = [];
    for (const item of checked) {
      const cfgFile = this.file(item.config, 'image config');
      const configBytes = await this.bytesOf(cfgFile, `image config ${show(item.config)}`);
      const configDigest = sha256(configBytes);
      const claimed = claimedDigest(item.config);
      if (claimed && claimed !== configDigest) {
        throw invalid(`image config ${show(item.config)} does not match its digest: content hashes to ${configDigest}`);
      }
      const config = parseConfig(configBytes, `image config ${show(item.config)}`);
      const files = item.layers.map((p) => ({ file: this.file(p, 'layer'), label: p }));
      const layers = await this.layers(config, files);
      plans.push({ configDigest, configBytes, config, layers, refs: item.refs });
    }
    return plans;
  }

  /** A blob of the OCI layout, verified against the descriptor's digest and size. */
  private blobFile(d: Descriptor, what: string): ArchiveFile {
    const f = this.file(`blobs/sha256/${hexOf(d.digest)}`, what);
    if (f.raw !== d.digest) throw invalid(`${what} ${d.digest} is corrupt: its content hashes to ${f.raw}`);
    if (f.rawSize !== d.size) throw invalid(`${what} ${d.digest} is ${f.rawSize} bytes, but its descriptor says ${d.size}`);
    return f;
  }

  private async blobJson(d: Descriptor, what: string): Promise<{ bytes: Buffer; json: unknown }> {
    const bytes = await this.bytesOf(this.blobFile(d, what), `${what} ${d.digest}`);
    return { bytes, json: parseJson(bytes, `${what} ${d.digest}`) };
  }

  /** Follows nested indexes down to one image manifest: linux/<host arch> first, attestations skipped. */
  private async manifestFor(d: Descriptor, depth: number): Promise<Manifest> {
    if (depth > MAX_INDEX_DEPTH) throw invalid(`image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
    const { json } = await this.blobJson(d, 'manifest');
    if (!isObject(json)) throw invalid(`manifest ${d.digest} is not a JSON object`);
    const mt = d.mediaType ?? json.mediaType;
    if (mt === MEDIA_OCI_INDEX || mt === MEDIA_DOCKER_MANIFEST_LIST || Array.isArray(json.manifests)) {
      if (!Array.isArray(json.manifests)) throw invalid(`image index ${d.digest} has no manifests list`);
      const candidates = json.manifests
        .map((m, i) => checkDescriptor(m, `image index ${d.digest} entry ${i}`))
        .filter((m) => !isAttestation(m as unknown as Record<string, unknown>));
      const present = candidates.filter((m) => this.contents.get(`blobs/sha256/${hexOf(m.digest)}`));
      const host = (m: Descriptor): boolean => matchesHost(m as unknown as Record<string, unknown>);
      const wanted = candidates.find(host);
      const pick = present.find(host) ?? (wanted ? undefined : present[0]);
      if (!pick) {
        if (wanted) throw invalid(`the linux/${platformArch()} manifest ${wanted.digest} of image index ${d.digest} is missing from the archive`);
        throw invalid(`image index ${d.digest} has no image manifest in the archive`);
      }
      return this.manifestFor(pick, depth + 1);
    }
    if (!isObject(json.config) || !Array.isArray(json.layers)) throw invalid(`${d.digest} is not an image manifest`);
    checkDescriptor(json.config, `manifest ${d.digest} config`);
    json.layers.forEach((l, i) => checkDescriptor(l, `manifest ${d.digest} layer ${i}`));
    return json as unknown as Manifest;
  }

  /** A pure OCI layout (no manifest.json): index.json and its annotations decide. */
  async planOciLayout(indexFile: ArchiveFile): Promise<Planned[]> {
    const index = parseJson(await this.bytesOf(indexFile, INDEX_FILE), INDEX_FILE);
    if (!isObject(index) || !Array.isArray(index.manifests)) throw invalid('invalid index.json: no manifests list');
    const descs = index.manifests.map((m, i) => checkDescriptor(m, `index.json entry ${i}`));
    const byConfig = new Map<Digest, Planned>();
    for (const d of descs) {
      const raw = d as unknown as Record<string, unknown>;
      if (isAttestation(raw)) continue;
      const refs = namesFromAnnotations(raw);
      const manifest = await this.manifestFor(d, 0);
      const cfg = this.blobFile(manifest.config, 'image config');
      const configBytes = await this.bytesOf(cfg, `image config ${manifest.config.digest}`);
      const config = parseConfig(configBytes, `image config ${manifest.config.digest}`);
      const files = manifest.layers.map((l) => ({ file: this.blobFile(l, 'layer'), label: `blobs/sha256/${hexOf(l.digest)}` }));
      const layers = await this.layers(config, files);
      const prev = byConfig.get(manifest.config.digest);
      if (prev) {
        for (const r of refs) if (!prev.refs.includes(r)) prev.refs.push(r);
      } else {
        byConfig.set(manifest.config.digest, { configDigest: manifest.config.digest, configBytes, config, layers, refs });
      }
    }
    return [...byConfig.values()];
  }

  async plan(): Promise<Planned[]> {
    const manifest = this.contents.get(MANIFEST_FILE);
    if (manifest) return this.planDockerArchive(manifest);
    const index = this.contents.get(INDEX_FILE);
    if (index) return this.planOciLayout(index);
    if (this.contents.get(REPOSITORIES_FILE)) throw invalid('archive has only a repositories file: the pre-Docker-1.10 format is not supported');
    throw invalid('archive contains neither manifest.json nor index.json: not a docker-archive or OCI layout');
  }

  /** Unpacks every layer (the hostile-layer checks) before anything is registered. */
  async unpack(plans: Planned[]): Promise<void> {
    for (const p of plans) {
      await this.store.snapshots.prepare(p.config.rootfs.diff_ids, async (i) => this.store.content.stream(p.layers[i].digest));
    }
  }

  async register(plans: Planned[]): Promise<string[]> {
    const lines: string[] = [];
    for (const p of plans) {
      this.track(await this.store.content.put(p.configBytes, p.configDigest));
      // Berth's own manifest over the uncompressed blobs; the image ID (config digest) is unchanged.
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MEDIA_OCI_MANIFEST,
        config: { mediaType: MEDIA_OCI_CONFIG, digest: p.configDigest, size: p.configBytes.length },
        layers: p.layers.map((l) => ({ mediaType: MEDIA_OCI_LAYER, digest: l.digest, size: l.size })),
      };
      const man = this.track(await this.store.content.put(JSON.stringify(manifest)));
      if (p.refs.length === 0) {
        await this.store.add(man.digest, manifest, p.config);
        lines.push(`Loaded image ID: ${p.configDigest}`);
        continue;
      }
      for (const ref of p.refs) {
        const prev = this.store.find(ref);
        if (prev && prev.id !== p.configDigest) {
          lines.push(`The image ${displayRef(ref)} already exists, renaming the old one with ID ${prev.id} to empty string`);
        }
        await this.store.add(man.digest, manifest, p.config, ref);
        lines.push(`Loaded image: ${displayRef(ref)}`);
      }
    }
    return lines;
  }

  /** Removes blobs this load added that no registered image uses (all of them after a failure). */
  async cleanup(): Promise<void> {
    const used = new Set<Digest>();
    for (const rec of this.store.list()) {
      used.add(rec.manifestDigest);
      used.add(rec.id);
      for (const l of rec.manifest.layers) used.add(l.digest);
    }
    for (const d of this.added) if (!used.has(d)) await this.store.content.delete(d);
  }
}

/** Stream errors from the decompressors are plain Errors; for the user they mean a corrupt archive. */
function asLoadError(e: unknown): unknown {
  if (e instanceof BerthError) return e;
  const msg = messageOf(e);
  if (/^(gzip|zstd):/.test(msg)) return new InvalidArgumentError(`load: corrupt archive: ${msg}`, { cause: e });
  return e;
}

export async function loadImages(store: ImageStore, source: AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<string[]> {
  const loader = new Loader(store, new Set(await store.content.list()), opts);
  let lines: string[];
  try {
    await loader.ingest(source);
    const plans = await loader.plan();
    await loader.unpack(plans);
    lines = await loader.register(plans);
  } catch (e) {
    await loader.cleanup().catch(() => undefined);
    throw asLoadError(e);
  }
  await loader.cleanup();
  return lines;
}
