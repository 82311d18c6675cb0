/**
 * htpasswd basic auth for `berth registry serve`, as the distribution
 * registry's htpasswd backend: bcrypt entries only (`user:$2y$…`), a 401 with
 * `WWW-Authenticate: Basic` otherwise. Verified credentials are remembered
 * (by a hash of user and password) so bcrypt's deliberate cost is paid once,
 * not on every blob request.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError } from '../../errors';

export interface BasicAuth {
  /** True when the request carries valid credentials. */
  check(req: IncomingMessage): Promise<boolean>;
  readonly realm: string;
}

export function loadHtpasswd(path: string, realm = 'berth-registry'): BasicAuth {
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
  return {
    realm,
    async check(req) {
      const h = req.headers.authorization ?? '';
      if (!h.startsWith('Basic ')) return false;
      const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
      const c = decoded.indexOf(':');
      if (c < 0) return false;
      const user = decoded.slice(0, c);
      const hash = users.get(user);
      if (!hash) return false;
      const key = createHash('sha256').update(`${hash}\0${decoded}`).digest('hex');
      if (verified.has(key)) return true;
      const { compare } = await import('bcryptjs');
      const ok = await compare(decoded.slice(c + 1), hash.replace(/^\$2y\$/, '$2b$'));
      if (ok) verified.add(key);
      return ok;
    },
  };
}
