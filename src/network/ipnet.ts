/**
 * IPv4 CIDR arithmetic for subnet validation, overlap checks and gateway
 * defaults. Addresses are handled as unsigned 32-bit numbers.
 */
import { isIPv4 } from 'node:net';
import { InvalidArgumentError } from '../errors';

export interface Cidr {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  if (!isIPv4(ip)) throw new InvalidArgumentError(`invalid IPv4 address: ${ip}`);
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "10.1.2.0/24"; host bits must be zero unless `loose` (then they are cleared). */
export function parseCidr(s: string, loose = false): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw new InvalidArgumentError(`invalid CIDR address: ${s}`);
  const prefix = Number(m[2]);
  const ip = ipToInt(m[1]!);
  const base = (ip & mask(prefix)) >>> 0;
  if (!loose && base !== ip) throw new InvalidArgumentError(`invalid subnet ${s}: it has host bits set (did you mean ${intToIp(base)}/${prefix}?)`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : ipToInt(ip);
  return ((n & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The n-th address of the subnet (1 = first host, Docker's default gateway). */
export function nthHost(c: Cidr, n: number): string {
  return intToIp((c.base + n) >>> 0);
}

/** True for the network and broadcast addresses of a subnet that has room for hosts. */
export function isReserved(c: Cidr, ip: string): boolean {
  const n = ipToInt(ip);
  if (c.prefix >= 31) return false;
  return n === c.base || n === ((c.base + cidrSize(c) - 1) >>> 0);
}
