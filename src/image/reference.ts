/**
 * Image references ("busybox", "localhost:5000/a/b:tag", "x@sha256:…") parsed
 * and normalised exactly as Docker does (github.com/distribution/reference:
 * ParseNormalizedNamed, FamiliarString, TagNameOnly, ParseDockerRef), so that
 * names, error messages and corner cases match what `docker` users expect.
 */
import { InvalidArgumentError } from '../errors';
import { isValidDigest } from './digest';

export interface ImageReference {
  /** Registry host[:port]: 'docker.io', 'localhost:5000', 'registry.example.com'. */
  domain: string;
  /** Repository path within the registry: 'library/busybox', 'a/b/c'. */
  path: string;
  /** Present only if given (or added by withDefaultTag). */
  tag?: string;
  /** 'sha256:<64 hex>' if given. */
  digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar, built from the same pieces as upstream regexp.go. JS and Go
// both use leftmost-first submatch semantics, so the captures agree.
const ALPHANUMERIC = '[a-z0-9]+';
// One period, one or two underscores, or any number of dashes.
const SEPARATOR = '(?:[._]|__|[-]+)';
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const OPTIONAL_PORT = '(?::[0-9]+)?';
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
// Bracketed IPv6 only; zone identifiers and IPv4-mapped forms are excluded on purpose.
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_NAME = `${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*`;
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})${OPTIONAL_PORT}`;
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;

const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const ANCHORED_NAME_RE = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
// go-digest's DigestRegexpAnchored: decides "unsupported" versus "malformed" for unknown algorithms.
const GO_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const IMAGE_ID_RE = /^(?:sha256:)?[a-f0-9]{12,64}$/;

function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message);
}

/**
 * go-digest's Digest.Validate with only sha256 registered: Berth's content
 * store is sha256-only, so other algorithms are "unsupported" as in a Go
 * binary that never imported them.
 */
function validateDigest(d: string): void {
  const sep = d.indexOf(':');
  const algorithm = d.slice(0, sep);
  const encoded = d.slice(sep + 1);
  if (algorithm !== 'sha256') {
    throw invalid(GO_DIGEST_RE.test(d) ? 'unsupported digest algorithm' : 'invalid checksum digest format');
  }
  if (encoded.length !== 64) throw invalid('invalid checksum digest length');
  if (!IDENTIFIER_RE.test(encoded)) throw invalid('invalid checksum digest format');
}

/** Upstream Parse: syntax only, no normalisation. */
function parseCanonical(s: string): ImageReference {
  if (s === '') throw invalid('repository name must have at least one component');
  const m = REFERENCE_RE.exec(s);
  if (m === null) {
    const lower = s.toLowerCase();
    if (lower !== s && REFERENCE_RE.test(lower)) throw invalid('repository name must be lowercase');
    throw invalid('invalid reference format');
  }
  const name = m[1];
  const tag = m[2];
  const digest = m[3];
  const nm = ANCHORED_NAME_RE.exec(name);
  const domain = nm?.[1] ?? '';
  const path = nm ? nm[2] : name;
  if (path.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (digest !== undefined) validateDigest(digest);
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Upstream splitDockerDomain: decides whether the first component is a registry. */
function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const slash = name.indexOf('/');
  // A single component ("ubuntu:latest") is never a domain, else it would read as host:port.
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (first === 'localhost') {
    [domain, remainder] = [first, rest];
  } else if (first === LEGACY_DEFAULT_DOMAIN) {
    [domain, remainder] = [DEFAULT_DOMAIN, rest];
  } else if (first.includes('.') || first.includes(':')) {
    [domain, remainder] = [first, rest];
  } else if (first.toLowerCase() !== first) {
    // Namespaces are lowercase, so an uppercase first component must be a host.
    [domain, remainder] = [first, rest];
  } else {
    [domain, remainder] = [DEFAULT_DOMAIN, name];
  }
  // "docker.io/ubuntu" means the official image, but only on Docker Hub.
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

/**
 * Parses a user-supplied reference into its fully-qualified form, like
 * ParseNormalizedNamed: 'busybox' → docker.io/library/busybox.
 */
export function parseReference(s: string): ImageReference {
  if (IDENTIFIER_RE.test(s)) {
    throw invalid(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const colon = remainder.indexOf(':');
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`);
  }
  return parseCanonical(`${domain}/${remainder}`);
}

/** TagNameOnly: a bare name means ':latest'; a digest alone is left alone. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  if (ref.tag !== undefined || ref.digest !== undefined) return ref;
  return { ...ref, tag: DEFAULT_TAG };
}

/**
 * ParseDockerRef: what `docker pull` resolves. A tag next to a digest is
 * dropped because the digest alone decides the content.
 */
export function parseDockerRef(s: string): ImageReference {
  const ref = parseReference(s);
  if (ref.tag !== undefined && ref.digest !== undefined) return { domain: ref.domain, path: ref.path, digest: ref.digest };
  return withDefaultTag(ref);
}

function suffix(ref: ImageReference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** 'docker.io/library/busybox' */
export function fullName(ref: ImageReference): string {
  return ref.domain === '' ? ref.path : `${ref.domain}/${ref.path}`;
}

/** 'docker.io/library/busybox:latest', with '@digest' when present. */
export function fullString(ref: ImageReference): string {
  return fullName(ref) + suffix(ref);
}

/** 'busybox', 'user/app', 'localhost:5000/x': Docker Hub's domain and 'library/' hidden. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  // Only strip 'library/' for a single-level official name, as upstream does.
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** 'busybox:latest', 'busybox@sha256:…' */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** 'sha256:' + 64 lowercase hex, the only digest form Berth stores. */
export function isDigest(s: string): boolean {
  return isValidDigest(s);
}

/**
 * Whether s could be an image ID or ID prefix rather than a name, for
 * Docker's "try it as an ID first" lookups.
 */
export function looksLikeImageId(s: string): boolean {
  return IMAGE_ID_RE.test(s);
}
