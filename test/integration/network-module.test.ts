/**
 * The network module against the real CNI plugins, iptables and kernel:
 * fake "containers" are just the network namespaces attach() returns, and
 * commands run inside them with nsenter. Everything uses names and subnets
 * unique to this run (bridges bt-<rand>, subnets in 10.231.x.0/24) and is
 * removed again; the only traffic targets are loopback, the host's own
 * addresses and these namespaces.
 *
 * This file is also the resolver process's entry point when started with
 * DNS_RESOLVER_ARG (as berthd is in production).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { DNS_RESOLVER_ARG, NetworkManager, runDnsResolver, type AttachResult } from '../../src/network';
import { ConflictError, ForbiddenError, InvalidArgumentError } from '../../src/errors';
import { execFile } from '../../src/sys/exec';
import { processAlive } from '../../src/sys/proc';

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

const hasPlugins = fs.existsSync('/usr/lib/cni/bridge') && fs.existsSync('/usr/sbin/iptables');

async function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFile(cmd, args);
}

function inNs(nsPath: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execFile('/usr/bin/nsenter', [`--net=${nsPath}`, ...args]);
}

/** iptables-save without counters, comments and timestamps, as a set of lines. */
async function iptablesState(): Promise<string[]> {
  const r = await sh('/usr/sbin/iptables-save', []);
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/, '[]'));
}

/** Chains and rules the CNI plugins create once and share (like Docker's DOCKER chains); never per container. */
const SKELETON = /^(:CNI-(FORWARD|ADMIN|HOSTPORT-DNAT|HOSTPORT-SETMARK|HOSTPORT-MASQ) |:BERTH-ISOLATION-[12] |-A FORWARD -m comment --comment "?berth-isolation"? -j BERTH-ISOLATION-1$|-A (FORWARD|CNI-FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*(CNI firewall plugin|CNI portfwd|-j CNI-HOSTPORT-DNAT|-j CNI-ADMIN|-j CNI-FORWARD)|-A CNI-HOSTPORT-(SETMARK|MASQ) )/;

/**
 * Removes the shared skeleton if this run created it, chain by chain, and
 * only a chain nobody else uses right now (no rules but the skeleton's own,
 * no jumps to it but from built-in chains), so a concurrent user is never hit.
 */
async function removeSkeleton(before: string[]): Promise<void> {
  const had = new Set(before);
  const plan: Array<[table: string, chain: string, own?: RegExp]> = [
    ['filter', 'CNI-FORWARD', /CNI firewall plugin admin overrides/],
    ['filter', 'CNI-ADMIN'],
    ['filter', 'BERTH-ISOLATION-1'],
    ['filter', 'BERTH-ISOLATION-2'],
    ['nat', 'CNI-HOSTPORT-DNAT'],
    ['nat', 'CNI-HOSTPORT-MASQ', /--mark 0x2000\/0x2000 -j MASQUERADE/],
    ['nat', 'CNI-HOSTPORT-SETMARK', /CNI portfwd masquerade mark/],
  ];
  for (const [table, chain, own] of plan) {
    if (had.has(`:${chain} - []`)) continue;
    const all = (await sh('/usr/sbin/iptables', ['-t', table, '-S'])).stdout.split('\n');
    if (!all.includes(`-N ${chain}`)) continue;
    const body = all.filter((l) => l.startsWith(`-A ${chain} `));
    if (body.some((l) => !own?.test(l))) continue;
    const jumps = all.filter((l) => l.startsWith('-A ') && / -j (\S+)/.exec(l)?.[1] === chain);
    if (jumps.some((l) => !/^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) /.test(l))) continue;
    for (const j of jumps) await sh('/bin/sh', ['-c', `iptables -t ${table} ${j.replace(/^-A/, '-D')}`]);
    await sh('/usr/sbin/iptables', ['-t', table, '-F', chain]);
    await sh('/usr/sbin/iptables', ['-t', table, '-X', chain]);
  }
}

/** A stand-in for the host's resolvers on loopback: upstream.test → 10.9.9.9, blackhole.test → never answers. */
async function fakeUpstream(): Promise<{ port: number; close: () => void }> {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const name = q.questions?.[0]?.name ?? '';
    if (name === 'blackhole.test') return;
    const known = name === 'upstream.test';
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: q.questions,
      answers: known ? [{ type: 'A', name, ttl: 60, data: '10.9.9.9' }] : [],
    });
    s.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, close: () => s.close() };
}

/** A UDP port on loopback that nobody listens on (queries there are refused at once). */
async function closedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function hostRoutesText(): string {
  return fs.readFileSync('/proc/net/route', 'utf8');
}

/** Three consecutive free 10.231.x.0/24 subnets (x random per run). */
function pickSubnets(): number {
  const routes = hostRoutesText();
  for (let i = 0; i < 50; i++) {
    const x = Math.floor(Math.random() * 250);
    // /proc/net/route prints 10.231.x.0 as little-endian hex: 00 x e7 0a
    const used = [0, 1, 2].some((d) => routes.includes(`00${(x + d).toString(16).padStart(2, '0').toUpperCase()}E70A`));
    if (!used) return x;
  }
  throw new Error('no free 10.231.x.0/24');
}

function hostAddress(): string | undefined {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (name.startsWith('bt-') || name.startsWith('br-') || name.startsWith('berth')) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  return undefined;
}

async function httpGet(url: string): Promise<string> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 5000);
  try {
    const r = await fetch(url, { signal: ac.signal });
    return await r.text();
  } finally {
    clearTimeout(t);
  }
}

async function links(): Promise<string[]> {
  return fs.readdirSync('/sys/class/net').sort();
}

function leaseFiles(root: string, net: string): string[] {
  const dir = path.join(root, 'networks', 'ipam', net);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

function suite(): void {
  describe('network module (CNI)', { skip: !isRoot() ? 'needs root' : !hasPlugins ? 'needs containernetworking-plugins and iptables' : false }, () => {
    const r = randomBytes(2).toString('hex');
    const x = pickSubnets();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-net-'));
    const root = path.join(tmp, 'root');
    const run = path.join(tmp, 'run');
    const userNet = `bt-${r}`;
    const internalNet = `bt-${r}i`;
    const subnet = `10.231.${x}.0/24`;
    const gw = `10.231.${x}.1`;
    const internalSubnet = `10.231.${x + 1}.0/24`;
    const cid = (n: string) => `${r}${n}`.padEnd(64, '0').replace(/[^0-9a-f]/g, 'e');
    const A = cid('a1');
    const B = cid('b2');
    const C = cid('c3');
    const D = cid('d4');
    let upstream: { port: number; close: () => void };
    let ipt0: string[];
    let links0: string[];
    let ipForward0 = '';
    let nm: NetworkManager;
    let httpd: ChildProcess | undefined;
    let a: AttachResult;
    let b: AttachResult;
    const logs: string[] = [];
    const mk = (refused: number, cniPath?: string) =>
      new NetworkManager({
        cniPath,
        root,
        run,
        resolverCommand: [process.execPath, __filename, DNS_RESOLVER_ARG],
        upstreamDns: [`127.0.0.1:${refused}`, `127.0.0.1:${upstream.port}`],
        dnsTimeoutMs: 400,
        firewall: 'always',
        defaultBridge: { bridgeName: `bt-${r}d`, subnet: `10.231.${x + 2}.0/24` },
        log: (m) => logs.push(m),
      });

    before(async () => {
      ipt0 = await iptablesState();
      links0 = await links();
      ipForward0 = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
      upstream = await fakeUpstream();
      nm = mk(await closedUdpPort());
      await nm.init(new Set());
    });

    after(async () => {
      httpd?.kill('SIGKILL');
      // Whatever a failed test left: detach everything, remove the networks, restore the shared skeleton.
      const m = mk(1);
      await m.init(new Set()).catch(() => undefined);
      await m.destroy().catch(() => undefined);
      for (const br of [`bt-${r}`, `bt-${r}i`, `bt-${r}d`]) await sh('/usr/sbin/ip', ['link', 'del', br]);
      await removeSkeleton(ipt0);
      // The bridge plugin turned forwarding on; turn it off again unless some other bridge may need it.
      const others = (await links()).filter((l) => /^(berth|docker|cni|podman|br-|virbr)/.test(l));
      if (ipForward0 === '0' && !others.length) fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '0');
      upstream?.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    test('networks: predefined ones, create, Docker errors', async () => {
      assert.deepEqual(nm.list().map((n) => n.Name).sort(), ['bridge', 'host', 'none']);
      assert.equal(nm.get('bridge').Dns, false);
      const n = await nm.create({ name: userNet, subnet, labels: { run: r }, options: { 'com.docker.network.bridge.name': userNet } });
      assert.equal(n.Gateway, gw);
      assert.equal(n.BridgeName, userNet);
      assert.equal(n.Dns, true);
      assert.match(n.Id, /^[0-9a-f]{64}$/);
      assert.equal(nm.get(n.Id.slice(0, 12)).Name, userNet);
      await assert.rejects(nm.create({ name: userNet }), ConflictError);
      await assert.rejects(nm.create({ name: `${userNet}x`, subnet: `10.231.${x}.128/25` }), ForbiddenError);
      await assert.rejects(nm.create({ name: `${userNet}y`, subnet: '10.231.0.1/24' }), InvalidArgumentError);
      await assert.rejects(nm.remove('bridge'), ForbiddenError);
      const i = await nm.create({ name: internalNet, subnet: internalSubnet, internal: true, options: { 'com.docker.network.bridge.name': internalNet } });
      assert.equal(i.Internal, true);
    });

    test('attach: addresses in the subnet, ping by IP, the gateway answers', async () => {
      a = await nm.attach(A, '/alpha', 'alpha-host', [{ network: userNet, aliases: ['db'] }], []);
      b = await nm.attach(B, 'beta', 'beta-host', [{ network: userNet, aliases: ['cache'] }], [{ hostPort: 0, containerPort: 8080, protocol: 'tcp' }]);
      assert.equal(a.nsPath, path.join(run, 'netns', A));
      assert.deepEqual(a.namespace, { mode: 'path', nsPath: a.nsPath });
      const ea = a.networks[userNet]!;
      const eb = b.networks[userNet]!;
      assert.match(ea.IPAddress, new RegExp(`^10\\.231\\.${x}\\.\\d+$`));
      assert.match(eb.IPAddress, new RegExp(`^10\\.231\\.${x}\\.\\d+$`));
      assert.notEqual(ea.IPAddress, eb.IPAddress);
      assert.equal(ea.IPPrefixLen, 24);
      assert.equal(ea.Gateway, gw);
      assert.match(ea.MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.deepEqual(ea.Aliases, ['db']);
      assert.deepEqual(a.dnsServers, [gw]);
      assert.ok(a.dnsOptions.includes('ndots:0'));
      assert.deepEqual(a.hosts, [{ ip: ea.IPAddress, names: ['alpha-host'] }]);
      assert.equal(b.ports.length, 1);
      assert.ok(b.ports[0]!.hostPort > 0);
      const ping = await inNs(a.nsPath, ['/bin/busybox', 'ping', '-c1', '-W2', eb.IPAddress]);
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);
      const pingGw = await inNs(b.nsPath, ['/bin/busybox', 'ping', '-c1', '-W2', gw]);
      assert.equal(pingGw.code, 0, pingGw.stdout + pingGw.stderr);
      const routes = await inNs(a.nsPath, ['/usr/sbin/ip', '-4', 'route']);
      assert.match(routes.stdout, new RegExp(`default via ${gw.replace(/\./g, '\\.')}`));
      assert.equal(leaseFiles(root, userNet).length, 2);
    });

    test('DNS: names and aliases resolve, other names are forwarded, failures are SERVFAIL', async () => {
      const eb = b.networks[userNet]!;
      const q = (name: string, ns = a.nsPath) => inNs(ns, ['/bin/busybox', 'nslookup', name, gw]);
      for (const name of ['beta', 'cache', 'BETA', B.slice(0, 12)]) {
        const res = await q(name);
        assert.equal(res.code, 0, `${name}: ${res.stdout}${res.stderr}`);
        assert.match(res.stdout, new RegExp(`Address:\\s+${eb.IPAddress.replace(/\./g, '\\.')}\\b`), name);
      }
      const self = await q('alpha', b.nsPath);
      assert.match(self.stdout, new RegExp(a.networks[userNet]!.IPAddress.replace(/\./g, '\\.')));
      const fwd = await q('upstream.test');
      assert.match(fwd.stdout, /Address:\s+10\.9\.9\.9\b/, fwd.stdout + fwd.stderr);
      const nx = await q('nosuchname.test');
      assert.notEqual(nx.code, 0);
      assert.match(nx.stdout + nx.stderr, /NXDOMAIN/);
      const lost = await q('blackhole.test');
      assert.notEqual(lost.code, 0);
      assert.match(lost.stdout + lost.stderr, /SERVFAIL/);
      // still serving after the failure
      assert.equal((await q('beta')).code, 0);
    });

    test('published port: reachable on 127.0.0.1 and on the host address', async () => {
      const www = path.join(tmp, 'www');
      fs.mkdirSync(www, { recursive: true });
      fs.writeFileSync(path.join(www, 'index.html'), `hello from ${r}\n`);
      httpd = spawn('/usr/bin/nsenter', [`--net=${b.nsPath}`, '/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', www], { stdio: 'ignore' });
      const port = b.ports[0]!.hostPort;
      let body = '';
      let why: unknown;
      for (let i = 0; i < 50 && !body; i++) {
        body = await httpGet(`http://127.0.0.1:${port}/`).catch((e) => {
          why = (e as Error & { cause?: unknown }).cause ?? e;
          return '';
        });
        if (!body) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(body, `hello from ${r}\n`, `last error: ${String(why)}`);
      const other = hostAddress();
      if (other) assert.equal(await httpGet(`http://${other}:${port}/`), `hello from ${r}\n`);
      // container to container on the bridge, by IP
      const w = await execFile('/usr/bin/nsenter', [`--net=${a.nsPath}`, '/bin/busybox', 'nc', '-w', '3', b.networks[userNet]!.IPAddress, '8080'], { input: 'GET / HTTP/1.0\r\n\r\n' });
      assert.match(w.stdout, new RegExp(`^HTTP/1\\.[01] 200[^]*hello from ${r}\n$`), w.stderr);
      // the same host port cannot be published twice
      await assert.rejects(nm.attach(D, 'delta', 'd', [{ network: userNet }], [{ hostPort: port, containerPort: 80, protocol: 'tcp' }]), ConflictError);
      assert.equal(fs.existsSync(path.join(run, 'netns', D)), false);
      httpd.kill('SIGKILL');
      httpd = undefined;
    });

    test('updatePorts: new host ports are claimed at once and recorded before portmap runs; a failed ADD leaves no rules', async () => {
      // A portmap wrapper: snapshots A's endpoint record at each ADD, and fails an ADD mapping container port 9999 after running it.
      const wrap = path.join(tmp, 'cni-wrap');
      fs.mkdirSync(wrap, { recursive: true });
      for (const f of fs.readdirSync('/usr/lib/cni')) if (f !== 'portmap') fs.symlinkSync(path.join('/usr/lib/cni', f), path.join(wrap, f));
      const rec = path.join(root, 'networks', 'endpoints', `${A}.json`);
      const snap = path.join(tmp, 'snap.json');
      fs.writeFileSync(
        path.join(wrap, 'portmap'),
        [
          '#!/bin/sh',
          'in=$(cat)',
          `[ "$CNI_COMMAND" = ADD ] && [ "$CNI_CONTAINERID" = ${A} ] && /bin/cp ${rec} ${snap}`,
          'out=$(printf "%s" "$in" | /usr/lib/cni/portmap) || { printf "%s" "$out"; exit 1; }',
          'case "$CNI_COMMAND:$in" in ADD:*\'"containerPort":9999\'*) echo \'{"cniVersion":"1.0.0","code":11,"msg":"injected failure"}\'; exit 1;; esac',
          'printf "%s" "$out"',
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      const m = mk(await closedUdpPort(), wrap);
      await m.init();
      const free = async () => {
        const srv = net.createServer();
        await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
        const port = (srv.address() as net.AddressInfo).port;
        await new Promise((res) => srv.close(res));
        return port;
      };
      const rules = async (port: number) => (await iptablesState()).filter((l) => l.includes(`--dport ${port} `));
      try {
        // The same host port asked by an update and by another container's attach at once: one of them gets it.
        const p1 = await free();
        const raced = await Promise.allSettled([m.updatePorts(A, [{ hostPort: p1, containerPort: 80, protocol: 'tcp' }]), m.attach(D, 'delta', 'd', [{ network: userNet }], [{ hostPort: p1, containerPort: 80, protocol: 'tcp' }])]);
        await m.detach(D);
        const refused = raced.filter((x) => x.status === 'rejected');
        assert.equal(refused.length, 1, `host port ${p1} given twice`);
        assert.ok((refused[0] as PromiseRejectedResult).reason instanceof ConflictError, String((refused[0] as PromiseRejectedResult).reason));
        await m.updatePorts(A, []);
        assert.deepEqual(await rules(p1), []);

        // The record already names portmap and the new mapping while portmap's ADD runs: a DEL replayed after a crash removes the rules.
        fs.rmSync(snap, { force: true });
        const p2 = await free();
        await m.updatePorts(A, [{ hostPort: p2, containerPort: 80, protocol: 'tcp' }]);
        const during = JSON.parse(fs.readFileSync(snap, 'utf8')) as { attachments: Array<{ list: { plugins: Array<{ type: string }> }; capabilityArgs: { portMappings?: Array<{ hostPort: number }> } }> };
        assert.ok(during.attachments[0]!.list.plugins.some((p) => p.type === 'portmap'), 'portmap ran while the record had no portmap for DEL to undo');
        assert.deepEqual(during.attachments[0]!.capabilityArgs.portMappings?.map((x) => x.hostPort), [p2]);
        assert.notDeepEqual(await rules(p2), []);

        // Publishing one more port does not move a random one the container has.
        const random = await m.updatePorts(A, [{ hostPort: p2, containerPort: 80, protocol: 'tcp' }, { hostPort: 0, containerPort: 81, protocol: 'tcp' }]);
        const kept = await m.updatePorts(A, [{ hostPort: p2, containerPort: 80, protocol: 'tcp' }, { hostPort: 0, containerPort: 81, protocol: 'tcp' }, { hostPort: 0, containerPort: 82, protocol: 'tcp' }]);
        assert.equal(kept.find((x) => x.containerPort === 81)?.hostPort, random.find((x) => x.containerPort === 81)!.hostPort, 'the random host port of 81 changed');
        await m.updatePorts(A, [{ hostPort: p2, containerPort: 80, protocol: 'tcp' }]);

        // A failed ADD: what it set up is deleted, the old mapping is back, the record as before.
        const p3 = await free();
        await assert.rejects(m.updatePorts(A, [{ hostPort: p3, containerPort: 9999, protocol: 'tcp' }]), /injected failure/);
        assert.deepEqual(await rules(p3), []);
        assert.notDeepEqual(await rules(p2), []);
        const after1 = JSON.parse(fs.readFileSync(rec, 'utf8')) as { ports: Array<{ hostPort: number }> };
        assert.deepEqual(after1.ports.map((x) => x.hostPort), [p2]);
        // ...also when the container published nothing before.
        await m.updatePorts(A, []);
        await assert.rejects(m.updatePorts(A, [{ hostPort: p3, containerPort: 9999, protocol: 'tcp' }]), /injected failure/);
        assert.deepEqual(await rules(p3), [], 'a failed ADD left its rules behind');
        assert.deepEqual(await rules(p2), []);
        const after2 = JSON.parse(fs.readFileSync(rec, 'utf8')) as { ports: unknown[]; attachments: Array<{ list: { plugins: Array<{ type: string }> } }> };
        assert.deepEqual(after2.ports, []);
        assert.ok(!after2.attachments[0]!.list.plugins.some((p) => p.type === 'portmap'));
      } finally {
        await m.updatePorts(A, []).catch(() => undefined);
        await m.detach(D).catch(() => undefined);
        await nm.init();
      }
    });

    test('networks are isolated from each other (Docker\'s isolation chains)', async () => {
      const e = await nm.attach(D, 'delta', 'd', [{ network: 'bridge' }], []);
      assert.match(e.networks.bridge!.IPAddress, new RegExp(`^10\\.231\\.${x + 2}\\.`));
      assert.deepEqual(e.dnsServers.includes(gw), false, 'the default bridge has no embedded DNS');
      const ping = await inNs(e.nsPath, ['/bin/busybox', 'ping', '-c1', '-W1', a.networks[userNet]!.IPAddress]);
      assert.notEqual(ping.code, 0, 'no forwarding between bridges');
      const pingGw = await inNs(e.nsPath, ['/bin/busybox', 'ping', '-c1', '-W2', `10.231.${x + 2}.1`]);
      assert.equal(pingGw.code, 0, pingGw.stdout);
      await nm.detach(D);
    });

    test('static IP: honoured, and a taken one is refused with nothing left behind', async () => {
      const want = `10.231.${x}.200`;
      const c = await nm.attach(C, 'gamma', 'g', [{ network: userNet, ip: want }], []);
      assert.equal(c.networks[userNet]!.IPAddress, want);
      await assert.rejects(nm.attach(D, 'delta', 'd', [{ network: userNet, ip: want }], []), ConflictError);
      assert.equal(fs.existsSync(path.join(run, 'netns', D)), false);
      assert.equal(fs.existsSync(path.join(root, 'networks', 'endpoints', `${D}.json`)), false);
      await assert.rejects(nm.attach(D, 'delta', 'd', [{ network: 'bridge', ip: '10.231.0.5' }], []), ForbiddenError);
      await nm.detach(C);
      assert.ok(!leaseFiles(root, userNet).includes(want));
    });

    test('--internal: no route off the subnet, no forwarding of DNS', async () => {
      const c = await nm.attach(C, 'gamma', 'g', [{ network: internalNet, aliases: ['gam'] }], []);
      const e = c.networks[internalNet]!;
      assert.match(e.IPAddress, new RegExp(`^10\\.231\\.${x + 1}\\.`));
      assert.equal(e.Gateway, '');
      const routes = await inNs(c.nsPath, ['/usr/sbin/ip', '-4', 'route']);
      assert.doesNotMatch(routes.stdout, /default/);
      const get = await inNs(c.nsPath, ['/usr/sbin/ip', 'route', 'get', '10.231.250.250']);
      assert.notEqual(get.code, 0);
      assert.match(get.stderr, /unreachable/i);
      const igw = `10.231.${x + 1}.1`;
      const own = await inNs(c.nsPath, ['/bin/busybox', 'nslookup', 'gam', igw]);
      assert.match(own.stdout, new RegExp(e.IPAddress.replace(/\./g, '\\.')), own.stdout + own.stderr);
      const fwd = await inNs(c.nsPath, ['/bin/busybox', 'nslookup', 'upstream.test', igw]);
      assert.doesNotMatch(fwd.stdout, /10\.9\.9\.9/);
      const rules = (await iptablesState()).filter((l) => l.includes(`-i ${internalNet} ! -o ${internalNet}`));
      assert.equal(rules.length, 1);
      // Even with a route added by hand (a container with NET_ADMIN), nothing is forwarded off the bridge:
      // the target is container A on the other network of this run.
      assert.equal((await inNs(c.nsPath, ['/usr/sbin/ip', 'route', 'add', 'default', 'via', igw])).code, 0);
      const escape = await inNs(c.nsPath, ['/bin/busybox', 'ping', '-c1', '-W1', a.networks[userNet]!.IPAddress]);
      assert.notEqual(escape.code, 0, escape.stdout);
      await nm.detach(C);
    });

    test('connect and disconnect a second network while "running"', async () => {
      const c = await nm.attach(C, 'gamma', 'g', [{ network: userNet }], []);
      const ep = await nm.connect(C, { network: internalNet, aliases: ['gi'] });
      assert.match(ep.IPAddress, new RegExp(`^10\\.231\\.${x + 1}\\.`));
      assert.deepEqual(ep.Aliases, ['gi']);
      await assert.rejects(nm.connect(C, { network: internalNet }), ForbiddenError);
      const addrs = await inNs(c.nsPath, ['/usr/sbin/ip', '-4', '-o', 'addr']);
      assert.match(addrs.stdout, new RegExp(`eth1\\s+inet ${ep.IPAddress.replace(/\./g, '\\.')}/24`));
      const igw = `10.231.${x + 1}.1`;
      const res = await inNs(a.nsPath, ['/bin/busybox', 'nslookup', 'gamma', gw]);
      assert.match(res.stdout, new RegExp(c.networks[userNet]!.IPAddress.replace(/\./g, '\\.')));
      const viaInternal = await inNs(c.nsPath, ['/bin/busybox', 'nslookup', 'gi', igw]);
      assert.match(viaInternal.stdout, new RegExp(ep.IPAddress.replace(/\./g, '\\.')));
      assert.equal(Object.keys(nm.attachment(C)!.networks).length, 2);
      assert.equal(nm.containersOf(internalNet).length, 1);
      await nm.disconnect(C, internalNet);
      await assert.rejects(nm.disconnect(C, internalNet), /not connected/);
      assert.doesNotMatch((await inNs(c.nsPath, ['/usr/sbin/ip', '-o', 'link'])).stdout, /eth1/);
      assert.deepEqual(leaseFiles(root, internalNet), []);
      await nm.detach(C, { containerGone: true });
      assert.equal(fs.existsSync(c.nsPath), false);
    });

    test('detach removes veths, per-container iptables rules, leases and DNS names', async () => {
      const ipB = b.networks[userNet]!.IPAddress;
      await nm.detach(B);
      await nm.detach(B); // idempotent
      const st = (await iptablesState()).join('\n');
      assert.ok(!st.includes(B), 'no rule names the container');
      assert.ok(!st.includes(`${ipB}/32`), 'no rule names its address');
      assert.equal(fs.existsSync(b.nsPath), false);
      assert.deepEqual(leaseFiles(root, userNet).length, 1);
      const gone = await inNs(a.nsPath, ['/bin/busybox', 'nslookup', 'beta', gw]);
      assert.notEqual(gone.code, 0);
      await nm.detach(A);
      assert.deepEqual(leaseFiles(root, userNet), []);
      // Only veths on this test's bridges count: other engines may run containers meanwhile.
      const now = await links();
      const ourBridges = new Set(now.filter((l) => !links0.includes(l) && fs.existsSync(`/sys/class/net/${l}/bridge`)));
      const masterOf = (l: string) => {
        try {
          return path.basename(fs.readlinkSync(`/sys/class/net/${l}/master`));
        } catch {
          return '';
        }
      };
      const ourVeths = async () => (await links()).filter((l) => !links0.includes(l) && l.startsWith('veth') && ourBridges.has(masterOf(l)));
      // The kernel tears a deleted namespace's veth down asynchronously: allow it a moment.
      let veths = await ourVeths();
      for (let i = 0; i < 50 && veths.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        veths = await ourVeths();
      }
      assert.deepEqual(veths, []);
    });

    test('crash: a new manager reaps a dead container from the records on disk; the resolver survives', async () => {
      const d = await nm.attach(D, 'delta', 'd', [{ network: userNet, aliases: ['dd'] }], [{ hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
      const ip = d.networks[userNet]!.IPAddress;
      const pidFile = path.join(root, 'networks', 'dns', nm.get(userNet).Id, 'pid');
      const dnsPid = Number(fs.readFileSync(pidFile, 'utf8'));
      assert.ok(processAlive(dnsPid));
      assert.ok((await iptablesState()).some((l) => l.includes(D)), 'portmap rules exist');
      // "crash": forget the manager; a new one starts from disk
      nm = mk(await closedUdpPort());
      await nm.init(new Set());
      assert.equal(Number(fs.readFileSync(pidFile, 'utf8')), dnsPid, 'the resolver kept running');
      assert.equal(fs.existsSync(d.nsPath), false);
      assert.equal(fs.existsSync(path.join(root, 'networks', 'endpoints', `${D}.json`)), false);
      assert.deepEqual(leaseFiles(root, userNet), []);
      const st = (await iptablesState()).join('\n');
      assert.ok(!st.includes(D) && !st.includes(`${ip}/32`));
      const hosts = JSON.parse(fs.readFileSync(path.join(root, 'networks', 'dns', nm.get(userNet).Id, 'hosts.json'), 'utf8'));
      assert.deepEqual(hosts.names, {});
      assert.deepEqual(logs.filter((l) => !/CNI DEL/.test(l)), []);
    });

    test('crash during ADD (record written, no result): reap still cleans up', async () => {
      // Simulate: the intent record exists and the plugins ran, but berthd died before saving the result.
      const d = await nm.attach(D, 'delta', 'd', [{ network: 'bridge' }], []);
      const rec = path.join(root, 'networks', 'endpoints', `${D}.json`);
      const s = JSON.parse(fs.readFileSync(rec, 'utf8'));
      delete s.attachments[0].result;
      fs.writeFileSync(rec, JSON.stringify(s));
      assert.deepEqual(d.dnsServers.includes(gw), false);
      assert.equal(leaseFiles(root, 'bridge').length, 1);
      nm = mk(await closedUdpPort());
      await nm.init(new Set());
      assert.deepEqual(leaseFiles(root, 'bridge'), []);
      assert.equal(fs.existsSync(d.nsPath), false);
      assert.ok(!(await iptablesState()).join('\n').includes(D));
    });

    test('remove: refused with endpoints; then bridge, resolver and rules are gone', async () => {
      // Other engines (parallel test files) add rules and links of their own: only ours count.
      const ours = nm.list().filter((n) => n.Driver === 'bridge').flatMap((n) => [n.Id.slice(0, 12), n.BridgeName]);
      const mine = (l: string) => ours.some((o) => o && l.includes(o));
      const c = await nm.attach(C, 'gamma', 'g', [{ network: userNet }], []);
      await assert.rejects(nm.remove(userNet), ForbiddenError);
      await nm.detach(C);
      assert.ok(!fs.existsSync(c.nsPath));
      const id = nm.get(userNet).Id;
      const dnsPid = Number(fs.readFileSync(path.join(root, 'networks', 'dns', id, 'pid'), 'utf8'));
      await nm.remove(userNet);
      assert.deepEqual(await nm.prune(), [internalNet]);
      assert.throws(() => nm.get(userNet));
      assert.equal(processAlive(dnsPid), false);
      await nm.destroy(); // the default bridge network of this run's root
      assert.equal(fs.existsSync(`/sys/class/net/bt-${r}d`), false);
      const now = await iptablesState();
      const extra = now.filter((l) => !ipt0.includes(l) && !/^\*|^COMMIT$/.test(l));
      assert.deepEqual(
        extra.filter((l) => !SKELETON.test(l) && mine(l)),
        [],
        'only the plugins\' shared skeleton may remain',
      );
      assert.deepEqual((await links()).filter((l) => !links0.includes(l) && mine(l)), []);
    });
  });
}

if (process.argv[2] === DNS_RESOLVER_ARG) {
  runDnsResolver(process.argv[3]!).catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
} else {
  suite();
}
