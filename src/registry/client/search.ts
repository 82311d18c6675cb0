/**
 * `search`: the v1 search API (`GET /v1/search?q=&n=`) that Docker Hub's
 * index and some registries (Harbor, Quay, Nexus) keep. The OCI distribution
 * API has no search, so a registry without /v1/search gets a clear error
 * instead of an empty list. The term picks the index as Docker does: a first
 * path component with a '.' or ':' or 'localhost' is a registry host,
 * anything else searches Docker Hub.
 */
import { InvalidArgumentError, NotFoundError } from '../../errors';
import type { Credentials } from './auth';
import { TokenCache } from './auth';
import { DOCKER_HUB_DOMAIN, endpointFor } from './endpoint';
import { readCapped, registryError } from './errors';
import { RegistryTransport } from './transport';

const DOCKER_HUB_INDEX = 'https://index.docker.io';
const MAX_SEARCH_BODY = 8 << 20;
export const DEFAULT_SEARCH_LIMIT = 25;

/** One result, in the Engine API's shape (`GET /images/search`). */
export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export interface SearchFilters {
  /** Only results with at least this many stars. */
  stars?: number;
  isOfficial?: boolean;
  isAutomated?: boolean;
}

export interface SearchOptions {
  credentials?: Credentials;
  insecureRegistries?: string[];
  /** 1..100, default 25. */
  limit?: number;
  filters?: SearchFilters;
}

/** Splits a search term into index domain and the term sent to it (Docker's splitReposSearchTerm). */
export function splitSearchTerm(term: string): { domain: string; query: string } {
  const slash = term.indexOf('/');
  const first = slash < 0 ? term : term.slice(0, slash);
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost')) return { domain: DOCKER_HUB_DOMAIN, query: term };
  return { domain: first, query: term.slice(slash + 1) };
}

export async function searchImages(term: string, opts: SearchOptions = {}): Promise<SearchResult[]> {
  if (!term) throw new InvalidArgumentError('search term is required');
  const limit = opts.limit ?? DEFAULT_SEARCH_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new InvalidArgumentError(`limit ${limit} is outside the range of [1, 100]`);
  const { domain, query } = splitSearchTerm(term);
  const ep = endpointFor(domain, opts.insecureRegistries);
  const hub = domain === DOCKER_HUB_DOMAIN;
  const t = new RegistryTransport(hub ? { ...ep, base: DOCKER_HUB_INDEX } : ep, opts.credentials ?? {}, new TokenCache());
  // Docker Hub stores official images as library/foo but searches them as foo.
  const q = hub ? query.replace(/^library\//, '') : query;
  const res = await t.request('GET', `/v1/search?q=${encodeURIComponent(q)}&n=${limit}`, { headers: { Accept: 'application/json' } });
  if (res.status === 404 || res.status === 405) {
    await res.body?.cancel().catch(() => undefined);
    throw new NotFoundError(`${domain} does not support search: it has no v1 search API (GET /v1/search answered ${res.status}); registries that speak only the OCI distribution API cannot be searched`);
  }
  if (res.status !== 200) throw await registryError(res, `searching ${domain}`);
  let body: { results?: unknown };
  try {
    body = JSON.parse((await readCapped(res, MAX_SEARCH_BODY)).toString('utf8')) as typeof body;
  } catch (e) {
    throw new InvalidArgumentError(`${domain}: search answered with something that is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(body.results)) throw new InvalidArgumentError(`${domain}: search answer has no results list`);
  const f = opts.filters ?? {};
  return body.results
    .map(toResult)
    .filter((r): r is SearchResult => r !== undefined)
    .filter((r) => (f.stars === undefined || r.star_count >= f.stars) && (f.isOfficial === undefined || r.is_official === f.isOfficial) && (f.isAutomated === undefined || r.is_automated === f.isAutomated))
    .slice(0, limit);
}

function toResult(x: unknown): SearchResult | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const r = x as Record<string, unknown>;
  if (typeof r.name !== 'string') return undefined;
  return {
    name: r.name,
    description: typeof r.description === 'string' ? r.description : '',
    star_count: typeof r.star_count === 'number' ? r.star_count : 0,
    is_official: r.is_official === true,
    is_automated: r.is_automated === true,
  };
}

/** Docker's search filters (`stars`, `is-official`, `is-automated`) from the API's filters map. */
export function parseSearchFilters(filters: Record<string, string[]>): SearchFilters {
  const out: SearchFilters = {};
  const bool = (key: string, v: string): boolean => {
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new InvalidArgumentError(`invalid filter '${key}=${v}'`);
  };
  for (const [key, values] of Object.entries(filters)) {
    for (const v of values) {
      if (key === 'stars') {
        const n = Number(v);
        if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`invalid filter 'stars=${v}'`);
        out.stars = Math.max(out.stars ?? 0, n);
      } else if (key === 'is-official') out.isOfficial = bool(key, v);
      else if (key === 'is-automated') out.isAutomated = bool(key, v);
      else throw new InvalidArgumentError(`invalid filter '${key}'`);
    }
  }
  return out;
}
