/**
 * One registry endpoint over node:http(s) (see http.ts): the auth challenge dance
 * (anonymous → Basic or Bearer token per scope, at most two attempts so a
 * registry answering 401 forever fails fast), redirects followed by hand so
 * Authorization never leaves the registry's origin, and errors as Berth errors.
 */
import { createHash } from 'node:crypto';
import { ForbiddenError, InvalidArgumentError, UnavailableError } from '../../errors';
import { basicHeader, type Challenge, type Credentials, parseChallenges, TokenCache } from './auth';
import type { Endpoint } from './endpoint';
import { describeFailure, networkError, readCapped } from './errors';
import { httpSend, type RegistryResponse, type RequestBody } from './http';

const MAX_REDIRECTS = 10;
const MAX_TOKEN_BODY = 1 << 20;

export type Body = RequestBody;

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Body;
  /** Token scopes, e.g. ['repository:library/busybox:pull']. */
  scopes?: string[];
}

export class RegistryTransport {
  private challenge: Challenge | undefined;

  constructor(
    readonly endpoint: Endpoint,
    private readonly creds: Credentials = {},
    private readonly tokens: TokenCache = new TokenCache(),
  ) {}

  url(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.endpoint.base}${path}`;
  }

  /** GET /v2/: is this a v2 registry, and which auth does it want? */
  async ping(): Promise<Challenge | undefined> {
    const res = await this.send('GET', this.url('/v2/'), {}, undefined);
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 401) {
      this.challenge = parseChallenges(res.headers.get('www-authenticate'))[0];
      return this.challenge;
    }
    if (res.status >= 400) throw new UnavailableError(`${this.endpoint.domain} does not look like a v2 registry: GET /v2/ answered ${res.status}`);
    return undefined;
  }

  /** A request with auth handled; the caller checks the status of the final response. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<RegistryResponse> {
    const url = this.url(path);
    const replayable = opts.body === undefined || Buffer.isBuffer(opts.body);
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authorization(opts.scopes ?? [], attempt > 0);
      const res = await this.send(method, url, opts, auth);
      if (res.status !== 401) return res;
      const detail = await describeFailure(res);
      const challenge = parseChallenges(res.headers.get('www-authenticate'))[0];
      // A second 401 after fresh credentials means they are not accepted: stop, do not loop.
      if (attempt >= 1 || !challenge || !replayable) throw unauthorized(this.endpoint.domain, detail, this.creds);
      this.challenge = challenge;
    }
  }

  private async authorization(scopes: string[], fresh: boolean): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const h = basicHeader(this.creds);
      if (!h) throw new ForbiddenError(`${this.endpoint.domain}: no basic auth credentials (run: berth login ${this.endpoint.domain})`);
      return h;
    }
    if (c.scheme !== 'bearer') throw new UnavailableError(`${this.endpoint.domain}: unsupported auth scheme "${c.scheme}"`);
    if (this.creds.registrytoken) return `Bearer ${this.creds.registrytoken}`;
    const all = [...new Set([...scopes, ...(c.params.scope ? c.params.scope.split(' ') : [])])].sort();
    // The cache is shared by every client of the daemon: a token belongs to the credentials that got it.
    const key = `${c.params.realm}|${c.params.service ?? ''}|${all.join(' ')}|${credentialsKey(this.creds)}`;
    if (fresh) this.tokens.delete(key);
    let token = this.tokens.get(key);
    if (!token) {
      const t = await this.fetchToken(c, all);
      this.tokens.set(key, t.token, t.expiresIn);
      token = t.token;
    }
    return `Bearer ${token}`;
  }

  /** The distribution token flow: GET realm?service=&scope= (with Basic credentials when we have them). */
  async fetchToken(c: Challenge, scopes: string[]): Promise<{ token: string; expiresIn?: number }> {
    let realm: URL;
    try {
      realm = new URL(c.params.realm ?? '');
    } catch {
      throw new UnavailableError(`${this.endpoint.domain}: token realm "${c.params.realm ?? ''}" is not a URL`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new UnavailableError(`${this.endpoint.domain}: token realm must be http(s), got ${realm.protocol}`);
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    if (this.creds.identitytoken) {
      realm.searchParams.set('grant_type', 'refresh_token');
      realm.searchParams.set('refresh_token', this.creds.identitytoken);
    }
    const res = await this.send('GET', realm.toString(), {}, basicHeader(this.creds));
    if (res.status === 401 || res.status === 403) throw unauthorized(this.endpoint.domain, await describeFailure(res), this.creds);
    if (res.status >= 400) throw new UnavailableError(`${this.endpoint.domain}: token server answered ${res.status}: ${await describeFailure(res)}`);
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse((await readCapped(res, MAX_TOKEN_BODY)).toString('utf8')) as typeof body;
    } catch (e) {
      throw new UnavailableError(`${this.endpoint.domain}: bad token response: ${(e as Error).message}`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new UnavailableError(`${this.endpoint.domain}: token response carries no token`);
    return { token, expiresIn: body.expires_in };
  }

  /** One logical request: redirects followed by hand (http(s) only, Authorization dropped off-origin). */
  private async send(method: string, url: string, opts: RequestOptions, auth: string | undefined): Promise<RegistryResponse> {
    let current = new URL(url);
    const origin = current.origin;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'User-Agent': 'berth', ...(opts.headers ?? {}) };
      if (auth && current.origin === origin) headers.Authorization = auth;
      let res: RegistryResponse;
      try {
        res = await httpSend(method, current, headers, opts.body);
      } catch (e) {
        throw networkError(method, current.toString(), e);
      }
      if (![301, 302, 303, 307, 308].includes(res.status)) return res;
      await res.body?.cancel().catch(() => undefined);
      const loc = res.headers.get('location');
      if (!loc) throw new UnavailableError(`${method} ${current}: redirect without Location`);
      if (hop >= MAX_REDIRECTS) throw new UnavailableError(`${method} ${url}: too many redirects`);
      if (opts.body !== undefined && !Buffer.isBuffer(opts.body)) throw new UnavailableError(`${method} ${current}: cannot follow a redirect with a streamed body`);
      const next = new URL(loc, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new InvalidArgumentError(`${method} ${current}: refusing redirect to ${next.protocol} URL`);
      current = next;
      if (res.status === 303) method = 'GET';
    }
  }
}

function unauthorized(domain: string, detail: string, creds: Credentials): ForbiddenError {
  const hint = creds.username || creds.registrytoken || creds.identitytoken ? 'check your credentials' : `run: berth login ${domain}`;
  return new ForbiddenError(`${domain}: unauthorized: authentication required (${detail}; ${hint})`);
}

/** A digest of the credentials (never the secrets themselves) to key cached tokens by. */
function credentialsKey(c: Credentials): string {
  return createHash('sha256').update(`${c.username ?? ''}\0${c.password ?? ''}\0${c.identitytoken ?? ''}`).digest('hex').slice(0, 32);
}
