/**
 * The storage-driver boundary of `berth registry serve`: everything the HTTP
 * handlers and the garbage collector need, and nothing about where bytes live.
 * Two implementations keep distribution's layout (shared blobs under
 * blobs/sha256/<2 hex>/<hex>/data, per-repository link files):
 * `FsStorage` (storage-fs.ts) on a local directory and `S3Storage`
 * (storage-s3.ts) on an S3-compatible object store.
 *
 * The contract every driver keeps (tested against both):
 * - an upload becomes a blob only through `commitUpload`, and only after the
 *   digest of everything received was verified; a mismatch leaves no blob;
 * - links (layer, revision, tag) are replaced atomically, so a tag always
 *   points to a complete manifest;
 * - chunks are strictly sequential; a failed chunk leaves the upload as it was.
 *
 * @example
 * const store = await openStorage({ driver: 'filesystem', root: '/srv/registry' });
 * const id = await store.startUpload('library/app');
 * await store.commitUpload('library/app', id, digest, request);
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../../image/digest';

export interface StoredManifest {
  digest: Digest;
  bytes: Buffer;
  mediaType: string;
}

/** An inclusive byte range, as HTTP's `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A committed blob as the garbage collector sees it. */
export interface BlobEntry {
  digest: Digest;
  size: number;
  /** When the blob was committed (ms since the epoch). */
  modified: number;
}

export interface UploadEntry {
  name: string;
  id: string;
  /** ms since the epoch; NaN when the start time is unreadable. */
  startedAt: number;
}

export interface RegistryStorage {
  /** A short description for the startup line, e.g. `filesystem /srv/registry`. */
  readonly description: string;
  init(): Promise<void>;
  /** Releases connections; the storage is unusable afterwards. */
  close(): Promise<void>;

  repoExists(name: string): Promise<boolean>;
  /** Size of a blob the repository may read, or undefined. */
  blobSize(name: string, d: Digest): Promise<number | undefined>;
  /** Opens a committed blob for reading; rejects with `BLOB_UNKNOWN` if its data is gone. */
  openBlob(d: Digest, range?: ByteRange): Promise<Readable>;
  linkBlob(name: string, d: Digest): Promise<void>;
  unlinkBlob(name: string, d: Digest): Promise<boolean>;

  startUpload(name: string): Promise<string>;
  uploadOffset(name: string, id: string): Promise<number>;
  /**
   * Appends a chunk. `start` (from Content-Range) must equal the current
   * offset; `length`, when given, must equal the bytes received.
   */
  append(name: string, id: string, body: AsyncIterable<Buffer>, start?: number, length?: number): Promise<number>;
  /**
   * Appends `body` (the final chunk of a PUT, or a monolithic POST), verifies
   * the digest of the whole upload and makes it a blob linked into `name`.
   * The upload is gone afterwards, also on a digest mismatch. Returns the size.
   */
  commitUpload(name: string, id: string, expected: Digest, body?: AsyncIterable<Buffer>): Promise<number>;
  cancelUpload(name: string, id: string): Promise<void>;

  putManifest(name: string, m: StoredManifest, tag?: string): Promise<void>;
  resolveTag(name: string, tag: string): Promise<Digest | undefined>;
  hasManifest(name: string, d: Digest): Promise<boolean>;
  getManifest(name: string, d: Digest): Promise<StoredManifest | undefined>;
  /** Deletes a revision and every tag pointing at it. */
  deleteManifest(name: string, d: Digest): Promise<boolean>;
  deleteTag(name: string, tag: string): Promise<boolean>;
  tags(name: string): Promise<string[]>;
  revisions(name: string): Promise<Digest[]>;
  /** Every repository name, sorted. */
  repositories(): Promise<string[]>;
  /** Referrers: manifests whose `subject` is `subject`, recorded at push time. */
  addReferrer(name: string, subject: Digest, d: Digest): Promise<void>;
  referrers(name: string, subject: Digest): Promise<Digest[]>;

  // ---- for the garbage collector ----
  listBlobs(): AsyncIterable<BlobEntry>;
  /** Removes a blob's data (links stay; a read then answers BLOB_UNKNOWN). */
  deleteBlob(d: Digest): Promise<void>;
  listUploads(): AsyncIterable<UploadEntry>;
  purgeUpload(name: string, id: string): Promise<void>;
}

export const UUID_RE = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;

/** Distribution's layout as relative keys (`/`-separated), shared by every driver. */
export const layout = {
  blobData: (hex: string) => `blobs/sha256/${hex.slice(0, 2)}/${hex}/data`,
  repo: (name: string) => `repositories/${name}`,
  layerLink: (name: string, hex: string) => `repositories/${name}/_layers/sha256/${hex}/link`,
  revisionDir: (name: string, hex: string) => `repositories/${name}/_manifests/revisions/sha256/${hex}`,
  tagsDir: (name: string) => `repositories/${name}/_manifests/tags`,
  tagLink: (name: string, tag: string) => `repositories/${name}/_manifests/tags/${tag}/current/link`,
  referrersDir: (name: string, subjectHex: string) => `repositories/${name}/_referrers/sha256/${subjectHex}`,
  uploadDir: (name: string, id: string) => `repositories/${name}/_uploads/${id}`,
};

/** The media type a manifest declares, for stores written without Berth's `mediatype` file. */
export function sniffMediaType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    return Array.isArray(doc.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
  } catch {
    return 'application/octet-stream';
  }
}
