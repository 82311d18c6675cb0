/**
 * Hostile input through the whole engine: layers that try to escape, the
 * Leaky-Vessels workdir, data-root permissions, and the real config.json
 * Berth hands to runc checked against the OCI schema.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { writeTar } from '../../src/image/tar/writer';
import { TestEngine, isRoot } from '../helpers/engine';
import { assertValidConfig } from '../helpers/oci-schema';

async function tarFile(path: string, items: Parameters<typeof writeTar>[0]): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from(writeTar(items))) chunks.push(c as Buffer);
  writeFileSync(path, Buffer.concat(chunks));
}

describe('security', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('importing a layer that climbs out of its root is refused and writes nothing outside', async () => {
    const sentinel = join(e.dir, 'escaped');
    const evil = join(e.dir, 'evil.tar');
    await tarFile(evil, [
      { entry: { name: 'ok.txt', type: 'file', size: 2 }, body: Buffer.from('ok') },
      { entry: { name: '../../../escaped', type: 'file', size: 4 }, body: Buffer.from('pwnd') },
    ]);
    const before = (await e.berth(['images', '-q'])).stdout;
    const r = await e.berth(['import', evil, 'evil:1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /escapes|outside/i);
    assert.equal(existsSync(sentinel), false);
    assert.equal((await e.berth(['images', '-q'])).stdout, before, 'no image may be created');
  });

  test('a symlink to / inside a layer is followed inside the container, never on the host', async () => {
    const layer = join(e.dir, 'link.tar');
    const marker = `/tmp/berth-pwned-${process.pid}`;
    await tarFile(layer, [
      { entry: { name: 'bin/', type: 'directory' } },
      { entry: { name: 'bin/busybox', type: 'file', size: statSync('/bin/busybox').size, mode: 0o755 }, body: readFileSync('/bin/busybox') },
      { entry: { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' } },
      { entry: { name: 'tmp/', type: 'directory', mode: 0o1777 } },
      { entry: { name: 'host', type: 'symlink', linkname: '/' } },
    ]);
    assert.equal((await e.berth(['import', layer, 'linky:1'])).code, 0);
    const r = await e.berth(['run', '--rm', 'linky:1', '/bin/sh', '-c', `echo x > /host${marker} && /bin/busybox cat /host${marker}`]);
    assert.equal(r.stdout.trim(), 'x', r.stderr);
    assert.equal(existsSync(marker), false, 'the write landed on the host');
  });

  test('workdir /proc/self/fd/N (CVE-2024-21626) does not reach the host', async () => {
    for (const fd of [3, 4, 5, 6, 7, 8]) {
      const r = await e.berth(['run', '--rm', '-w', `/proc/self/fd/${fd}`, 'busybox', 'cat', '../../../etc/hostname']);
      assert.notEqual(r.stdout.trim(), readFileSync('/etc/hostname', 'utf8').trim() || '\u0000never', `fd ${fd} leaked the host`);
    }
  });

  test('--device adds the node with its cgroup permissions; a bad one is refused at create', async () => {
    // /dev/loop-control is outside the default device allow-list: the rule is what lets it open.
    const rw = await e.berth(['run', '--rm', '--device', '/dev/loop-control:/dev/lc', 'busybox', 'sh', '-c', 'ls -l /dev/lc; echo x > /dev/lc']);
    assert.match(rw.stdout, /^crw.* 10, +237 .*\/dev\/lc$/m);
    assert.match(rw.stderr, /Invalid argument/, 'opened for writing, the write itself refused by the driver');
    const ro = await e.berth(['run', '--rm', '--device', '/dev/loop-control:/dev/lc:r', 'busybox', 'sh', '-c', 'echo x > /dev/lc']);
    assert.match(ro.stderr, /Operation not permitted/, 'the cgroup allowed a write with r only');
    assert.notEqual((await e.berth(['run', '--rm', 'busybox', 'test', '-e', '/dev/lc'])).code, 0);
    const docker = await e.docker(['run', '--rm', '--device', '/dev/loop-control:/dev/lc', 'busybox', 'ls', '/dev/lc']);
    assert.equal(docker.stdout, '/dev/lc\n', docker.stderr);
    for (const [spec, msg] of [['/dev/nope', /adding custom device "\/dev\/nope": no such file or directory/], ['/etc/passwd', /not a device node/], ['/dev/loop-control:/dev/lc:rwx', /invalid device mode: rwx/]] as const) {
      const r = await e.berth(['create', '--device', spec, 'busybox', 'true']);
      assert.equal(r.code, 125, spec);
      assert.match(r.stderr, msg);
    }
  });

  test('the data root keeps other users out', () => {
    assert.equal(statSync(join(e.root, 'containers')).mode & 0o777, 0o700);
    assert.equal(statSync(join(e.root, 'image')).mode & 0o077, 0);
    assert.equal(statSync(e.socket).mode & 0o777, 0o660);
    for (const id of readdirSync(join(e.root, 'containers'))) assert.equal(statSync(join(e.root, 'containers', id)).mode & 0o777, 0o700);
  });

  test('the config.json given to runc validates against the OCI runtime-spec schema', async () => {
    await e.berth(['run', '-d', '--name', 'sec-spec', '-m', '64m', '--cpus', '0.5', '--pids-limit', '50', '--cap-add', 'NET_ADMIN', '--cap-drop', 'CHOWN', '--security-opt', 'no-new-privileges', '--init', '--read-only', '--tmpfs', '/run', 'busybox', 'sleep', '60']);
    const id = (await e.berth(['inspect', '-f', '{{.Id}}', 'sec-spec'])).stdout.trim();
    const doc = JSON.parse(readFileSync(join(e.root, 'containers', id, 'config.json'), 'utf8')) as {
      process: { capabilities: { bounding: string[] }; noNewPrivileges: boolean; args: string[] };
      linux: { resources: { memory: { limit: number }; pids: { limit: number } }; seccomp?: { defaultAction: string } };
      root: { readonly: boolean };
    };
    assertValidConfig(doc);
    assert.ok(doc.process.capabilities.bounding.includes('CAP_NET_ADMIN'));
    assert.ok(!doc.process.capabilities.bounding.includes('CAP_CHOWN'));
    assert.equal(doc.process.noNewPrivileges, true);
    assert.equal(doc.linux.resources.memory.limit, 64 * 1024 * 1024);
    assert.equal(doc.linux.resources.pids.limit, 50);
    assert.equal(doc.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(doc.root.readonly, true);
    assert.equal(doc.process.args[0], '/sbin/docker-init');
    const ps = await e.berth(['exec', 'sec-spec', 'ps', '-o', 'pid,args']);
    assert.match(ps.stdout, /1 \/sbin\/docker-init -- sleep 60/);
    const denied = await e.berth(['exec', 'sec-spec', 'sh', '-c', 'chown nobody /tmp 2>&1; echo rc=$?']);
    assert.match(denied.stdout, /rc=1/);
  });
});
