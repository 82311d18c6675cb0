/**
 * Pure parts of the network module: CIDR arithmetic, resolv.conf/hosts
 * rendering, the resolver's answers and forwarding (on loopback), the CNI
 * protocol driver (with fake plugins), port allocation.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dnsPacket from 'dns-packet';
import { contains, formatCidr, isReserved, nthHost, overlaps, parseCidr } from '../../src/network/ipnet';
import { containerResolvers, parseResolvConf, renderHosts, renderResolvConf } from '../../src/network/resolvconf';
import { answerLocal, parseUpstream, RCODE, resolveQuery } from '../../src/network/dns/server';
import { addNetworkList, CniError, delNetworkList, execPlugin, pluginStdin, type NetConfList } from '../../src/network/cni';
import { allocatePorts, keepHostPorts } from '../../src/network/ports';
import { hostRoutes } from '../../src/network/routes';
import { hasComment } from '../../src/network/iptables';
import { ConflictError, InvalidArgumentError } from '../../src/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-netunit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ipnet', () => {
  test('parses, formats, rejects host bits and junk', () => {
    assert.equal(formatCidr(parseCidr('10.89.3.0/24')), '10.89.3.0/24');
    assert.equal(formatCidr(parseCidr('10.89.3.7/24', true)), '10.89.3.0/24');
    assert.throws(() => parseCidr('10.89.3.7/24'), InvalidArgumentError);
    assert.throws(() => parseCidr('10.89.3.0/33'), InvalidArgumentError);
    assert.throws(() => parseCidr('10.89.300.0/24'), InvalidArgumentError);
    assert.throws(() => parseCidr('fd00::/64'), InvalidArgumentError);
  });
  test('overlap, membership, reserved addresses, nth host', () => {
    const a = parseCidr('10.88.0.0/16');
    assert.ok(overlaps(a, parseCidr('10.88.5.0/24')));
    assert.ok(overlaps(parseCidr('10.88.5.0/24'), a));
    assert.ok(!overlaps(a, parseCidr('10.89.0.0/16')));
    assert.ok(overlaps(parseCidr('0.0.0.0/0'), a));
    assert.ok(contains(a, '10.88.255.254'));
    assert.ok(!contains(a, '10.89.0.1'));
    assert.ok(isReserved(parseCidr('10.1.2.0/24'), '10.1.2.0'));
    assert.ok(isReserved(parseCidr('10.1.2.0/24'), '10.1.2.255'));
    assert.ok(!isReserved(parseCidr('10.1.2.0/24'), '10.1.2.1'));
    assert.equal(nthHost(parseCidr('172.18.0.0/16'), 1), '172.18.0.1');
  });
  test('host routes are read from /proc/net/route', () => {
    const routes = hostRoutes();
    for (const r of routes) {
      assert.ok(r.prefix > 0 && r.prefix <= 32);
      assert.equal(formatCidr(r), formatCidr(parseCidr(formatCidr(r))));
    }
  });
});

describe('resolv.conf and hosts', () => {
  test('parse and render', () => {
    const c = parseResolvConf('# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2 # trailing\nsearch corp.example lan\noptions edns0 trust-ad\n');
    assert.deepEqual(c, { nameservers: ['127.0.0.53', '10.0.0.2'], search: ['corp.example', 'lan'], options: ['edns0', 'trust-ad'] });
    assert.equal(renderResolvConf(c), 'search corp.example lan\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0 trust-ad\n');
  });
  test('containers never get loopback resolvers', () => {
    assert.deepEqual(containerResolvers({ nameservers: ['127.0.0.1', '10.0.0.2'], search: [], options: [] }), ['10.0.0.2']);
    const none = containerResolvers({ nameservers: [], search: [], options: [] });
    assert.deepEqual(none, ['8.8.8.8', '8.8.4.4']);
  });
  test('hosts: localhost first, then extra hosts, then own addresses', () => {
    const h = renderHosts([{ ip: '10.89.0.2', names: ['web'] }], [{ ip: '10.0.0.9', names: ['db.local'] }]);
    const lines = h.trim().split('\n');
    assert.equal(lines[0], '127.0.0.1\tlocalhost');
    assert.deepEqual(lines.slice(-2), ['10.0.0.9\tdb.local', '10.89.0.2\tweb']);
  });
});

function query(name: string, type = 'A', id = 4242): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
}

describe('embedded DNS answers', () => {
  const table = { names: { web: ['10.89.0.2'], cache: ['10.89.0.3', '10.89.0.4'], abcdef012345: ['10.89.0.2'] } };
  test('A records for names and aliases, case-insensitively, with a trailing dot', () => {
    const r = answerLocal(dnsPacket.decode(query('WEB.')), table)!;
    assert.equal(r.type, 'response');
    assert.equal(r.id, 4242);
    assert.deepEqual(r.answers!.map((a) => a.data), ['10.89.0.2']);
    assert.equal((r.flags! & 0xf), RCODE.NOERROR);
    assert.ok(r.flags! & dnsPacket.RECURSION_DESIRED, 'RD echoed');
    assert.deepEqual(answerLocal(dnsPacket.decode(query('cache')), table)!.answers!.map((a) => a.data), ['10.89.0.3', '10.89.0.4']);
  });
  test('AAAA of a known name is an empty NOERROR; unknown names are not answered locally', () => {
    const r = answerLocal(dnsPacket.decode(query('web', 'AAAA')), table)!;
    assert.deepEqual(r.answers, []);
    assert.equal(answerLocal(dnsPacket.decode(query('example.com')), table), undefined);
  });
  test('PTR for a container address gives its name, not its short id', () => {
    const r = answerLocal(dnsPacket.decode(query('2.0.89.10.in-addr.arpa', 'PTR')), table)!;
    assert.deepEqual(r.answers!.map((a) => a.data), ['web']);
  });
  test('no forwarding → SERVFAIL; garbage → FORMERR or nothing', async () => {
    const cfg = { upstream: ['127.0.0.1:9'], forward: false, timeoutMs: 100 };
    const r = dnsPacket.decode((await resolveQuery(query('example.com'), table, cfg))!);
    assert.equal(r.rcode, 'SERVFAIL');
    assert.equal(r.id, 4242);
    const bad = Buffer.alloc(14, 0xff);
    const fe = await resolveQuery(bad, table, cfg);
    assert.equal(fe!.readUInt16BE(2) & 0xf, RCODE.FORMERR);
    assert.equal(await resolveQuery(Buffer.alloc(3), table, cfg), undefined);
  });
  test('forwarding: a refused upstream is skipped, the next one answers, a silent one times out to SERVFAIL', async () => {
    const up = dgram.createSocket('udp4');
    up.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      if (q.questions![0]!.name === 'silent.test') return;
      up.send(dnsPacket.encode({ type: 'response', id: q.id, flags: 0, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 5, data: '192.0.2.77' }] }), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => up.bind(0, '127.0.0.1', r));
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.1', r));
    const closedPort = closed.address().port;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      const cfg = { upstream: [`127.0.0.1:${closedPort}`, `127.0.0.1:${up.address().port}`], forward: true, timeoutMs: 300 };
      const t0 = Date.now();
      const r = dnsPacket.decode((await resolveQuery(query('example.test'), table, cfg))!);
      assert.deepEqual(r.answers!.map((a) => a.data), ['192.0.2.77']);
      assert.ok(Date.now() - t0 < 300, 'the refused upstream failed fast');
      const s = dnsPacket.decode((await resolveQuery(query('silent.test'), table, cfg))!);
      assert.equal(s.rcode, 'SERVFAIL');
    } finally {
      up.close();
    }
  });
  test('upstream syntax', () => {
    assert.deepEqual(parseUpstream('10.0.0.2'), { host: '10.0.0.2', port: 53, family: 4 });
    assert.deepEqual(parseUpstream('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353, family: 4 });
    assert.deepEqual(parseUpstream('[::1]:54'), { host: '::1', port: 54, family: 6 });
    assert.deepEqual(parseUpstream('fd00::1'), { host: 'fd00::1', port: 53, family: 6 });
    assert.throws(() => parseUpstream('resolver.example'));
  });
});

describe('CNI protocol driver (fake plugins)', () => {
  const dir = path.join(tmp, 'cni');
  const log = path.join(dir, 'calls.log');
  fs.mkdirSync(dir);
  // Each fake plugin appends "<name> <command> <container> <netns> <ifname> <stdin>" to calls.log.
  const plugin = (name: string, body: string) =>
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nin=$(cat)\necho "${name} $CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $in" >> "$(dirname "$0")/calls.log"\n${body}\n`, { mode: 0o755 });
  plugin('good', `[ "$CNI_COMMAND" = DEL ] && exit 0\necho '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"interface":0,"address":"10.0.0.2/24","gateway":"10.0.0.1"}]}'`);
  plugin('bad', `[ "$CNI_COMMAND" = DEL ] && exit 0\necho '{"cniVersion":"1.0.0","code":7,"msg":"Invalid Configuration","details":"too small"}'\nexit 1`);
  plugin('mute', 'echo "plain failure" >&2\nexit 3');
  const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
  const rt = { containerId: 'c1', netns: '/run/x', ifName: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], ips: ['10.0.0.9'] } };

  test('runtimeConfig carries only the capabilities a plugin declares', () => {
    const list: NetConfList = { cniVersion: '1.0.0', name: 'n', plugins: [] };
    const s = pluginStdin(list, { type: 'portmap', capabilities: { portMappings: true } }, rt, undefined);
    assert.deepEqual(s, { type: 'portmap', cniVersion: '1.0.0', name: 'n', runtimeConfig: { portMappings: rt.capabilityArgs.portMappings } });
    const b = pluginStdin(list, { type: 'bridge' }, rt, { cniVersion: '1.0.0' });
    assert.deepEqual(b, { type: 'bridge', cniVersion: '1.0.0', name: 'n', prevResult: { cniVersion: '1.0.0' } });
  });

  test('results and error objects are parsed; a plugin without a JSON error still fails clearly', async () => {
    const r = await execPlugin('ADD', { type: 'good', cniVersion: '1.0.0', name: 'n' }, rt, { cniPath: dir });
    assert.equal(r!.ips![0]!.address, '10.0.0.2/24');
    await assert.rejects(execPlugin('ADD', { type: 'bad', cniVersion: '1.0.0', name: 'n' }, rt, { cniPath: dir }), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.cniCode, 7);
      assert.equal(e.msg, 'Invalid Configuration');
      assert.equal(e.details, 'too small');
      return true;
    });
    await assert.rejects(execPlugin('ADD', { type: 'mute', cniVersion: '1.0.0', name: 'n' }, rt, { cniPath: dir }), /exit status 3: plain failure/);
    await assert.rejects(execPlugin('ADD', { type: 'missing', cniVersion: '1.0.0', name: 'n' }, rt, { cniPath: dir }), (e: unknown) => e instanceof CniError && e.cniCode === 50);
    await assert.rejects(execPlugin('ADD', { type: '../good', cniVersion: '1.0.0', name: 'n' }, rt, { cniPath: dir }), CniError);
  });

  test('a failing ADD in a list is rolled back with DEL over the whole list in reverse', async () => {
    fs.rmSync(log, { force: true });
    const list: NetConfList = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'good' }, { type: 'bad' }] };
    await assert.rejects(addNetworkList(list, rt, { cniPath: dir }), CniError);
    const seq = calls().map((l) => l.split(' ').slice(0, 2).join(' '));
    assert.deepEqual(seq, ['good ADD', 'bad ADD', 'bad DEL', 'good DEL']);
    // the DELs got the result of the last successful ADD as prevResult
    assert.match(calls()[2]!, /"prevResult":\{"cniVersion":"1.0.0","interfaces"/);
  });

  test('DEL goes on past a failing plugin and reports the first error', async () => {
    fs.rmSync(log, { force: true });
    const list: NetConfList = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'good' }, { type: 'mute' }] };
    await assert.rejects(delNetworkList(list, rt, undefined, { cniPath: dir }), /plain failure/);
    assert.deepEqual(calls().map((l) => l.split(' ').slice(0, 2).join(' ')), ['mute DEL', 'good DEL']);
    assert.match(calls()[1]!, /^good DEL c1 \/run\/x eth0 /);
  });
});

describe('published ports', () => {
  test('keepHostPorts: an update keeps the host ports the container has for mappings without a fixed one', () => {
    const cur = [
      { hostIp: '', hostPort: 40001, containerPort: 80, protocol: 'tcp' as const },
      { hostIp: '127.0.0.1', hostPort: 8005, containerPort: 90, protocol: 'tcp' as const },
      { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' as const },
    ];
    const got = keepHostPorts(
      [
        { hostPort: 0, containerPort: 80, protocol: 'tcp' },
        { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: 8000, hostPortEnd: 8010, containerPort: 90, protocol: 'tcp' },
        { hostPort: 0, containerPort: 80, protocol: 'tcp' },
        { hostPort: 0, containerPort: 80, protocol: 'udp' },
        { hostPort: 0, containerPort: 443, protocol: 'tcp' },
      ],
      cur,
    );
    assert.deepEqual(got.map((p) => [p.hostIp, p.hostPort, p.hostPortEnd, p.containerPort, p.protocol]), [
      ['', 40001, undefined, 80, 'tcp'],
      ['', 8080, undefined, 80, 'tcp'],
      ['127.0.0.1', 8005, undefined, 90, 'tcp'],
      ['', 0, undefined, 80, 'tcp'],
      ['', 0, undefined, 80, 'udp'],
      ['', 0, undefined, 443, 'tcp'],
    ]);
    // A range the current port is no longer in, or another address: drawn again.
    assert.deepEqual(keepHostPorts([{ hostIp: '127.0.0.1', hostPort: 9000, hostPortEnd: 9010, containerPort: 90, protocol: 'tcp' }], cur)[0]!.hostPort, 9000);
    assert.deepEqual(keepHostPorts([{ hostIp: '10.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }], cur)[0]!.hostPort, 0);
  });

  test('fixed ports clash with other containers and with host sockets; 0 picks a free one', async () => {
    const got = await allocatePorts([{ hostPort: 0, containerPort: 80, protocol: 'tcp' }], []);
    assert.ok(got[0]!.hostPort > 0);
    assert.equal(got[0]!.hostIp, '');
    await assert.rejects(allocatePorts([{ hostPort: got[0]!.hostPort, containerPort: 81, protocol: 'tcp' }], got), ConflictError);
    // same number on the other protocol is fine
    const udp = await allocatePorts([{ hostPort: got[0]!.hostPort, containerPort: 81, protocol: 'udp' }], got);
    assert.equal(udp[0]!.protocol, 'udp');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const p = (srv.address() as net.AddressInfo).port;
      await assert.rejects(allocatePorts([{ hostIp: '127.0.0.1', hostPort: p, containerPort: 80, protocol: 'tcp' }], []), /address already in use/);
    } finally {
      srv.close();
    }
    await assert.rejects(allocatePorts([{ hostPort: 1, containerPort: 80, protocol: 'sctp' as 'tcp' }], []), InvalidArgumentError);
    await assert.rejects(allocatePorts([{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }], []), InvalidArgumentError);
    await assert.rejects(allocatePorts([{ hostIp: '::', hostPort: 0, containerPort: 80, protocol: 'tcp' }], []), InvalidArgumentError);
  });
});

test('iptables comment tags match with and without quotes', () => {
  assert.ok(hasComment('-A POSTROUTING -s 10.0.0.0/24 -m comment --comment "berth-net:abc" -j MASQUERADE', 'berth-net:abc'));
  assert.ok(hasComment('-A POSTROUTING -m comment --comment berth-net:abc -j MASQUERADE', 'berth-net:abc'));
  assert.ok(!hasComment('-A POSTROUTING -m comment --comment "berth-net:abcd" -j MASQUERADE', 'berth-net:abc'));
});
