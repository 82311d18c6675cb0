/**
 * Registry auth: `WWW-Authenticate` challenges (Basic, Bearer), the token
 * flow of the distribution spec, and a token cache keyed by realm+service+scope.
 */
export interface Credentials {
  username?: string;
  password?: string;
  /** An identity (refresh) token, sent as the OAuth2 refresh_token when present. */
  identitytoken?: string;
  /** A registry token used as-is (X-Registry-Auth's `registrytoken`). */
  registrytoken?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="x",service="y",scope="a b"` (several challenges may be comma-joined). */
export function parseChallenges(header: string | null): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  const re = /\s*([A-Za-z][\w-]*)(?:\s+|$)|\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  let cur: Challenge | undefined;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < header.length) {
    re.lastIndex = pos;
    m = re.exec(header);
    if (!m || m[0] === '') break;
    pos = re.lastIndex;
    if (m[1] !== undefined && m[2] === undefined) {
      cur = { scheme: m[1].toLowerCase(), params: {} };
      out.push(cur);
    } else if (cur && m[2] !== undefined) {
      cur.params[m[2].toLowerCase()] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '');
    }
  }
  return out;
}

export function basicHeader(c: Credentials): string | undefined {
  if (c.username === undefined && c.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expires: number;
}

/** Tokens per realm+service+scope; Docker's minimum lifetime is 60 s when the server omits expires_in. */
export class TokenCache {
  private tokens = new Map<string, CachedToken>();

  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (t.expires <= Date.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  set(key: string, token: string, expiresIn: number | undefined): void {
    const secs = expiresIn !== undefined && expiresIn >= 60 ? expiresIn : 60;
    // Refresh a little early so a token never expires mid-request.
    this.tokens.set(key, { token, expires: Date.now() + (secs - 10) * 1000 });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}
