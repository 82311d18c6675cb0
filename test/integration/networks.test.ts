/** Networks with real containers: user-network DNS, ports, none, internal, and no leftovers after churn and a crash. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TestEngine, eventually, httpGet, isRoot } from '../helpers/engine';


function hostState(e: TestEngine): { veths: string[]; rules: string[]; leases: string[] } {
  const links = execFileSync('ip', ['-o', 'link', 'show', 'master', e.bridge], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const save = execFileSync('iptables-save', { encoding: 'utf8' }).split('\n');
  const ipamDir = join(e.root, 'networks', 'ipam');
  const leases: string[] = [];
  const walk = (d: string) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      if (ent.isDirectory()) walk(join(d, ent.name));
      else if (/^\d+\.\d+\.\d+\.\d+$/.test(ent.name)) leases.push(ent.name);
    }
  };
  try {
    walk(ipamDir);
  } catch {
    // no leases dir yet
  }
  // Per-container rules (CNI portmap/firewall, bridge masquerade) of this engine's default bridge:
  // other engines on the host (parallel test files) have their own subnets.
  const subnet = e.bridgeSubnet.split('.').slice(0, 3).join('.') + '.';
  return { veths: links, rules: save.filter((l) => /-A .*(CNI-[0-9a-f]{24}|CNI-DN-|CNI-HOSTPORT-DNAT.*dport)/.test(l) && l.includes(subnet)), leases };
}

describe('networks', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  const www = join(e.dir, 'www');
  before(async () => {
    await e.start();
    await e.busybox();
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'hello from web\n');
  });
  after(() => e.cleanup());

  test('containers on a user network reach each other by name and alias', async () => {
    assert.equal((await e.berth(['network', 'create', 'appnet'])).code, 0);
    const web = await e.berth(['run', '-d', '--name', 'web', '--network', 'appnet', '--network-alias', 'frontend', '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(web.code, 0, web.stderr);
    const r = await e.berth(['run', '--rm', '--network', 'appnet', 'busybox', 'sh', '-c', 'wget -qO- http://web/ && wget -qO- http://frontend/']);
    assert.equal(r.stdout, 'hello from web\nhello from web\n', r.stderr);
    const ip = (await e.berth(['inspect', '-f', '{{.NetworkSettings.Networks.appnet.IPAddress}}', 'web'])).stdout.trim();
    assert.match(ip, /^10\.\d+\.\d+\.\d+$/);
    const insp = await e.berth(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', 'appnet']);
    assert.match(insp.stdout, /web/);
    const rm = await e.berth(['network', 'rm', 'appnet']);
    assert.notEqual(rm.code, 0, 'a network with endpoints must not be removable');
    await e.berth(['rm', '-f', 'web']);
    assert.equal((await e.berth(['network', 'rm', 'appnet'])).code, 0);
  });

  test('the namespace is made in berthd and interfaces come up while runc creates; a release frees the network at once', async () => {
    // The container's /etc/hosts holds its own address (written after the CNI ADD that ran beside `runc create`), lo is up.
    const r = await e.berth(['run', '--rm', '--name', 'selfaddr', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0 | awk "{print \\$4}" | cut -d/ -f1; grep "$(hostname)" /etc/hosts; cat /sys/class/net/lo/flags; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-ok']);
    assert.equal(r.code, 0, r.stderr);
    const [ip, hosts, loFlags, lo] = r.stdout.trim().split('\n');
    assert.match(ip!, /^10\./);
    assert.ok(hosts!.startsWith(`${ip}\t`), `hosts line ${hosts} lacks ${ip}`);
    assert.equal(Number(loFlags) & 1, 1, 'IFF_UP on lo');
    assert.equal(lo, 'lo-ok');
    // net.* sysctls naming eth0 need the interface at `runc create`: that start does not overlap.
    const s = await e.berth(['run', '--rm', '--sysctl', 'net.ipv4.conf.eth0.accept_local=1', 'busybox', 'cat', '/proc/sys/net/ipv4/conf/eth0/accept_local']);
    assert.equal(s.stdout.trim(), '1', s.stderr);
    // berthd entered each new namespace on one thread only for the syscalls: all its threads are home.
    const pid = e.daemon!.pid!;
    const nets = new Set(readdirSync(`/proc/${pid}/task`).map((t) => execFileSync('readlink', [`/proc/${pid}/task/${t}/ns/net`], { encoding: 'utf8' }).trim()));
    assert.deepEqual([...nets], [execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim()]);
    // The CNI DEL of an exited container runs after its removal: a network removed right after still goes.
    assert.equal((await e.berth(['network', 'create', '--subnet', '10.199.77.0/24', 'brief'])).code, 0);
    for (let i = 0; i < 3; i++) {
      const b = await e.berth(['run', '--rm', '--network', 'brief', 'busybox', 'true']);
      assert.equal(b.code, 0, b.stderr);
    }
    // A static IP is free again as soon as its container is gone (that DEL is not deferred).
    for (let i = 0; i < 3; i++) {
      const b = await e.berth(['run', '--rm', '--network', 'brief', '--ip', '10.199.77.9', 'busybox', 'true']);
      assert.equal(b.code, 0, b.stderr);
    }
    const rm = await e.berth(['network', 'rm', 'brief']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.ok(!existsSync(join(e.root, 'networks', 'ipam', 'brief')), 'the leases of a removed network are gone');
  });

  test('a container whose namespace another one joined takes its veth and lease along when it exits', async () => {
    const donor = await e.berth(['run', '-d', '--name', 'donor', 'busybox', 'sleep', '2']);
    assert.equal(donor.code, 0, donor.stderr);
    const ip = (await e.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'donor'])).stdout.trim();
    const joiner = await e.berth(['run', '-d', '--name', 'joiner', '--network', 'container:donor', 'busybox', 'sleep', '60']);
    assert.equal(joiner.code, 0, joiner.stderr);
    try {
      await eventually(async () => (await e.berth(['inspect', '-f', '{{.State.Status}}', 'donor'])).stdout.trim() === 'exited', 10_000);
      // The joiner's processes keep the namespace: the DEL must run in it, or the veth would stay on the bridge with a freed IP.
      await eventually(async () => !hostState(e).leases.includes(ip) && !(await e.berth(['exec', 'joiner', 'ip', '-o', 'addr'])).stdout.includes(ip), 10_000);
    } finally {
      await e.berth(['rm', '-f', 'joiner', 'donor']);
    }
  });

  test('the default bridge gives an IP and a gateway; --network none has only lo', async () => {
    const r = await e.berth(['run', '--rm', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; ip route | grep default; ping -c1 -W2 $(ip route | awk "/default/ {print \\$3}") >/dev/null && echo gw-ok']);
    assert.match(r.stdout, /inet 10\.\d+\.\d+\.\d+\//);
    assert.match(r.stdout, /gw-ok/);
    const none = await e.berth(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', "ip -o link | awk -F': ' '{print $2}'"]);
    assert.equal(none.stdout.trim(), 'lo');
  });

  test('a published port is reachable from the host', async () => {
    const r = await e.berth(['run', '-d', '--name', 'pub', '-p', '127.0.0.1::80', '--expose', '9000/udp', '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(r.code, 0, r.stderr);
    const port = (await e.berth(['port', 'pub', '80'])).stdout.trim();
    assert.match(port, /^127\.0\.0\.1:\d+$/);
    const body = await eventually(() => httpGet(Number(port.split(':')[1])).catch(() => undefined));
    assert.equal(body, 'hello from web\n');
    const ps = await e.berth(['ps', '--format', '{{.Ports}}', '--filter', 'name=pub']);
    // Exposed but not published: listed without a host side, as Docker's `ps` shows it.
    assert.match(ps.stdout, /^127\.0\.0\.1:\d+->80\/tcp, 9000\/udp$/m);
    await e.berth(['rm', '-f', 'pub']);
    // A host range for one container port: the first free port of it (the first is held by a host socket here).
    const holder = createServer();
    await new Promise<void>((res) => holder.listen(0, '127.0.0.1', res));
    const held = (holder.address() as AddressInfo).port;
    try {
      const rr = await e.berth(['run', '-d', '--name', 'ranged', '-p', `127.0.0.1:${held}-${held + 20}:80`, '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
      assert.equal(rr.code, 0, rr.stderr);
      const got = Number((await e.berth(['port', 'ranged', '80'])).stdout.trim().split(':')[1]);
      assert.ok(got > held && got <= held + 20, `port ${got} from ${held}-${held + 20}, past the held ${held}`);
      assert.equal(await eventually(() => httpGet(got).catch(() => undefined)), 'hello from web\n');
      assert.match((await e.berth(['inspect', '-f', '{{json .HostConfig.PortBindings}}', 'ranged'])).stdout, new RegExp(`"HostPort":"${held}-${held + 20}"`));
      // A range written backwards, or on an address the host does not have: a clear error, nothing left running.
      const backwards = await e.berth(['run', '--rm', '-p', `${held + 20}-${held}:80`, 'busybox', 'true']);
      assert.notEqual(backwards.code, 0);
      assert.match(backwards.stderr, /invalid port range/);
      const noAddr = await e.berth(['run', '--rm', '-p', '192.0.2.77:41000-41005:80', 'busybox', 'true']);
      assert.notEqual(noAddr.code, 0);
      assert.match(noAddr.stderr, /cannot assign requested address/);
    } finally {
      holder.close();
      await e.berth(['rm', '-f', 'ranged']);
    }
  });

  test('--link: the alias resolves to the linked container on the default bridge; a stopped one is refused', async () => {
    await e.berth(['run', '-d', '--name', 'linked-db', 'busybox', 'sleep', '100']);
    const ip = (await e.berth(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'linked-db'])).stdout.trim();
    const r = await e.berth(['run', '--rm', '--link', 'linked-db:db', 'busybox', 'sh', '-c', 'grep -w db /etc/hosts; ping -c1 -W2 db >/dev/null && echo reached']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+db linked-db [0-9a-f]{12}\\nreached\\n$`));
    const d = await e.docker(['run', '--rm', '--link', 'linked-db', 'busybox', 'ping', '-c1', '-W2', 'linked-db']);
    assert.equal(d.code, 0, d.stderr);
    assert.match((await e.berth(['create', '--link', 'no-such-ctr:x', 'busybox', 'true'])).stderr, /No such container: no-such-ctr/);
    await e.berth(['stop', '-t', '0', 'linked-db']);
    assert.match((await e.berth(['run', '--rm', '--link', 'linked-db:db', 'busybox', 'true'])).stderr, /Cannot link to a non running container/);
    await e.berth(['rm', '-f', 'linked-db']);
  });

  test('--mac-address sets the interface MAC, from berth and from the docker CLI; a multicast one is refused', async () => {
    assert.equal((await e.berth(['run', '--rm', '--mac-address', '02:42:ac:11:00:99', 'busybox', 'cat', '/sys/class/net/eth0/address'])).stdout, '02:42:ac:11:00:99\n');
    await e.berth(['run', '-d', '--name', 'mac', '--mac-address', '02:42:ac:11:00:98', 'busybox', 'sleep', '100']);
    assert.equal((await e.berth(['inspect', '-f', '{{.NetworkSettings.MacAddress}}', 'mac'])).stdout, '02:42:ac:11:00:98\n');
    await e.berth(['rm', '-f', 'mac']);
    const d = await e.docker(['run', '--rm', '--mac-address', '02:42:ac:11:00:77', 'busybox', 'cat', '/sys/class/net/eth0/address']);
    assert.equal(d.stdout, '02:42:ac:11:00:77\n', d.stderr);
    const bad = await e.berth(['create', '--mac-address', '03:42:ac:11:00:99', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid MAC address: 03:42:ac:11:00:99/);
  });

  test('update --publish-add/--publish-rm changes a running container\'s ports in place (moby#21282)', async () => {
    const r = await e.berth(['run', '-d', '--name', 'live', '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(r.code, 0, r.stderr);
    const pid = (await e.berth(['inspect', '-f', '{{.State.Pid}}', 'live'])).stdout.trim();
    const added = await e.berth(['update', '--publish-add', '127.0.0.1::80', 'live']);
    assert.equal(added.code, 0, added.stderr);
    const port = Number((await e.berth(['port', 'live', '80'])).stdout.trim().split(':')[1]);
    assert.ok(port > 0);
    assert.equal(await eventually(() => httpGet(port).catch(() => undefined)), 'hello from web\n');
    assert.equal((await e.berth(['inspect', '-f', '{{.State.Pid}}', 'live'])).stdout.trim(), pid, 'the container was restarted');
    assert.ok(hostState(e).rules.some((l) => l.includes(`dport ${port} `)), 'no portmap rule for the new port');
    assert.match((await e.berth(['inspect', '-f', '{{json .Config.ExposedPorts}}', 'live'])).stdout, /"80\/tcp"/);
    // A host port another container holds: refused, and the ports this one has keep working.
    await e.berth(['run', '-d', '--name', 'holder', '-p', '127.0.0.1::80', 'busybox', 'sleep', '100']);
    const held = (await e.berth(['port', 'holder', '80'])).stdout.trim();
    const clash = await e.berth(['update', '--publish-add', `${held}:80`, 'live']);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /port is already allocated/);
    assert.equal(await httpGet(port), 'hello from web\n');
    // A limit the kernel refuses undoes the ports that came with it.
    const half = await e.berth(['update', '--cpuset-cpus', '99', '--publish-add', '127.0.0.1::81', 'live']);
    assert.notEqual(half.code, 0);
    assert.deepEqual((await e.berth(['port', 'live'])).stdout.trim().split('\n'), [`80/tcp -> 127.0.0.1:${port}`]);
    await e.berth(['run', '-d', '--name', 'all', '-P', '--expose', '90', 'busybox', 'sleep', '100']);
    assert.match((await e.berth(['update', '--publish-rm', '90', 'all'])).stderr, /publishes all exposed ports \(-P\)/);
    await e.berth(['rm', '-f', 'all']);
    const bad = await e.berth(['update', '--publish-rm', '81', 'live']);
    assert.match(bad.stderr, /port 81\/tcp is not published/);
    const removed = await e.berth(['update', '--publish-rm', '80', 'live']);
    assert.equal(removed.code, 0, removed.stderr);
    await assert.rejects(httpGet(port), 'the unpublished port still answers');
    assert.equal((await e.berth(['port', 'live'])).stdout, '');
    assert.equal(hostState(e).rules.filter((l) => l.includes(`dport ${port} `)).length, 0, 'portmap rules left behind');
    // A stopped container keeps the new binding for its next start.
    await e.berth(['stop', '-t', '0', 'live']);
    assert.equal((await e.berth(['update', '--publish-add', '127.0.0.1::80', 'live'])).code, 0);
    await e.berth(['start', 'live']);
    const again = Number((await e.berth(['port', 'live', '80'])).stdout.trim().split(':')[1]);
    assert.equal(await eventually(() => httpGet(again).catch(() => undefined)), 'hello from web\n');
    await e.berth(['rm', '-f', 'live', 'holder']);
    assert.equal(hostState(e).rules.filter((l) => l.includes(`dport ${again} `)).length, 0);
  });

  test('--network container: and --pid container: join a running container\'s namespaces', async () => {
    const t = await e.berth(['run', '-d', '--name', 'ns-target', '--network', 'none', 'busybox', 'sh', '-c', 'echo shared > /tmp/i; httpd -f -p 127.0.0.1:8080 -h /tmp']);
    assert.equal(t.code, 0, t.stderr);
    try {
      const targetNs = (await e.berth(['exec', 'ns-target', 'readlink', '/proc/1/ns/net'])).stdout.trim();
      const targetHost = (await e.berth(['exec', 'ns-target', 'hostname'])).stdout.trim();
      const j = await e.berth(['run', '--rm', '--network', 'container:ns-target', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/net; hostname; wget -q -O - http://127.0.0.1:8080/i']);
      assert.equal(j.code, 0, j.stderr);
      assert.deepEqual(j.stdout.trim().split('\n'), [targetNs, targetHost, 'shared'], 'same netns and hostname; the target\'s loopback service answers');
      const p = await e.berth(['run', '--rm', '--pid', 'container:ns-target', 'busybox', 'ps', '-o', 'comm']);
      assert.match(p.stdout, /httpd/, 'the target\'s processes are visible');
      const h = await e.berth(['run', '--rm', '--network', 'container:ns-target', '-h', 'other', 'busybox', 'true']);
      assert.equal(h.code, 125);
      assert.match(h.stderr, /conflicting options: hostname and the network mode/);
      const missing = await e.berth(['run', '--rm', '--network', 'container:no-such-ctr', 'busybox', 'true']);
      assert.equal(missing.code, 125);
      assert.match(missing.stderr, /No such container: no-such-ctr/);
      await e.berth(['create', '--name', 'ns-stopped', 'busybox', 'true']);
      const stopped = await e.berth(['run', '--rm', '--network', 'container:ns-stopped', 'busybox', 'true']);
      assert.notEqual(stopped.code, 0);
      assert.match(stopped.stderr, /non running container/);
    } finally {
      await e.berth(['rm', '-f', 'ns-target', 'ns-stopped']);
    }
  });

  test('--ipc: shareable donors are joined with their /dev/shm; private ones refuse; none has no /dev/shm', async () => {
    const d = await e.berth(['run', '-d', '--name', 'ipc-donor', '--ipc', 'shareable', 'busybox', 'sh', '-c', 'echo in-shm > /dev/shm/f; sleep 60']);
    assert.equal(d.code, 0, d.stderr);
    try {
      await e.berth(['run', '-d', '--name', 'ipc-private', 'busybox', 'sleep', '60']);
      const donorNs = (await e.berth(['exec', 'ipc-donor', 'readlink', '/proc/1/ns/ipc'])).stdout.trim();
      const j = await e.berth(['run', '--rm', '--ipc', 'container:ipc-donor', 'busybox', 'sh', '-c', 'readlink /proc/1/ns/ipc; cat /dev/shm/f; echo back > /dev/shm/g']);
      assert.equal(j.code, 0, j.stderr);
      assert.deepEqual(j.stdout.trim().split('\n'), [donorNs, 'in-shm'], 'same IPC namespace and the same /dev/shm');
      assert.equal((await e.berth(['exec', 'ipc-donor', 'cat', '/dev/shm/g'])).stdout, 'back\n');
      const own = await e.berth(['run', '--rm', 'busybox', 'readlink', '/proc/1/ns/ipc']);
      assert.notEqual(own.stdout.trim(), donorNs);
      const refused = await e.berth(['run', '--rm', '--ipc', 'container:ipc-private', 'busybox', 'true']);
      assert.equal(refused.code, 125);
      assert.match(refused.stderr, /non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);
      const none = await e.berth(['run', '--rm', '--ipc', 'none', 'busybox', 'sh', '-c', 'grep -c " /dev/shm " /proc/mounts; true']);
      assert.equal(none.stdout.trim(), '0');
      const bad = await e.berth(['run', '--rm', '--ipc', 'bogus', 'busybox', 'true']);
      assert.equal(bad.code, 125);
      assert.match(bad.stderr, /invalid IPC mode: bogus/);
      const modes = await e.berth(['inspect', '-f', '{{.HostConfig.IpcMode}}', 'ipc-private', 'ipc-donor']);
      assert.deepEqual(modes.stdout.trim().split('\n'), ['private', 'shareable']);
    } finally {
      await e.berth(['rm', '-f', 'ipc-donor', 'ipc-private']);
    }
    // The donor's shm tmpfs went with it.
    assert.doesNotMatch(readFileSync('/proc/mounts', 'utf8'), new RegExp(`${e.root}/containers/[0-9a-f]+/shm`));
  });

  test('--internal networks have no route out', async () => {
    await e.berth(['network', 'create', '--internal', 'secluded']);
    const r = await e.berth(['run', '--rm', '--network', 'secluded', 'busybox', 'sh', '-c', 'ip route; ip route | grep -c default']);
    assert.match(r.stdout, /^0$/m);
    await e.berth(['network', 'rm', 'secluded']);
  });

  test('churn and a berthd SIGKILL leave no veth, rule or lease behind', { timeout: 240_000 }, async () => {
    const before = hostState(e);
    for (let i = 0; i < 20; i++) {
      const r = await e.berth(['run', '--rm', '-p', '80', 'busybox', 'true']);
      assert.equal(r.code, 0, r.stderr);
      if (i === 10) {
        await e.berth(['run', '-d', '--name', 'crashy', '-p', '80', 'busybox', 'sleep', '2']);
        await e.stopDaemon('SIGKILL');
        await new Promise((res) => setTimeout(res, 2500));
        await e.start();
        await eventually(async () => (await e.berth(['inspect', '-f', '{{.State.Status}}', 'crashy'])).stdout.trim() === 'exited');
        await e.berth(['rm', 'crashy']);
      }
    }
    const afterState = hostState(e);
    assert.deepEqual(afterState.veths, before.veths);
    assert.deepEqual(afterState.leases, before.leases);
    assert.deepEqual(afterState.rules, before.rules);
  });
});
