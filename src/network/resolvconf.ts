/**
 * resolv.conf and /etc/hosts content for containers, from the host's
 * resolver configuration (as Docker: loopback resolvers are unusable from a
 * container's namespace, so they are dropped for the default bridge; on user
 * networks the container asks the network's resolver, which runs on the host
 * and forwards to the host's resolvers, loopback ones included).
 */
import { readFileSync } from 'node:fs';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Docker's fallback when the host has no usable resolver. */
export const DEFAULT_DNS = ['8.8.8.8', '8.8.4.4'];

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...vals] = line.split(/\s+/);
    if (key === 'nameserver' && vals[0]) out.nameservers.push(vals[0]);
    else if (key === 'search' || key === 'domain') out.search = vals;
    else if (key === 'options') out.options.push(...vals);
  }
  return out;
}

export function readResolvConf(path = '/etc/resolv.conf'): ResolvConf {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { nameservers: [], search: [], options: [] };
  }
}

export function isLoopbackResolver(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** Resolvers a container on the default bridge (or any non-DNS network) can use. */
export function containerResolvers(host: ResolvConf = readResolvConf()): string[] {
  let ns = host.nameservers.filter((n) => !isLoopbackResolver(n));
  if (!ns.length && host.nameservers.length) {
    // systemd-resolved's stub (127.0.0.53): the real upstreams are listed here
    ns = readResolvConf('/run/systemd/resolve/resolv.conf').nameservers.filter((n) => !isLoopbackResolver(n));
  }
  return ns.length ? ns : DEFAULT_DNS;
}

export function renderResolvConf(c: ResolvConf): string {
  let s = '';
  if (c.search.length) s += `search ${c.search.join(' ')}\n`;
  for (const n of c.nameservers) s += `nameserver ${n}\n`;
  if (c.options.length) s += `options ${c.options.join(' ')}\n`;
  return s;
}

export const LOCALHOST_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** /etc/hosts: localhost lines, --add-host entries, then the container's own addresses (Docker's order). */
export function renderHosts(own: Array<{ ip: string; names: string[] }>, extra: Array<{ ip: string; names: string[] }> = []): string {
  let s = LOCALHOST_HOSTS;
  for (const e of [...extra, ...own]) s += `${e.ip}\t${e.names.join(' ')}\n`;
  return s;
}
