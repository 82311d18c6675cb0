/** Checks credentials against a registry the way `docker login` does: ping, then one authenticated round trip. */
import { ForbiddenError } from '../../errors';
import { type Credentials, basicHeader, TokenCache } from './auth';
import { endpointFor } from './endpoint';
import { describeFailure } from './errors';
import { RegistryTransport } from './transport';

export async function checkLogin(domain: string, creds: Credentials, insecure: string[] = []): Promise<void> {
  const t = new RegistryTransport(endpointFor(domain, insecure), creds, new TokenCache());
  const challenge = await t.ping();
  if (!challenge) return;
  if (challenge.scheme === 'bearer') {
    await t.fetchToken(challenge, []);
    return;
  }
  const res = await fetch(t.url('/v2/'), { headers: { Authorization: basicHeader(creds) ?? '' } });
  if (res.status === 401 || res.status === 403) throw new ForbiddenError(`login to ${domain} failed: unauthorized: ${await describeFailure(res)}`);
  await res.body?.cancel().catch(() => undefined);
}
