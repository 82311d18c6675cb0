/**
 * Bearer token auth as distribution's `auth.token` access controller: a
 * request without a valid token gets a 401 with
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=repository:NAME:pull,push`;
 * the client fetches a JWT from the realm and retries with it. The token is
 * verified here with node:crypto against the keys of a root certificate
 * bundle (RS256/384/512, ES256/384/512), found by the JOSE header's `kid`
 * (libtrust fingerprint or RFC 7638 thumbprint of a bundle key) or by an
 * `x5c` chain that ends in a bundle certificate; then `iss`, `aud`, `exp`,
 * `nbf` and the `access` claim are checked against what the route needs.
 */
import { createHash, type KeyObject, verify as verifySignature, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '../../errors';
import type { Access, Authenticator, AuthResult, Grant } from './auth';
import { RegistryHttpError } from './errors';

export interface TokenAuthOptions {
  /** The token server's URL, sent to clients in the challenge. */
  realm: string;
  /** This registry's name: the audience tokens must carry. */
  service: string;
  /** The token server's name: the `iss` tokens must carry. */
  issuer: string;
  /** PEM file of the certificates whose keys sign tokens. */
  rootCertBundle: string;
}

interface ClaimAccess {
  type?: unknown;
  name?: unknown;
  actions?: unknown;
}

interface Claims {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  access?: unknown;
}

interface Verified {
  user?: string;
  exp: number;
  nbf: number;
  grant: Grant;
}

/** Clock skew tolerated on `exp` and `nbf`, in seconds. */
const LEEWAY_S = 60;
const MAX_CACHED = 10_000;

/** Thrown for a token that cannot be accepted; its message names the reason. */
export class TokenInvalidError extends Error {}

const HASHES: Record<string, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };

/** libtrust's key ID: SHA-256 of the DER public key, cut to 240 bits, base32 in 12 colon-separated groups of 4. */
export function libtrustKeyId(key: KeyObject): string {
  const sum = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let b32 = '';
  for (const byte of sum) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      b32 += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return b32.match(/.{4}/g)!.join(':');
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { kty: jwk.kty };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function parsePemBundle(path: string): X509Certificate[] {
  const text = readFileSync(path, 'utf8');
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new InvalidArgumentError(`${path}: no PEM certificates found (want the token server's signing certificate bundle)`);
  return pems.map((p) => new X509Certificate(p));
}

function decodeJson<T>(part: string, what: string): T {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as T;
  } catch {
    throw new TokenInvalidError(`token ${what} is not base64url JSON`);
  }
}

export class TokenVerifier {
  private readonly roots: X509Certificate[];
  private readonly byKid = new Map<string, KeyObject>();
  private readonly cache = new Map<string, Verified>();

  constructor(private readonly opts: TokenAuthOptions) {
    this.roots = parsePemBundle(opts.rootCertBundle);
    for (const c of this.roots) {
      this.byKid.set(libtrustKeyId(c.publicKey), c.publicKey);
      this.byKid.set(jwkThumbprint(c.publicKey), c.publicKey);
    }
  }

  /** The signing key for a JOSE header, from the bundle directly or through an x5c chain. */
  private keyFor(header: { kid?: unknown; x5c?: unknown }, nowMs: number): KeyObject {
    if (Array.isArray(header.x5c) && header.x5c.length > 0) {
      let chain: X509Certificate[];
      try {
        chain = header.x5c.map((c) => new X509Certificate(Buffer.from(String(c), 'base64')));
      } catch {
        throw new TokenInvalidError('token x5c holds an unreadable certificate');
      }
      for (const c of chain) {
        if (Date.parse(c.validFrom) > nowMs || Date.parse(c.validTo) < nowMs) throw new TokenInvalidError(`token certificate ${c.subject.replace(/\n/g, ', ')} is not valid now`);
      }
      for (let i = 0; i + 1 < chain.length; i++) {
        if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) throw new TokenInvalidError('token x5c chain is broken');
      }
      const top = chain[chain.length - 1];
      const trusted = this.roots.some((r) => r.fingerprint256 === top.fingerprint256 || (top.checkIssued(r) && top.verify(r.publicKey)));
      if (!trusted) throw new TokenInvalidError('token x5c chain does not end in a trusted root certificate');
      return chain[0].publicKey;
    }
    if (typeof header.kid === 'string') {
      const k = this.byKid.get(header.kid);
      if (!k) throw new TokenInvalidError(`token signed by an unknown key "${header.kid}"`);
      return k;
    }
    throw new TokenInvalidError('token header names no key (kid or x5c)');
  }

  /** Verifies signature and claims; the access check is the caller's. */
  verify(token: string, nowMs = Date.now()): Verified {
    const cached = this.cache.get(token);
    const now = Math.floor(nowMs / 1000);
    if (cached) {
      if (now > cached.exp + LEEWAY_S) throw new TokenInvalidError('token has expired');
      if (now + LEEWAY_S < cached.nbf) throw new TokenInvalidError('token is not valid yet');
      return cached;
    }
    const parts = token.split('.');
    if (parts.length !== 3) throw new TokenInvalidError('token is not a JWS compact serialisation');
    const header = decodeJson<{ alg?: unknown; kid?: unknown; x5c?: unknown }>(parts[0], 'header');
    const alg = typeof header.alg === 'string' ? header.alg : '';
    const hash = HASHES[alg];
    if (!hash) throw new TokenInvalidError(`token algorithm "${alg}" is not accepted`);
    const key = this.keyFor(header, nowMs);
    const wantType = alg.startsWith('RS') ? 'rsa' : 'ec';
    if (key.asymmetricKeyType !== wantType) throw new TokenInvalidError(`token algorithm ${alg} does not fit a ${key.asymmetricKeyType} key`);
    const sig = Buffer.from(parts[2], 'base64url');
    const data = Buffer.from(`${parts[0]}.${parts[1]}`);
    const ok = verifySignature(hash, data, wantType === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : key, sig);
    if (!ok) throw new TokenInvalidError('token signature does not verify');
    const claims = decodeJson<Claims>(parts[1], 'claims');
    if (claims.iss !== this.opts.issuer) throw new TokenInvalidError(`token issuer "${String(claims.iss)}" is not "${this.opts.issuer}"`);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(this.opts.service)) throw new TokenInvalidError(`token audience does not include "${this.opts.service}"`);
    if (typeof claims.exp !== 'number') throw new TokenInvalidError('token has no expiry');
    const nbf = typeof claims.nbf === 'number' ? claims.nbf : 0;
    if (now > claims.exp + LEEWAY_S) throw new TokenInvalidError('token has expired');
    if (now + LEEWAY_S < nbf) throw new TokenInvalidError('token is not valid yet');
    const access: ClaimAccess[] = Array.isArray(claims.access) ? (claims.access as ClaimAccess[]) : [];
    const grant: Grant = {
      allows: (type, name, action) =>
        access.some((a) => a.type === type && a.name === name && Array.isArray(a.actions) && (a.actions.includes(action) || a.actions.includes('*'))),
    };
    const v: Verified = { user: typeof claims.sub === 'string' ? claims.sub : undefined, exp: claims.exp, nbf, grant };
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, v);
    return v;
  }
}

const scopeOf = (access: Access[]) => access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');

export function loadTokenAuth(opts: TokenAuthOptions): Authenticator {
  for (const [k, v] of Object.entries(opts)) if (!v) throw new InvalidArgumentError(`token auth needs ${k}`);
  const verifier = new TokenVerifier(opts);
  const challenge = (access: Access[], error?: string) =>
    `Bearer realm="${opts.realm}",service="${opts.service}"${access.length ? `,scope="${scopeOf(access)}"` : ''}${error ? `,error="${error}"` : ''}`;
  return {
    async check(req: IncomingMessage, access: Access[]): Promise<AuthResult> {
      const h = req.headers.authorization ?? '';
      const m = /^Bearer\s+(\S+)$/i.exec(h);
      if (!m) return { ok: false, challenge: challenge(access) };
      let v: Verified;
      try {
        v = verifier.verify(m[1]);
      } catch (e) {
        if (!(e instanceof TokenInvalidError)) throw e;
        return { ok: false, challenge: challenge(access, 'invalid_token'), error: new RegistryHttpError(401, 'UNAUTHORIZED', `authentication required: ${e.message}`) };
      }
      const missing = access.find((a) => a.actions.some((act) => !v.grant.allows(a.type, a.name, act)));
      if (missing) {
        return {
          ok: false,
          challenge: challenge(access, 'insufficient_scope'),
          error: new RegistryHttpError(401, 'UNAUTHORIZED', 'authentication required: token lacks the access this request needs', [{ Type: missing.type, Name: missing.name, Action: missing.actions.join(',') }]),
        };
      }
      return { ok: true, user: v.user, grant: v.grant };
    },
  };
}
