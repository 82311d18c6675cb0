/** The host's IPv4 routes (from /proc/net/route), for picking subnets that do not shadow them. */
import { readFileSync } from 'node:fs';
import type { Cidr } from './ipnet';

export interface HostRoute extends Cidr {
  iface: string;
}

function leHex(h: string): number {
  const n = parseInt(h, 16) >>> 0;
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

export function hostRoutes(): HostRoute[] {
  let text = '';
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return [];
  }
  const out: HostRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const base = leHex(f[1]!);
    const maskN = leHex(f[7]!);
    let prefix = 0;
    for (let m = maskN; m; m = (m << 1) >>> 0) prefix++;
    if (prefix === 0) continue; // the default route overlaps everything
    out.push({ iface: f[0]!, base, prefix });
  }
  return out;
}
