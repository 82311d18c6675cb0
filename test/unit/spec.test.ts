import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertValidConfig, schemaDir, schemaValidator } from '../helpers/oci-schema';
import { InvalidArgumentError } from '../../src/errors';
import {
  buildRuntimeSpec,
  containerCapabilities,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  KNOWN_CAPABILITIES,
  probeHost,
  serializeRuntimeSpec,
  validateCapabilities,
  type HostFacts,
  type RuntimeSpecInput,
} from '../../src/runtime/spec';
import type { OciMount, OciSpec } from '../../src/runtime/oci-types';

// ---------------------------------------------------------------- schema validator

/** Validates the serialized form, i.e. exactly what runc will read. */
function assertValid(spec: OciSpec): void {
  assertValidConfig(JSON.parse(serializeRuntimeSpec(spec)));
}

// ---------------------------------------------------------------- fixtures

const host: HostFacts = {
  arch: 'x64',
  kernel: '6.1.0-13-amd64',
  capabilities: [...KNOWN_CAPABILITIES],
  cgroupV2: false,
  swapLimit: true,
  thermalThrottlePaths: [],
  sysctlExists: () => true,
  hostDevices: () => [
    { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
  ],
};

function input(over: Partial<RuntimeSpecInput> = {}): RuntimeSpecInput {
  return {
    rootfs: '/var/lib/berth/overlay/abc/merged',
    readonlyRootfs: false,
    args: ['sh', '-c', 'echo hi'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=abc'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [0, 1, 2] },
    hostname: 'abc',
    terminal: false,
    privileged: false,
    capAdd: [],
    capDrop: [],
    noNewPrivileges: false,
    seccomp: 'default',
    resources: {},
    network: { mode: 'private' },
    ipc: 'private',
    pid: 'private',
    uts: 'private',
    mounts: [],
    hostsFile: '/var/lib/berth/containers/abc/hosts',
    resolvConf: '/var/lib/berth/containers/abc/resolv.conf',
    hostnameFile: '/var/lib/berth/containers/abc/hostname',
    cgroupsPath: '/berth/abc',
    ...over,
  };
}

const mount = (spec: OciSpec, dest: string): OciMount | undefined => spec.mounts.find((m) => m.destination === dest);
const nsTypes = (spec: OciSpec) => spec.linux.namespaces.map((n) => n.type);

// ---------------------------------------------------------------- validator sanity

test('schema validator accepts upstream good examples and rejects bad ones', () => {
  const v = schemaValidator();
  const dir = path.join(schemaDir, 'test', 'config');
  const good = fs.readdirSync(path.join(dir, 'good'));
  const bad = fs.readdirSync(path.join(dir, 'bad'));
  assert.ok(good.length >= 5 && bad.length >= 3, 'upstream example folders look empty');
  for (const f of good) {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, 'good', f), 'utf8'));
    assert.ok(v(doc), `good/${f} rejected: ${JSON.stringify(v.errors)}`);
  }
  for (const f of bad) {
    const text = fs.readFileSync(path.join(dir, 'bad', f), 'utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      continue; // invalid-json.json: not even JSON, so invalid
    }
    assert.equal(v(doc), false, `bad/${f} accepted`);
  }
  // And one of ours, broken on purpose.
  const spec = buildRuntimeSpec(input(), host) as unknown as Record<string, unknown>;
  assert.equal(v({ ...spec, process: { ...(spec.process as object), cwd: 42 } }), false);
});

// ---------------------------------------------------------------- default container

test('default container: Docker defaults for process, root, namespaces, mounts', () => {
  const s = buildRuntimeSpec(input(), host);
  assertValid(s);
  assert.equal(s.ociVersion, '1.0.2-dev');
  assert.deepEqual(s.process.args, ['sh', '-c', 'echo hi']);
  assert.deepEqual(s.process.env, input().env);
  assert.equal(s.process.cwd, '/');
  assert.equal(s.process.terminal, undefined);
  assert.equal(s.process.noNewPrivileges, undefined);
  assert.equal(s.process.oomScoreAdj, 0);
  assert.equal(s.process.rlimits, undefined, 'Docker sets no rlimits by default');
  assert.deepEqual(s.process.user, { uid: 0, gid: 0, additionalGids: [0, 1, 2] });
  assert.deepEqual(s.root, { path: '/var/lib/berth/overlay/abc/merged' });
  assert.equal(s.hostname, 'abc');
  assert.equal(s.linux.cgroupsPath, '/berth/abc');
  assert.deepEqual(nsTypes(s), ['mount', 'network', 'uts', 'pid', 'ipc']);
  assert.deepEqual(s.mounts.map((m) => m.destination), [
    '/proc',
    '/dev',
    '/dev/pts',
    '/sys',
    '/sys/fs/cgroup',
    '/dev/mqueue',
    '/dev/shm',
    '/etc/resolv.conf',
    '/etc/hostname',
    '/etc/hosts',
  ]);
  assert.deepEqual(mount(s, '/proc'), { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] });
  assert.deepEqual(mount(s, '/dev')?.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  assert.deepEqual(mount(s, '/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  assert.deepEqual(mount(s, '/sys')?.options, ['nosuid', 'noexec', 'nodev', 'ro']);
  assert.deepEqual(mount(s, '/sys/fs/cgroup')?.options, ['ro', 'nosuid', 'noexec', 'nodev']);
  assert.deepEqual(mount(s, '/dev/shm'), {
    destination: '/dev/shm',
    type: 'tmpfs',
    source: 'shm',
    options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'],
  });
  assert.deepEqual(mount(s, '/etc/hosts'), {
    destination: '/etc/hosts',
    type: 'bind',
    source: '/var/lib/berth/containers/abc/hosts',
    options: ['rbind', 'rprivate'],
  });
});

test('default container: capabilities, masked paths, devices, sysctls, seccomp', () => {
  const s = buildRuntimeSpec(input(), host);
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  assert.deepEqual(s.process.capabilities, {
    bounding: [...DEFAULT_CAPABILITIES],
    effective: [...DEFAULT_CAPABILITIES],
    permitted: [...DEFAULT_CAPABILITIES],
  });
  assert.deepEqual(s.linux.maskedPaths, [...DEFAULT_MASKED_PATHS]);
  assert.ok(s.linux.maskedPaths?.includes('/proc/kcore') && s.linux.maskedPaths.includes('/sys/firmware'));
  assert.deepEqual(s.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.equal(s.linux.devices, undefined, 'runc creates the default devices itself');
  assert.deepEqual(s.linux.resources.devices, [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
  ]);
  assert.deepEqual(s.linux.resources.blockIO, {});
  assert.equal(s.linux.resources.memory, undefined);
  assert.equal(s.linux.resources.cpu, undefined);
  assert.equal(s.linux.resources.pids, undefined);
  assert.deepEqual(s.linux.sysctl, {
    'net.ipv4.ping_group_range': '0 2147483647',
    'net.ipv4.ip_unprivileged_port_start': '0',
  });
  const sc = s.linux.seccomp;
  assert.ok(sc, 'default seccomp profile applied');
  assert.equal(sc.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(sc.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.ok(!sc.syscalls?.some((r) => r.names.includes('reboot')), 'no CAP_SYS_BOOT, no reboot');
});

test('terminal, umask, noNewPrivileges, oomScoreAdj, domainname, annotations, ulimits', () => {
  const s = buildRuntimeSpec(
    input({
      terminal: true,
      user: { uid: 1000, gid: 1000, additionalGids: [10], umask: 0o027 },
      noNewPrivileges: true,
      oomScoreAdj: 500,
      domainname: 'example.org',
      annotations: { 'org.example/a': 'b' },
      ulimits: [
        { name: 'nofile', soft: 1024, hard: 4096 },
        { name: 'core', soft: -1, hard: -1 },
      ],
    }),
    host,
  );
  assertValid(s);
  assert.equal(s.process.terminal, true);
  // The primary gid leads additionalGids, as Docker's getUser does.
  assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, umask: 0o027, additionalGids: [1000, 10] });
  assert.equal(s.process.noNewPrivileges, true);
  assert.equal(s.process.oomScoreAdj, 500);
  assert.equal(s.linux.sysctl?.['kernel.domainname'], 'example.org');
  assert.deepEqual(s.annotations, { 'org.example/a': 'b' });
  assert.deepEqual(s.process.rlimits?.[0], { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 });
  const text = serializeRuntimeSpec(s);
  assert.match(text, /"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615/);
  assert.throws(() => buildRuntimeSpec(input({ ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] }), host), InvalidArgumentError);
  assert.throws(
    () => buildRuntimeSpec(input({ ulimits: [{ name: 'nofile', soft: 10, hard: 5 }] }), host),
    /ulimit soft limit must be less than or equal to hard limit: 10 > 5/,
  );
});

// ---------------------------------------------------------------- privileged / readonly

test('privileged: all caps, no seccomp, no masked/readonly paths, host devices, rw /sys and cgroupfs', () => {
  const s = buildRuntimeSpec(input({ privileged: true }), host);
  assertValid(s);
  assert.deepEqual(s.process.capabilities.bounding, [...KNOWN_CAPABILITIES]);
  assert.equal(KNOWN_CAPABILITIES.length, 41);
  assert.equal(KNOWN_CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
  assert.equal(s.linux.seccomp, undefined);
  assert.equal(s.linux.maskedPaths, undefined);
  assert.equal(s.linux.readonlyPaths, undefined);
  assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  assert.deepEqual(s.linux.devices?.map((d) => d.path), ['/dev/null', '/dev/sda']);
  assert.deepEqual(mount(s, '/sys')?.options, ['nosuid', 'noexec', 'nodev']);
  assert.deepEqual(mount(s, '/sys/fs/cgroup')?.options, ['nosuid', 'noexec', 'nodev']);
});

test('privileged grants only the caps the daemon holds; cap-add of a missing one is refused', () => {
  const limited: HostFacts = { ...host, capabilities: KNOWN_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE') };
  const s = buildRuntimeSpec(input({ privileged: true }), limited);
  assert.ok(!s.process.capabilities.bounding?.includes('CAP_SYS_RESOURCE'));
  assert.throws(
    () => buildRuntimeSpec(input({ capAdd: ['SYS_RESOURCE'] }), limited),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      e.message === 'invalid CapAdd: capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"',
  );
});

test('privileged with a custom seccomp profile still applies it (Docker does)', () => {
  const profileJson = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }] });
  const s = buildRuntimeSpec(input({ privileged: true, seccomp: { profileJson } }), host);
  assertValid(s);
  assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ALLOW');
  assert.deepEqual(s.linux.seccomp?.syscalls, [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }]);
});

test('readonly rootfs: root.readonly, ro /etc files, /sys stays ro, /dev mounts untouched', () => {
  const s = buildRuntimeSpec(input({ readonlyRootfs: true }), host);
  assertValid(s);
  assert.equal(s.root.readonly, true);
  assert.deepEqual(mount(s, '/etc/hosts')?.options, ['rbind', 'ro', 'rprivate']);
  assert.deepEqual(mount(s, '/sys')?.options, ['nosuid', 'noexec', 'nodev', 'ro']);
  assert.ok(!mount(s, '/dev/shm')?.options?.includes('ro'));
  assert.ok(!mount(s, '/dev')?.options?.includes('ro'));
  assert.ok(!mount(s, '/proc')?.options?.includes('ro'));
  // Privileged + readonly: /sys is still made writable afterwards.
  const p = buildRuntimeSpec(input({ readonlyRootfs: true, privileged: true }), host);
  assert.deepEqual(mount(p, '/sys')?.options, ['nosuid', 'noexec', 'nodev']);
});

// ---------------------------------------------------------------- capabilities

test('cap-add ALL gives every cap but the dropped ones; seccomp follows the caps', () => {
  const s = buildRuntimeSpec(input({ capAdd: ['ALL'], capDrop: ['net_admin'] }), host);
  assertValid(s);
  const caps = s.process.capabilities.bounding ?? [];
  assert.equal(caps.length, KNOWN_CAPABILITIES.length - 1);
  assert.ok(!caps.includes('CAP_NET_ADMIN'));
  assert.ok(caps.includes('CAP_SYS_ADMIN') && caps.includes('CAP_SYS_BOOT'));
  assert.ok(s.linux.seccomp?.syscalls?.some((r) => r.names.includes('reboot') && r.action === 'SCMP_ACT_ALLOW'));
  assert.ok(!s.linux.seccomp?.syscalls?.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'));
});

test('cap-drop ALL + cap-add gives exactly the added caps; drop ALL alone gives an empty set', () => {
  const s = buildRuntimeSpec(input({ capDrop: ['ALL'], capAdd: ['CAP_NET_BIND_SERVICE', 'chown'] }), host);
  assertValid(s);
  assert.deepEqual(s.process.capabilities, {
    bounding: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'],
    effective: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'],
    permitted: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'],
  });
  const none = buildRuntimeSpec(input({ capDrop: ['ALL'] }), host);
  assertValid(none);
  assert.deepEqual(none.process.capabilities, {});
});

test('cap-add/cap-drop adjust the default set', () => {
  const caps = containerCapabilities({ capAdd: ['SYS_ADMIN', 'CHOWN'], capDrop: ['NET_RAW', 'CAP_MKNOD'], privileged: false }, host);
  assert.ok(caps.includes('CAP_SYS_ADMIN'));
  assert.ok(!caps.includes('CAP_NET_RAW') && !caps.includes('CAP_MKNOD'));
  assert.equal(caps.filter((c) => c === 'CAP_CHOWN').length, 1);
  assert.equal(caps.length, 13);
});

test('unknown capability → InvalidArgumentError with Docker\'s message', () => {
  assert.throws(
    () => validateCapabilities(['NET_ADMIN', 'CAP_FOO'], undefined, host),
    (e: unknown) => e instanceof InvalidArgumentError && e.message === 'unknown capability: "CAP_FOO"',
  );
  assert.throws(() => validateCapabilities(['bogus'], 'CapDrop', host), /^InvalidArgumentError: invalid CapDrop: unknown capability: "CAP_BOGUS"$/);
  assert.throws(() => buildRuntimeSpec(input({ capAdd: ['CAP_FOO'] }), host), InvalidArgumentError);
  validateCapabilities(['ALL', 'net_admin', 'CAP_SYS_PTRACE', 'checkpoint_restore'], 'CapAdd', host);
});

// ---------------------------------------------------------------- resources

test('resources map to linux.resources like Docker (swap defaults to 2x memory)', () => {
  const s = buildRuntimeSpec(
    input({
      resources: {
        memory: 256 * 1024 * 1024,
        memoryReservation: 128 * 1024 * 1024,
        cpuShares: 512,
        cpuQuota: 50000,
        cpuPeriod: 100000,
        cpusetCpus: '0-1',
        pidsLimit: 100,
        oomKillDisable: false,
      },
    }),
    host,
  );
  assertValid(s);
  assert.deepEqual(s.linux.resources.memory, {
    limit: 268435456,
    reservation: 134217728,
    swap: 536870912,
    disableOOMKiller: false,
  });
  assert.deepEqual(s.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0-1' });
  assert.deepEqual(s.linux.resources.pids, { limit: 100 });

  const explicit = buildRuntimeSpec(input({ resources: { memory: 100, memorySwap: 300, pidsLimit: 0 } }), host);
  assert.deepEqual(explicit.linux.resources.memory, { limit: 100, swap: 300 });
  assert.deepEqual(explicit.linux.resources.pids, { limit: -1 });
  const unlimitedSwap = buildRuntimeSpec(input({ resources: { memory: 100, memorySwap: -1 } }), host);
  assert.deepEqual(unlimitedSwap.linux.resources.memory, { limit: 100 });
  const noSwapAccounting = buildRuntimeSpec(input({ resources: { memory: 100 } }), { ...host, swapLimit: false });
  assert.deepEqual(noSwapAccounting.linux.resources.memory, { limit: 100 });
  assert.throws(() => buildRuntimeSpec(input({ resources: { cpuShares: -5 } }), host), /invalid CPU shares \(-5\)/);
});

// ---------------------------------------------------------------- namespaces

test('network none / host / path', () => {
  const none = buildRuntimeSpec(input({ network: { mode: 'none' } }), host);
  assertValid(none);
  assert.deepEqual(none.linux.namespaces.find((n) => n.type === 'network'), { type: 'network' });
  assert.ok(none.linux.sysctl?.['net.ipv4.ip_unprivileged_port_start']);

  const h = buildRuntimeSpec(input({ network: { mode: 'host' } }), host);
  assertValid(h);
  assert.deepEqual(nsTypes(h), ['mount', 'uts', 'pid', 'ipc']);
  assert.equal(h.linux.sysctl, undefined, 'no net.* sysctls in the host netns');
  assert.equal(h.hostname, 'abc');

  const p = buildRuntimeSpec(input({ network: { mode: 'path', nsPath: '/run/berth/netns/abc' } }), host);
  assertValid(p);
  assert.deepEqual(p.linux.namespaces[1], { type: 'network', path: '/run/berth/netns/abc' });
});

test('--ipc container: joins the donor namespace and binds its shm; none mounts no /dev/shm', () => {
  const j = buildRuntimeSpec(input({ ipc: { path: '/proc/42/ns/ipc' }, shmSource: '/var/lib/berth/containers/d/shm' }), host);
  assert.deepEqual(j.linux!.namespaces!.find((n) => n.type === 'ipc'), { type: 'ipc', path: '/proc/42/ns/ipc' });
  const shm = j.mounts!.filter((m) => m.destination === '/dev/shm');
  assert.deepEqual(shm, [{ destination: '/dev/shm', type: 'bind', source: '/var/lib/berth/containers/d/shm', options: ['rbind', 'rprivate'] }]);
  const none = buildRuntimeSpec(input({ ipc: 'none' }), host);
  assert.equal(none.mounts!.some((m) => m.destination === '/dev/shm'), false);
  assert.ok(none.linux!.namespaces!.some((n) => n.type === 'ipc' && !n.path));
});

test('pid / ipc / uts host drop their namespaces; uts host drops the hostname', () => {
  const s = buildRuntimeSpec(input({ pid: 'host', ipc: 'host', uts: 'host' }), host);
  assertValid(s);
  assert.deepEqual(nsTypes(s), ['mount', 'network']);
  assert.equal(s.hostname, undefined);
  // --ipc host: the host's /dev/shm instead of a private tmpfs.
  assert.deepEqual(mount(s, '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] });
  assert.equal(s.mounts.filter((m) => m.destination === '/dev/shm').length, 1);
});

test('cgroup namespace only on cgroup v2 hosts', () => {
  assert.ok(!nsTypes(buildRuntimeSpec(input(), host)).includes('cgroup'));
  const v2 = buildRuntimeSpec(input(), { ...host, cgroupV2: true });
  assertValid(v2);
  assert.deepEqual(nsTypes(v2), ['mount', 'network', 'uts', 'pid', 'ipc', 'cgroup']);
});

// ---------------------------------------------------------------- init, mounts, sysctls

test('--init binds docker-init read-only and runs the command under it', () => {
  const s = buildRuntimeSpec(input({ init: { hostPath: '/usr/libexec/berth/docker-init' } }), host);
  assertValid(s);
  assert.deepEqual(s.process.args, ['/sbin/docker-init', '--', 'sh', '-c', 'echo hi']);
  assert.deepEqual(mount(s, '/sbin/docker-init'), {
    destination: '/sbin/docker-init',
    type: 'bind',
    source: '/usr/libexec/berth/docker-init',
    options: ['bind', 'ro'],
  });
  // After the defaults, before user mounts (it is part of Docker's base spec by then).
  const dests = s.mounts.map((m) => m.destination);
  assert.equal(dests.indexOf('/sbin/docker-init'), dests.indexOf('/dev/shm') + 1);
  // No init outside a private pid namespace (Docker skips it too).
  const hostPid = buildRuntimeSpec(input({ pid: 'host', init: { hostPath: '/x/docker-init' } }), host);
  assert.deepEqual(hostPid.process.args, ['sh', '-c', 'echo hi']);
  assert.equal(mount(hostPid, '/sbin/docker-init'), undefined);
});

test('user mounts: appended sorted by depth, replace defaults at the same destination', () => {
  const s = buildRuntimeSpec(
    input({
      shmSize: 1 << 20,
      mounts: [
        { destination: '/data/sub', source: '/srv/sub', type: 'bind', options: ['rbind', 'rprivate'] },
        { destination: '/dev/shm', source: 'tmpfs', type: 'tmpfs', options: ['rw', 'nosuid', 'nodev', 'exec', 'size=1g'] },
        { destination: '/data', source: '/srv/data', type: 'bind', options: ['rbind', 'ro', 'rprivate'] },
        { destination: '/etc/hosts', source: '/srv/myhosts', type: 'bind', options: ['rbind', 'ro', 'rprivate'] },
      ],
    }),
    host,
  );
  assertValid(s);
  const shm = s.mounts.filter((m) => m.destination === '/dev/shm');
  assert.equal(shm.length, 1, 'default /dev/shm replaced');
  assert.deepEqual(shm[0]?.options, ['rw', 'nosuid', 'nodev', 'exec', 'size=1g']);
  const hosts = s.mounts.filter((m) => m.destination === '/etc/hosts');
  assert.deepEqual(hosts.map((m) => m.source), ['/srv/myhosts'], "the user's /etc/hosts wins over the engine's");
  const dests = s.mounts.map((m) => m.destination);
  assert.ok(dests.indexOf('/data') < dests.indexOf('/data/sub'), 'parents before children');
  assert.ok(dests.indexOf('/sys/fs/cgroup') < dests.indexOf('/data'), 'user mounts after defaults');

  const userDev = buildRuntimeSpec(input({ mounts: [{ destination: '/dev', source: '/dev', type: 'bind', options: ['rbind'] }] }), host);
  assertValid(userDev);
  assert.ok(!userDev.mounts.some((m) => m.destination.startsWith('/dev/')), 'a user /dev hides every default under /dev');

  const sized = buildRuntimeSpec(input({ shmSize: 1 << 20 }), host);
  assert.ok(mount(sized, '/dev/shm')?.options?.includes('size=1048576'));

  assert.throws(() => buildRuntimeSpec(input({ mounts: [{ destination: 'rel', source: '/x', type: 'bind', options: [] }] }), host), InvalidArgumentError);
  assert.throws(() => buildRuntimeSpec(input({ mounts: [{ destination: '/', source: '/x', type: 'bind', options: [] }] }), host), InvalidArgumentError);
});

test('sysctls: user values merge over the network defaults', () => {
  const s = buildRuntimeSpec(
    input({ sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024', 'kernel.shmmax': '1000000', 'net.core.somaxconn': '1024' } }),
    host,
  );
  assertValid(s);
  assert.deepEqual(s.linux.sysctl, {
    'net.ipv4.ping_group_range': '0 2147483647',
    'net.ipv4.ip_unprivileged_port_start': '1024',
    'kernel.shmmax': '1000000',
    'net.core.somaxconn': '1024',
  });
  const missing = buildRuntimeSpec(input(), { ...host, sysctlExists: () => false });
  assert.equal(missing.linux.sysctl, undefined, 'defaults only where the host kernel has them');
});

test('--device maps a host node with its cgroup rule', () => {
  const s = buildRuntimeSpec(input({ devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/mynull', permissions: 'rw' }] }), host);
  assertValid(s);
  const st = fs.statSync('/dev/null');
  assert.equal(st.isCharacterDevice(), true);
  assert.deepEqual(s.linux.devices?.map((d) => [d.path, d.type, d.major, d.minor]), [['/dev/mynull', 'c', 1, 3]]);
  assert.deepEqual(s.linux.resources.devices?.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  assert.throws(
    () => buildRuntimeSpec(input({ devices: [{ pathOnHost: '/etc/hostname', pathInContainer: '/dev/x', permissions: 'rwm' }] }), host),
    /error gathering device information while adding custom device "\/etc\/hostname"/,
  );
  assert.throws(
    () => buildRuntimeSpec(input({ devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/x', permissions: 'rx' }] }), host),
    /invalid device mode: rx/,
  );
});

test('custom seccomp profile and unconfined', () => {
  assert.equal(buildRuntimeSpec(input({ seccomp: 'unconfined' }), host).linux.seccomp, undefined);
  assert.throws(() => buildRuntimeSpec(input({ seccomp: { profileJson: '{nope' } }), host), /^InvalidArgumentError: Decoding seccomp profile failed/);
  const profileJson = JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
    syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'io' }],
  });
  const s = buildRuntimeSpec(input({ seccomp: { profileJson } }), host);
  assertValid(s);
  assert.deepEqual(s.linux.seccomp, {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
  });
});

test('this host: probed facts give a schema-valid spec', () => {
  const facts = probeHost();
  assert.ok(facts.capabilities.length > 0 && facts.capabilities.every((c) => KNOWN_CAPABILITIES.includes(c)));
  for (const s of [buildRuntimeSpec(input()), buildRuntimeSpec(input({ privileged: true, readonlyRootfs: true }))]) assertValid(s);
});

test('serializeRuntimeSpec is JSON that round-trips', () => {
  const s = buildRuntimeSpec(input({ annotations: { 'a"b': 'c\n' } }), host);
  assert.deepEqual(JSON.parse(serializeRuntimeSpec(s)), JSON.parse(JSON.stringify(s)));
});
