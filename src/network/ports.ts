/**
 * Published-port bookkeeping: validation, conflicts with other containers'
 * mappings and with host sockets, and picking free host ports for hostPort 0
 * (from the kernel's ephemeral range, as Docker does).
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { ConflictError, InvalidArgumentError } from '../errors';
import type { PortMapping } from './types';

export type ResolvedPort = PortMapping & { hostPort: number };

export function normalizePort(p: PortMapping): PortMapping {
  const protocol = (p.protocol ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp') throw new InvalidArgumentError(`invalid protocol: ${p.protocol} (only tcp and udp are supported)`);
  if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) throw new InvalidArgumentError(`invalid container port: ${p.containerPort}`);
  if (!Number.isInteger(p.hostPort) || p.hostPort < 0 || p.hostPort > 65535) throw new InvalidArgumentError(`invalid host port: ${p.hostPort}`);
  const end = p.hostPortEnd;
  if (end !== undefined && (!Number.isInteger(end) || p.hostPort < 1 || end < p.hostPort || end > 65535)) throw new InvalidArgumentError(`invalid host port range: ${p.hostPort}-${end}`);
  let hostIp = p.hostIp ?? '';
  if (hostIp === '0.0.0.0') hostIp = '';
  if (hostIp && !net.isIPv4(hostIp)) throw new InvalidArgumentError(`invalid host IP for port publishing: ${hostIp} (only IPv4 is supported)`);
  return { hostIp, hostPort: p.hostPort, ...(end !== undefined && end !== p.hostPort ? { hostPortEnd: end } : {}), containerPort: p.containerPort, protocol };
}

function clash(a: PortMapping, b: PortMapping): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (!a.hostIp || !b.hostIp || a.hostIp === b.hostIp);
}

/** Binds and releases a host socket: EADDRINUSE means some host process owns the port. Returns the bound port. */
function probe(ip: string, port: number, protocol: 'tcp' | 'udp'): Promise<number> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', (e) => {
        s.close();
        reject(e);
      });
      s.bind(port, ip || '0.0.0.0', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    } else {
      const s = net.createServer();
      s.once('error', reject);
      s.listen({ port, host: ip || '0.0.0.0', exclusive: true }, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    }
  });
}

/**
 * Resolves requested mappings against those already allocated (`inUse`):
 * fixed host ports must be free of both; hostPort 0 gets a free ephemeral
 * port. Errors use Docker's wording.
 */
export async function allocatePorts(requested: PortMapping[], inUse: ResolvedPort[]): Promise<ResolvedPort[]> {
  const taken = [...inUse];
  const out: ResolvedPort[] = [];
  for (const raw of requested) {
    const p = normalizePort(raw);
    const where = `${p.hostIp || '0.0.0.0'}:${p.hostPort}`;
    if (p.hostPortEnd !== undefined) {
      // A range: its first port free of other containers' mappings and of host sockets.
      let got: ResolvedPort | undefined;
      for (let port = p.hostPort; port <= p.hostPortEnd && !got; port++) {
        const cand: ResolvedPort = { hostIp: p.hostIp, hostPort: port, containerPort: p.containerPort, protocol: p.protocol };
        if (taken.some((t) => clash(t, cand))) continue;
        try {
          await probe(p.hostIp ?? '', port, p.protocol);
          got = cand;
        } catch (e) {
          // Taken by a host process: try the next one; anything else (an address not on this host) is an error.
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EADDRNOTAVAIL') throw new InvalidArgumentError(`failed to bind host port for ${p.hostIp}:${port}: cannot assign requested address`);
          if (code !== 'EADDRINUSE' && code !== 'EACCES') throw e;
        }
      }
      if (!got) throw new ConflictError(`Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort}-${p.hostPortEnd} failed: all ports in the range are allocated`);
      taken.push(got);
      out.push(got);
      continue;
    }
    if (p.hostPort) {
      if (taken.some((t) => clash(t, p))) throw new ConflictError(`Bind for ${where} failed: port is already allocated`);
      try {
        await probe(p.hostIp ?? '', p.hostPort, p.protocol);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new ConflictError(`failed to bind host port for ${where}: address already in use`);
        if (code === 'EADDRNOTAVAIL') throw new InvalidArgumentError(`failed to bind host port for ${where}: cannot assign requested address`);
        throw e;
      }
      const r = { ...p, hostPort: p.hostPort };
      taken.push(r);
      out.push(r);
      continue;
    }
    let got: ResolvedPort | undefined;
    for (let i = 0; i < 64 && !got; i++) {
      const port = await probe(p.hostIp ?? '', 0, p.protocol);
      const cand = { ...p, hostPort: port };
      if (!taken.some((t) => clash(t, cand))) got = cand;
    }
    if (!got) throw new ConflictError(`no free host port for ${p.containerPort}/${p.protocol}`);
    taken.push(got);
    out.push(got);
  }
  return out;
}

/**
 * A container's new mappings (an update of a running one): a requested
 * mapping without a fixed host port (hostPort 0, or a range) that the
 * container has already keeps the host port it got, so that publishing or
 * unpublishing one port does not move the others. Fixed ports are matched
 * first, so one asked for again is not also handed to a random request.
 */
export function keepHostPorts(requested: PortMapping[], current: ResolvedPort[]): PortMapping[] {
  const left = current.map((c) => normalizePort(c) as ResolvedPort);
  const wanted = requested.map((r) => normalizePort(r));
  const same = (c: PortMapping, p: PortMapping) => c.containerPort === p.containerPort && c.protocol === p.protocol && c.hostIp === p.hostIp;
  const take = (i: number) => left.splice(i, 1)[0]!;
  for (const p of wanted) {
    if (!p.hostPort || p.hostPortEnd !== undefined) continue;
    const i = left.findIndex((c) => same(c, p) && c.hostPort === p.hostPort);
    if (i >= 0) take(i);
  }
  return wanted.map((p) => {
    if (p.hostPort && p.hostPortEnd === undefined) return p;
    const i = left.findIndex((c) => same(c, p) && (!p.hostPort || (c.hostPort >= p.hostPort && c.hostPort <= p.hostPortEnd!)));
    if (i < 0) return p;
    const { hostPortEnd: _, ...fixed } = p;
    return { ...fixed, hostPort: take(i).hostPort };
  });
}

/** The portmap plugin's runtimeConfig.portMappings entries. */
export function toPortmapEntries(ports: ResolvedPort[]): Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }> {
  return ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIp ? { hostIP: p.hostIp } : {}) }));
}
