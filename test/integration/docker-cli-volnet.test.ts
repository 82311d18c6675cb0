/** Volumes and networks through the real docker CLI against Berth's socket. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER_BIN, TestEngine, eventually, httpGet, isRoot } from '../helpers/engine';


describe('docker CLI: volumes and networks', { skip: !isRoot() ? 'needs root' : !existsSync(DOCKER_BIN) ? `needs the docker CLI at ${DOCKER_BIN}` : false }, () => {
  const e = new TestEngine();
  const www = join(e.dir, 'www');
  before(async () => {
    await e.start();
    await e.busybox();
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'served\n');
  });
  after(() => e.cleanup());

  test('volume create/ls/inspect/rm and data kept across containers', async () => {
    assert.equal((await e.docker(['volume', 'create', 'dv'])).stdout.trim(), 'dv');
    await e.docker(['run', '--rm', '-v', 'dv:/d', 'busybox', 'sh', '-c', 'echo kept > /d/f']);
    assert.equal((await e.docker(['run', '--rm', '-v', 'dv:/d:ro', 'busybox', 'cat', '/d/f'])).stdout, 'kept\n');
    const ro = await e.docker(['run', '--rm', '-v', 'dv:/d:ro', 'busybox', 'sh', '-c', '(touch /d/x) 2>&1']);
    assert.match(ro.stdout, /Read-only file system/);
    assert.match((await e.docker(['volume', 'ls', '--format', '{{.Name}}'])).stdout, /^dv$/m);
    assert.equal((await e.docker(['volume', 'inspect', '-f', '{{.Driver}}', 'dv'])).stdout.trim(), 'local');
    const mounts = await e.docker(['run', '--name', 'dvuser', '--mount', 'type=volume,source=dv,target=/m', '--tmpfs', '/t', 'busybox', 'sh', '-c', 'grep " /t " /proc/mounts | cut -d" " -f3']);
    assert.equal(mounts.stdout.trim(), 'tmpfs');
    assert.match((await e.docker(['inspect', '-f', '{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}', 'dvuser'])).stdout, /volume:dv:\/m/);
    assert.notEqual((await e.docker(['volume', 'rm', 'dv'])).code, 0);
    await e.docker(['rm', 'dvuser']);
    assert.equal((await e.docker(['volume', 'rm', 'dv'])).code, 0);
  });

  test('bind mounts and --volumes-from', async () => {
    const r = await e.docker(['run', '--name', 'vf-src', '-v', `${www}:/www`, 'busybox', 'cat', '/www/index.html']);
    assert.equal(r.stdout, 'served\n', r.stderr);
    assert.equal((await e.docker(['run', '--rm', '--volumes-from', 'vf-src', 'busybox', 'cat', '/www/index.html'])).stdout, 'served\n');
    await e.docker(['rm', 'vf-src']);
  });

  test('user network: DNS by name, published port, network ls/inspect/rm', async () => {
    assert.equal((await e.docker(['network', 'create', 'dnet'])).code, 0);
    const web = await e.docker(['run', '-d', '--name', 'dweb', '--network', 'dnet', '-p', '127.0.0.1::80', '-v', `${www}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(web.code, 0, web.stderr);
    const got = await e.docker(['run', '--rm', '--network', 'dnet', 'busybox', 'wget', '-qO-', 'http://dweb/']);
    assert.equal(got.stdout, 'served\n', got.stderr);
    const port = (await e.docker(['port', 'dweb', '80'])).stdout.trim().split('\n')[0];
    assert.match(port, /^127\.0\.0\.1:\d+$/);
    assert.equal(await eventually(() => httpGet(Number(port.split(':')[1])).catch(() => undefined)), 'served\n');
    assert.match((await e.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).stdout, /^dnet bridge$/m);
    assert.match((await e.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'dnet'])).stdout, /^\d+\.\d+\.\d+\.\d+\/\d+$/m);
    assert.match((await e.docker(['ps', '--format', '{{.Ports}}', '--filter', 'name=dweb'])).stdout, /127\.0\.0\.1:\d+->80\/tcp/);
    await e.docker(['rm', '-f', 'dweb']);
    assert.equal((await e.docker(['network', 'rm', 'dnet'])).code, 0);
  });

  test('--network none has only lo; --network host sees the host', async () => {
    const none = await e.docker(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', "ip -o link | awk -F': ' '{print $2}'"]);
    assert.equal(none.stdout.trim(), 'lo');
    const host = await e.docker(['run', '--rm', '--network', 'host', 'busybox', 'hostname']);
    assert.equal(host.stdout.trim(), (await import('node:os')).hostname());
  });
});
