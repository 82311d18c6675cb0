/** OCI / Docker image documents, as far as Berth reads and writes them. */
import type { Digest } from './digest';

export const MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const MEDIA_DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
export const MEDIA_DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** Annotation holding an image's full reference in Berth's index.json. */
export const ANNOTATION_NAME = 'io.berth.image.name';
export const ANNOTATION_REF = 'org.opencontainers.image.ref.name';
export const ANNOTATION_REPO_DIGESTS = 'io.berth.image.repoDigests';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
  /** Probe interval during StartPeriod (ns; API 1.44). */
  StartInterval?: number;
}

/** The `config` part of an image config: defaults for containers run from it (Docker's field names). */
export interface RunConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: RunConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

/** One image as the engine sees it: ID = digest of its config, as Docker. */
export interface ImageRecord {
  id: Digest;
  manifestDigest: Digest;
  /** Full references (docker.io/library/busybox:latest) pointing at it; empty = dangling. */
  refs: string[];
  config: ImageConfig;
  manifest: Manifest;
  /** Sum of uncompressed layer sizes. */
  size: number;
  /** `docker.io/library/busybox@sha256:…` for each registry this image was pulled from or pushed to. */
  repoDigests: string[];
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function platformArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}
