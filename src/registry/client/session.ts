/** Shared setup for pull and push: parse the reference, pick the endpoint, build the transport. */
import { parseReference, withDefaultTag, type ImageReference } from '../../image/reference';
import { type Credentials, TokenCache } from './auth';
import { endpointFor } from './endpoint';
import type { ProgressFn } from './progress';
import { RegistryTransport } from './transport';

export interface SessionOptions {
  credentials?: Credentials;
  /** Extra hosts (host or host:port) to reach over plain HTTP, like dockerd's --insecure-registry. */
  insecureRegistries?: string[];
  tokens?: TokenCache;
  progress?: ProgressFn;
  /** Parallel layer transfers: default 4 for pulls, 5 for pushes (dockerd's max-concurrent-uploads). */
  concurrency?: number;
}

const sharedTokens = new TokenCache();

export function openSession(refStr: string, opts: SessionOptions): { ref: ImageReference; t: RegistryTransport } {
  const ref = withDefaultTag(parseReference(refStr));
  const t = new RegistryTransport(endpointFor(ref.domain, opts.insecureRegistries), opts.credentials ?? {}, opts.tokens ?? sharedTokens);
  return { ref, t };
}
