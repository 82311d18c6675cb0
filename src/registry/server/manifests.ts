/** What a pushed manifest refers to, and the check that all of it is in the repository. */
import { type Digest, isValidDigest } from '../../image/digest';
import { RegistryHttpError } from './errors';
import type { RegistryStorage } from './storage';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface PushedManifest {
  mediaType: string;
  /** Blobs (config, layers) that must be linked in the repository. */
  blobs: Digest[];
  /** Child manifests (index entries) that must exist in the repository. */
  children: Digest[];
  subject?: Digest;
}

interface Desc {
  digest?: unknown;
  mediaType?: unknown;
}

function invalid(msg: string): RegistryHttpError {
  return new RegistryHttpError(400, 'MANIFEST_INVALID', 'manifest invalid', msg);
}

function digestOf(d: Desc | undefined, what: string): Digest {
  if (!d || typeof d.digest !== 'string' || !isValidDigest(d.digest)) throw invalid(`${what}: missing or unsupported digest`);
  return d.digest;
}

export function parsePushedManifest(bytes: Buffer, contentType: string): PushedManifest {
  let doc: { schemaVersion?: unknown; mediaType?: unknown; config?: Desc; layers?: Desc[]; manifests?: Desc[]; subject?: Desc };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    throw invalid('not JSON');
  }
  if (doc === null || typeof doc !== 'object' || doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2 (schema1 is not accepted)');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : '';
  if (declared && contentType && contentType !== declared && contentType !== 'application/json')
    throw invalid(`Content-Type ${contentType} does not match the manifest's mediaType ${declared}`);
  const out: PushedManifest = { mediaType: declared || contentType || OCI_MANIFEST, blobs: [], children: [] };
  if (Array.isArray(doc.manifests)) {
    if (!declared && !contentType) out.mediaType = OCI_INDEX;
    if (out.mediaType !== OCI_INDEX && out.mediaType !== DOCKER_LIST) throw invalid(`an index cannot have media type ${out.mediaType}`);
    doc.manifests.forEach((m, i) => out.children.push(digestOf(m, `manifests[${i}]`)));
  } else {
    if (!doc.config || !Array.isArray(doc.layers)) throw invalid('manifest needs config and layers');
    out.blobs.push(digestOf(doc.config, 'config'));
    doc.layers.forEach((l, i) => {
      // Foreign (non-distributable) layers live elsewhere by design.
      if (typeof l.mediaType === 'string' && /foreign|nondistributable/.test(l.mediaType)) return;
      out.blobs.push(digestOf(l, `layers[${i}]`));
    });
  }
  if (doc.subject) out.subject = digestOf(doc.subject, 'subject');
  return out;
}

export async function checkManifestRefs(store: RegistryStorage, name: string, m: PushedManifest): Promise<void> {
  // In parallel: on an object store each check is a round trip.
  const [sizes, present] = await Promise.all([Promise.all(m.blobs.map((b) => store.blobSize(name, b))), Promise.all(m.children.map((c) => store.hasManifest(name, c)))]);
  const missing = [...m.blobs.filter((_, i) => sizes[i] === undefined), ...m.children.filter((_, i) => !present[i])];
  if (missing.length) throw new RegistryHttpError(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { digest: missing[0] });
}
