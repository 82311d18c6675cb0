/**
 * Access control for `berth registry serve`. Each route states the access it
 * needs (distribution's `resource type:name:actions`, e.g.
 * `repository:library/app:pull,push`); an Authenticator grants it or answers
 * with the challenge for a 401. Two backends, as in distribution:
 * htpasswd basic auth (here) and bearer tokens (token.ts).
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '../../errors';
import type { RegistryHttpError } from './errors';

/** One resource and the actions a request needs on it. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** What an authenticated request may do beyond the access it was checked for (e.g. a mount's source). */
export interface Grant {
  allows(type: string, name: string, action: string): boolean;
}

export type AuthResult = { ok: true; user?: string; grant: Grant } | { ok: false; challenge: string; error?: RegistryHttpError };

export interface Authenticator {
  check(req: IncomingMessage, access: Access[]): Promise<AuthResult>;
}

const ALL: Grant = { allows: () => true };

/**
 * htpasswd basic auth, as the distribution registry's htpasswd backend:
 * bcrypt entries only (`user:$2y$…`); any valid user may do anything.
 * Verified credentials are remembered (by a hash of user and password) so
 * bcrypt's deliberate cost is paid once, not on every blob request.
 */
export function loadHtpasswd(path: string, realm = 'berth-registry'): Authenticator {
  const users = new Map<string, string>();
  const text = readFileSync(path, 'utf8');
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const c = line.indexOf(':');
    const hash = line.slice(c + 1);
    if (c <= 0 || !/^\$2[aby]\$\d\d\$/.test(hash)) throw new InvalidArgumentError(`${path}:${i + 1}: only bcrypt htpasswd entries (htpasswd -B) are supported`);
    users.set(line.slice(0, c), hash);
  }
  const verified = new Set<string>();
  const challenge = `Basic realm="${realm}"`;
  const valid = async (req: IncomingMessage): Promise<string | undefined> => {
    const h = req.headers.authorization ?? '';
    if (!h.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const c = decoded.indexOf(':');
    if (c < 0) return undefined;
    const user = decoded.slice(0, c);
    const hash = users.get(user);
    if (!hash) return undefined;
    const key = createHash('sha256').update(`${hash}\0${decoded}`).digest('hex');
    if (verified.has(key)) return user;
    const { compare } = await import('bcryptjs');
    const ok = await compare(decoded.slice(c + 1), hash.replace(/^\$2y\$/, '$2b$'));
    if (!ok) return undefined;
    verified.add(key);
    return user;
  };
  return {
    async check(req) {
      const user = await valid(req);
      return user === undefined ? { ok: false, challenge } : { ok: true, user, grant: ALL };
    },
  };
}
