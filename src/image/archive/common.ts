/**
 * Shared pieces of the docker-archive / OCI-layout codec: file names, the
 * manifest.json item shape (Docker's Go field names) and archive path
 * cleaning. Archive paths never touch the disk, but a name that climbs out
 * ('..') or is absolute is still refused (CVE-2014-9358).
 */
import { ForbiddenError } from '../../errors';

export const MANIFEST_FILE = 'manifest.json';
export const REPOSITORIES_FILE = 'repositories';
export const INDEX_FILE = 'index.json';
export const OCI_LAYOUT_FILE = 'oci-layout';
/** Byte-for-byte what moby writes (ociLayoutContent, with the space). */
export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}';

/** containerd's images.AnnotationImageName: the full reference in an exported index.json. */
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';
export const ANNOTATION_DOCKER_REF_TYPE = 'vnd.docker.reference.type';
export const MEDIA_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export const HEX64 = /^[a-f0-9]{64}$/;

/** One element of manifest.json, as moby's tarexport.manifestItem marshals it. */
export interface ManifestItem {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  Parent?: string;
  LayerSources?: Record<string, unknown>;
}

function show(s: string): string {
  return JSON.stringify(s);
}

/**
 * Normalises a path inside the archive ('./a//b' → 'a/b'); refuses absolute
 * paths and any '..' component. `what` names the source in the message.
 */
export function cleanArchivePath(p: string, what: string): string {
  if (p.startsWith('/')) throw new ForbiddenError(`${what} ${show(p)} is an absolute path`);
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new ForbiddenError(`${what} ${show(p)} contains '..'`);
    parts.push(c);
  }
  return parts.join('/');
}

/**
 * Resolves a symlink target relative to the link's directory, lexically and
 * inside the archive root; a target that would leave the root is refused.
 */
export function resolveLinkTarget(linkPath: string, target: string): string {
  if (target.startsWith('/')) throw new ForbiddenError(`archive symlink ${show(linkPath)} points to the absolute path ${show(target)}`);
  const parts = linkPath.split('/').slice(0, -1);
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) throw new ForbiddenError(`archive symlink ${show(linkPath)} points outside the archive (${show(target)})`);
      parts.pop();
    } else {
      parts.push(c);
    }
  }
  return parts.join('/');
}
