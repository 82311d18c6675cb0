/**
 * The per-network resolver process ("embedded DNS"): answers A/PTR queries
 * for the containers of one network from an atomically replaced hosts file
 * and forwards everything else to upstream resolvers. It runs detached from
 * berthd (like conmon) so name resolution survives a daemon restart, bound
 * to the bridge gateway on a high port; the manager DNATs gateway:53 to it.
 *
 * State directory (written by dns/control.ts):
 *   config.json  {listen, port, upstream, forward, timeoutMs}
 *   hosts.json   {names: {"<lowercase name>": ["10.89.0.2", ...]}}
 *   port, pid    written by this process once it is listening
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';

/** argv[2] that makes a Berth entry point run the resolver instead of itself. */
export const DNS_RESOLVER_ARG = '--berth-dns-resolver';

export interface ResolverConfig {
  network: string;
  listen: string;
  /** Preferred port (the last one used, so the DNAT rule stays valid); 0 = any. */
  port: number;
  /** "ip" or "ip:port" (IPv6 as "[ip]:port"). */
  upstream: string[];
  forward: boolean;
  timeoutMs: number;
}

export interface HostsTable {
  names: Record<string, string[]>;
}

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const TTL = 600;

function flagsFor(query: dnsPacket.Packet, rcode: number): number {
  return dnsPacket.RECURSION_AVAILABLE | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode;
}

/** A reply carrying only a response code (SERVFAIL, FORMERR...) for `query`. */
export function errorReply(query: dnsPacket.Packet, rcode: number): dnsPacket.Packet {
  return { type: 'response', id: query.id ?? 0, flags: flagsFor(query, rcode), questions: query.questions ?? [], answers: [] };
}

function reverseName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

/**
 * The local answer to a query, or undefined when the name is not ours and
 * the query should be forwarded. Names are matched case-insensitively, with
 * or without a trailing dot; a known name has no AAAA records (NOERROR, empty).
 */
export function answerLocal(query: dnsPacket.Packet, table: HostsTable): dnsPacket.Packet | undefined {
  const q = query.questions?.[0];
  if (!q) return errorReply(query, RCODE.FORMERR);
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const ips = table.names[name];
  const reply = errorReply(query, RCODE.NOERROR);
  if (ips) {
    if (q.type === 'A' || q.type === 'ANY') reply.answers = ips.map((ip) => ({ type: 'A', name: q.name, ttl: TTL, class: 'IN', data: ip }));
    return reply;
  }
  if (q.type === 'PTR' && name.endsWith('.in-addr.arpa')) {
    for (const [n, list] of Object.entries(table.names)) {
      if (list.some((ip) => reverseName(ip) === name) && !/^[0-9a-f]{12}$/.test(n)) {
        reply.answers = [{ type: 'PTR', name: q.name, ttl: TTL, class: 'IN', data: n }];
        return reply;
      }
    }
  }
  return undefined;
}

export function parseUpstream(s: string): { host: string; port: number; family: 4 | 6 } {
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s);
  if (m) return { host: m[1]!, port: Number(m[2] ?? 53), family: 6 };
  if (net.isIPv6(s)) return { host: s, port: 53, family: 6 };
  m = /^([0-9.]+)(?::(\d+))?$/.exec(s);
  if (m && net.isIPv4(m[1]!)) return { host: m[1]!, port: Number(m[2] ?? 53), family: 4 };
  throw new Error(`invalid upstream resolver: ${s}`);
}

/** Sends `msg` to one upstream over UDP; resolves with the raw reply or undefined on timeout/refusal. */
function queryUpstream(msg: Buffer, upstream: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let u: ReturnType<typeof parseUpstream>;
    try {
      u = parseUpstream(upstream);
    } catch {
      return resolve(undefined);
    }
    const sock = dgram.createSocket(u.family === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: Buffer | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.on('error', () => finish(undefined));
    sock.on('message', (reply) => {
      if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) finish(reply);
    });
    sock.connect(u.port, u.host, () => sock.send(msg, (e) => e && finish(undefined)));
  });
}

/** The reply bytes for one query: local answer, upstream reply, or SERVFAIL. */
export async function resolveQuery(msg: Buffer, table: HostsTable, cfg: Pick<ResolverConfig, 'upstream' | 'forward' | 'timeoutMs'>): Promise<Buffer | undefined> {
  let query: dnsPacket.Packet;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    if (msg.length < 12) return undefined;
    // Undecodable: FORMERR with the client's id, no question section.
    const h = Buffer.alloc(12);
    msg.copy(h, 0, 0, 2);
    h.writeUInt16BE(0x8000 | RCODE.FORMERR, 2);
    return h;
  }
  if (query.type === 'response') return undefined;
  const local = answerLocal(query, table);
  if (local) return dnsPacket.encode(local);
  if (cfg.forward) {
    for (const up of cfg.upstream) {
      const r = await queryUpstream(msg, up, cfg.timeoutMs);
      if (r) return r;
    }
  }
  return dnsPacket.encode(errorReply(query, RCODE.SERVFAIL));
}

/** Reloads a JSON file when its inode/mtime/size change (the writer renames a new file into place). */
class Watched<T> {
  private key = '';
  private value: T;
  constructor(
    private readonly path: string,
    fallback: T,
  ) {
    this.value = fallback;
  }
  get(): T {
    try {
      const st = statSync(this.path);
      const key = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (key !== this.key) {
        this.value = JSON.parse(readFileSync(this.path, 'utf8')) as T;
        this.key = key;
      }
    } catch {
      // keep the last good value
    }
    return this.value;
  }
}

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function listenUdp(host: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function listenTcp(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Entry point of the resolver process; `dir` is its state directory. Never returns while serving. */
export async function runDnsResolver(dir: string): Promise<void> {
  const config = new Watched<ResolverConfig>(join(dir, 'config.json'), { network: '', listen: '', port: 0, upstream: [], forward: false, timeoutMs: 2000 });
  const hosts = new Watched<HostsTable>(join(dir, 'hosts.json'), { names: {} });
  const cfg0 = config.get();
  if (!cfg0.listen) throw new Error(`berth-dns: no usable config in ${dir}`);

  const tcp = net.createServer((conn) => serveTcp(conn, () => hosts.get(), () => config.get()));
  let udp: dgram.Socket | undefined;
  let port = cfg0.port;
  for (let attempt = 0; attempt < 8 && !udp; attempt++) {
    try {
      udp = await listenUdp(cfg0.listen, port);
      await listenTcp(tcp, cfg0.listen, udp.address().port);
    } catch (e) {
      udp?.close();
      udp = undefined;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') throw e;
      port = 0; // the preferred port is taken: any port will do, the manager rewrites the DNAT rule
    }
  }
  if (!udp) throw new Error(`berth-dns: cannot bind ${cfg0.listen}`);
  udp.on('message', (msg, rinfo) => {
    void resolveQuery(msg, hosts.get(), config.get()).then(
      (reply) => reply && udp!.send(reply, rinfo.port, rinfo.address),
      () => undefined,
    );
  });
  udp.on('error', (e) => process.stderr.write(`berth-dns: ${e.message}\n`));
  writeAtomic(join(dir, 'pid'), `${process.pid}\n`);
  writeAtomic(join(dir, 'port'), `${udp.address().port}\n`);

  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => undefined);
  // The network was removed while berthd was away: nothing to serve.
  setInterval(() => existsSync(join(dir, 'config.json')) || stop(), 5000);
}

function serveTcp(conn: net.Socket, table: () => HostsTable, cfg: () => ResolverConfig): void {
  let buf = Buffer.alloc(0);
  conn.setTimeout(10_000, () => conn.destroy());
  conn.on('error', () => undefined);
  conn.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      void resolveQuery(Buffer.from(msg), table(), cfg()).then((reply) => {
        if (!reply || conn.destroyed) return;
        const lenBuf = Buffer.alloc(2);
        lenBuf.writeUInt16BE(reply.length);
        conn.write(Buffer.concat([lenBuf, reply]));
      });
    }
  });
}
