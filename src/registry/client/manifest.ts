/**
 * Manifests from a registry: fetched with a 4 MiB cap (distribution's own
 * limit), verified against the digest asked for and the Docker-Content-Digest
 * header, and resolved through manifest lists / OCI indexes to one platform.
 */
import { InvalidArgumentError, NotFoundError } from '../../errors';
import { type Digest, isValidDigest, sha256 } from '../../image/digest';
import type { Descriptor, ImageIndex, Manifest } from '../../image/types';
import {
  MEDIA_DOCKER_MANIFEST,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_MANIFEST,
} from '../../image/types';
import { readCapped, registryError } from './errors';
import type { RegistryTransport } from './transport';

export const MAX_MANIFEST_BYTES = 4 << 20;
export const MEDIA_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MEDIA_DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const MEDIA_DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

export const MANIFEST_ACCEPT = [MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST].join(', ');

export interface FetchedManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export async function fetchManifest(t: RegistryTransport, repo: string, reference: string, what: string): Promise<FetchedManifest> {
  const res = await t.request('GET', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [`repository:${repo}:pull`] });
  if (res.status === 404) {
    await res.body?.cancel().catch(() => undefined);
    throw new NotFoundError(`manifest for ${what} not found: manifest unknown`);
  }
  if (res.status !== 200) throw await registryError(res, `fetching manifest for ${what}`);
  let bytes: Buffer;
  try {
    bytes = await readCapped(res, MAX_MANIFEST_BYTES);
  } catch (e) {
    throw new InvalidArgumentError(`manifest for ${what} is too large: ${(e as Error).message}`);
  }
  const digest = sha256(bytes);
  if (isValidDigest(reference) && reference !== digest) throw new InvalidArgumentError(`manifest for ${what}: content hashes to ${digest}, not the requested ${reference}`);
  const header = res.headers.get('docker-content-digest');
  if (header && header.startsWith('sha256:') && header !== digest) throw new InvalidArgumentError(`manifest for ${what}: content hashes to ${digest}, but the registry says ${header}`);
  let mediaType = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  let doc: { mediaType?: string; schemaVersion?: number; manifests?: unknown; config?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    throw new InvalidArgumentError(`manifest for ${what} is not valid JSON`);
  }
  if (doc.schemaVersion === 1 || mediaType === MEDIA_DOCKER_SCHEMA1 || mediaType === MEDIA_DOCKER_SCHEMA1_SIGNED)
    throw new InvalidArgumentError(`${what}: Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported; the image must be rebuilt and pushed with a current tool`);
  if (doc.mediaType) mediaType = doc.mediaType;
  else if (Array.isArray(doc.manifests)) mediaType = MEDIA_OCI_INDEX;
  else if (doc.config) mediaType = mediaType === MEDIA_DOCKER_MANIFEST ? mediaType : MEDIA_OCI_MANIFEST;
  return { digest, mediaType, bytes };
}

export function isIndex(mediaType: string): boolean {
  return mediaType === MEDIA_OCI_INDEX || mediaType === MEDIA_DOCKER_LIST;
}

export function isImageManifest(mediaType: string): boolean {
  return mediaType === MEDIA_OCI_MANIFEST || mediaType === MEDIA_DOCKER_MANIFEST;
}

/** Parses "linux/arm64/v8" (os defaults to linux). */
export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split('/');
  if (parts.length === 1) return { os: 'linux', architecture: normalizeArch(parts[0]) };
  const p: Platform = { os: parts[0], architecture: normalizeArch(parts[1]) };
  if (parts[2]) p.variant = parts[2];
  return p;
}

function normalizeArch(a: string): string {
  return ({ x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', i386: '386' } as Record<string, string>)[a] ?? a;
}

/** Picks one manifest from an index for `want`, skipping attestation and unknown-platform entries. */
export function selectPlatform(index: ImageIndex, want: Platform, what: string): Descriptor {
  const candidates = index.manifests.filter((d) => {
    if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return false;
    if (!d.platform || d.platform.os === 'unknown') return false;
    return isImageManifest(d.mediaType) || isIndex(d.mediaType);
  });
  const match = (d: Descriptor, variant: boolean) =>
    d.platform!.os === want.os && normalizeArch(d.platform!.architecture) === want.architecture && (!variant || !want.variant || d.platform!.variant === want.variant);
  const hit = candidates.find((d) => match(d, true)) ?? (want.variant ? undefined : candidates.find((d) => match(d, false)));
  if (!hit) {
    const have = candidates.map((d) => `${d.platform!.os}/${d.platform!.architecture}${d.platform!.variant ? `/${d.platform!.variant}` : ''}`).join(', ');
    throw new NotFoundError(`no matching manifest for ${want.os}/${want.architecture}${want.variant ? `/${want.variant}` : ''} in the manifest list entries of ${what} (has: ${have || 'none'})`);
  }
  return hit;
}

/** Structural checks a manifest must pass before any of its descriptors is used as a path. */
export function checkManifest(m: Manifest, what: string): void {
  if (!m.config || !Array.isArray(m.layers)) throw new InvalidArgumentError(`manifest for ${what} has no config or layers`);
  for (const d of [m.config, ...m.layers]) {
    if (!isValidDigest(d.digest)) throw new InvalidArgumentError(`manifest for ${what} has an unsupported or invalid digest "${String(d.digest)}"`);
    if (!Number.isSafeInteger(d.size) || d.size < 0) throw new InvalidArgumentError(`manifest for ${what} has an invalid size for ${d.digest}`);
  }
}
