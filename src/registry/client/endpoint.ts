/**
 * Where a reference's registry lives and how to talk to it: docker.io means
 * registry-1.docker.io; loopback and BERTH_INSECURE_REGISTRIES hosts speak
 * plain HTTP, as Docker treats them (127.0.0.0/8 and localhost are insecure by default).
 */
import { isIP } from 'node:net';

export const DOCKER_HUB_DOMAIN = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

export interface Endpoint {
  /** The reference's domain, as in ~/.docker/config.json keys ('docker.io', 'localhost:5000'). */
  domain: string;
  /** 'https://registry-1.docker.io' or 'http://127.0.0.1:5000'. */
  base: string;
  insecure: boolean;
}

function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(1, domain.indexOf(']'));
  const colon = domain.lastIndexOf(':');
  return colon === -1 ? domain : domain.slice(0, colon);
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Hosts or host:port entries from BERTH_INSECURE_REGISTRIES (comma/space separated). */
function insecureList(): string[] {
  return (process.env.BERTH_INSECURE_REGISTRIES ?? '').split(/[\s,]+/).filter(Boolean);
}

export function isInsecureRegistry(domain: string, extra: string[] = []): boolean {
  const host = hostOf(domain);
  if (isLoopbackHost(host)) return true;
  const list = [...insecureList(), ...extra];
  return list.includes(domain) || list.includes(host);
}

export function endpointFor(domain: string, extraInsecure: string[] = []): Endpoint {
  const insecure = isInsecureRegistry(domain, extraInsecure);
  const host = domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_API : domain;
  return { domain, base: `${insecure ? 'http' : 'https'}://${host}`, insecure };
}
