/** sha256 digests as OCI writes them: `sha256:<64 lowercase hex>`. */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors';

export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isValidDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/** Validates a digest before it becomes part of a path (CVE-2014-9358 class). */
export function parseDigest(s: string): Digest {
  if (!isValidDigest(s)) throw new InvalidArgumentError(`invalid digest "${s}": want sha256:<64 hex digits>`);
  return s;
}

export function sha256(data: string | Buffer): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hexOf(d: Digest): string {
  return d.slice(7);
}

/** containerd/OCI chain ID: chain(n) = sha256(chain(n-1) + " " + diffID(n)). */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
