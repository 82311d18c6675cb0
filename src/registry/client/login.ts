/** Checks credentials against a registry the way `docker login` does: ping, then one authenticated round trip. */
import { ForbiddenError } from '../../errors';
import { type Credentials, basicHeader, TokenCache } from './auth';
import { endpointFor } from './endpoint';
import { describeFailure, networkError } from './errors';
import { httpSend, type RegistryResponse } from './http';
import { RegistryTransport } from './transport';

export async function checkLogin(domain: string, creds: Credentials, insecure: string[] = []): Promise<void> {
  const t = new RegistryTransport(endpointFor(domain, insecure), creds, new TokenCache());
  const challenge = await t.ping();
  if (!challenge) return;
  if (challenge.scheme === 'bearer') {
    await t.fetchToken(challenge, []);
    return;
  }
  let res: RegistryResponse;
  try {
    res = await httpSend('GET', new URL(t.url('/v2/')), { 'User-Agent': 'berth', Authorization: basicHeader(creds) ?? '' });
  } catch (e) {
    throw networkError('GET', t.url('/v2/'), e);
  }
  if (res.status === 401 || res.status === 403) throw new ForbiddenError(`login to ${domain} failed: unauthorized: ${await describeFailure(res)}`);
  await res.body?.cancel().catch(() => undefined);
}
