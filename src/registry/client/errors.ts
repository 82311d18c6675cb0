/** Registry responses and network failures as Berth errors with Docker-like messages. */
import { type BerthError, ForbiddenError, InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import type { RegistryResponse } from './http';

interface RegistryErrorBody {
  errors?: Array<{ code?: string; message?: string; detail?: unknown }>;
}

/** The registry's own words from an error body (`{"errors":[…]}`), else the status line. */
export async function describeFailure(res: RegistryResponse): Promise<string> {
  let text = '';
  try {
    text = (await readCapped(res, 64 * 1024)).toString('utf8');
  } catch {
    text = '';
  }
  try {
    const body = JSON.parse(text) as RegistryErrorBody;
    const parts = (body.errors ?? []).map((e) => [e.code?.toLowerCase().replace(/_/g, ' '), e.message].filter(Boolean).join(': '));
    if (parts.length) return parts.join('; ');
  } catch {
    // not JSON: fall through to the status text
  }
  return `${res.status} ${res.statusText || 'error'}`.trim();
}

export async function registryError(res: RegistryResponse, what: string): Promise<BerthError> {
  const detail = await describeFailure(res);
  const msg = `${what}: ${detail}`;
  if (res.status === 404) return new NotFoundError(msg);
  if (res.status === 401 || res.status === 403) return new ForbiddenError(msg);
  if (res.status >= 400 && res.status < 500 && res.status !== 429) return new InvalidArgumentError(msg);
  return new UnavailableError(msg);
}

/** A socket error (or one wrapped as a cause) as the user's message. */
export function networkError(method: string, url: string, e: unknown): UnavailableError {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
  return new UnavailableError(`${method[0]}${method.slice(1).toLowerCase()} "${url}": ${cause}`, { cause: e });
}

/** Reads a response body, refusing more than `cap` bytes (manifests, tokens, error bodies). */
export async function readCapped(res: RegistryResponse, cap: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw new InvalidArgumentError(`response of ${declared} bytes exceeds the ${cap}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += c.length;
    if (size > cap) {
      await res.body.cancel().catch(() => undefined);
      throw new InvalidArgumentError(`response exceeds the ${cap}-byte limit`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
