/**
 * berth compose against a real engine: dependency conditions (the pains users
 * report against docker compose and podman-compose), service-name DNS, named
 * volumes, published ports, recreate on change, and a clean down.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestEngine, isRoot } from '../helpers/engine';

describe('berth compose', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  const dirs: string[] = [];
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await e.cleanup();
  });

  function app(name: string, yaml: string): (args: string[]) => ReturnType<TestEngine['berth']> {
    const dir = mkdtempSync(join(tmpdir(), `berth-${name}-`));
    dirs.push(dir);
    const file = join(dir, 'compose.yaml');
    writeFileSync(file, `name: ${name}\n${yaml}`);
    return (args) => e.berth(['compose', '-f', file, ...args], { timeoutMs: 60_000 });
  }

  test('up waits for healthy and completed dependencies; services reach each other by name; down cleans up', async () => {
    const c = app(
      'stack',
      `services:
  db:
    image: busybox
    command: sh -c 'sleep 1; touch /tmp/ready; exec httpd -f -p 8080 -h /www'
    volumes: [data:/www]
    healthcheck: { test: [CMD, test, -f, /tmp/ready], interval: 200ms, retries: 50 }
  seed:
    image: busybox
    command: [sh, -c, 'echo seeded > /www/index.html']
    volumes: [data:/www]
  web:
    image: busybox
    environment: { GREETING: '\${GREETING:-hello}' }
    command: sh -c 'echo "$$GREETING"; wget -q -O - http://db:8080/index.html; exec sleep 60'
    stop_grace_period: 1s
    ports: ['127.0.0.1::80']
    depends_on:
      db: { condition: service_healthy }
      seed: { condition: service_completed_successfully }
volumes:
  data: {}
`,
    );
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    // The order docker compose reports: web is created only after db is healthy and seed has exited.
    const lines = up.stderr.split('\n').map((l) => l.trim());
    assert.ok(lines.indexOf('Container stack-db-1  Healthy') < lines.indexOf('Container stack-web-1  Created'), up.stderr);
    assert.ok(lines.indexOf('Container stack-seed-1  Exited') < lines.indexOf('Container stack-web-1  Created'), up.stderr);
    const ps = await c(['ps', '--services']);
    assert.deepEqual(ps.stdout.trim().split('\n').sort(), ['db', 'web']);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('seeded'); i++) logs = (await c(['logs', 'web'])).stdout;
    assert.match(logs, /stack-web-1 +\| hello\n/);
    assert.match(logs, /stack-web-1 +\| seeded\n/, 'db resolved by its service name, the volume shared');
    const labels = await e.berth(['inspect', '-f', '{{index .Config.Labels "com.docker.compose.project"}} {{index .Config.Labels "com.docker.compose.service"}} {{.HostConfig.NetworkMode}}', 'stack-web-1']);
    assert.equal(labels.stdout.trim(), 'stack web stack_default');
    // Same file: nothing recreated. Changed environment: web alone is recreated.
    const again = await c(['up', '-d']);
    assert.match(again.stderr, /Container stack-web-1 {2}Running/);
    const before = (await e.berth(['inspect', '-f', '{{.Id}}', 'stack-web-1'])).stdout.trim();
    process.env.GREETING = 'changed';
    try {
      const re = await c(['up', '-d', 'web']);
      assert.equal(re.code, 0, re.stderr);
      assert.match(re.stderr, /Container stack-web-1 {2}Recreate/);
      assert.doesNotMatch(re.stderr, /stack-db-1 {2}Recreate/);
    } finally {
      delete process.env.GREETING;
    }
    assert.notEqual((await e.berth(['inspect', '-f', '{{.Id}}', 'stack-web-1'])).stdout.trim(), before);
    const down = await c(['down', '-v', '-t', '1']);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await e.berth(['ps', '-a', '-q'])).stdout, '');
    assert.doesNotMatch((await e.berth(['network', 'ls'])).stdout, /stack_default/);
    assert.doesNotMatch((await e.berth(['volume', 'ls'])).stdout, /stack_data/);
  });

  test('a dependency that never gets healthy stops the up, and the dependent never starts (podman-compose #866)', async () => {
    const c = app(
      'sick',
      `services:
  db:
    image: busybox
    command: sleep 60
    healthcheck: { test: [CMD, 'false'], interval: 100ms, retries: 2 }
  web:
    image: busybox
    command: sleep 60
    depends_on: { db: { condition: service_healthy } }
`,
    );
    const up = await c(['up', '-d']);
    assert.equal(up.code, 1);
    assert.match(up.stderr, /dependency failed to start: container sick-db-1 is unhealthy/);
    assert.equal((await e.berth(['ps', '-a', '--filter', 'name=sick-web-1', '-q'])).stdout, '', 'the dependent was not even created');
    const wait = await c(['up', '--wait', 'db']);
    assert.notEqual(wait.code, 0, 'up --wait must fail while a service is unhealthy (podman-compose #1534)');
    assert.match(wait.stderr, /sick-db-1 is unhealthy/);
    await c(['down', '-t', '0']);
  });

  test('a failed one-shot dependency stops the up (service_completed_successfully, podman-compose #575)', async () => {
    const c = app(
      'migrate',
      `services:
  migrate:
    image: busybox
    command: sh -c 'exit 3'
  app:
    image: busybox
    command: sleep 60
    depends_on: { migrate: { condition: service_completed_successfully } }
`,
    );
    const up = await c(['up', '-d']);
    assert.equal(up.code, 1);
    assert.match(up.stderr, /service "migrate" didn't complete successfully: exit 3/);
    assert.equal((await e.berth(['ps', '-a', '--filter', 'name=migrate-app-1', '-q'])).stdout, '');
    await c(['down']);
  });

  test('build: a service without an image is built as <project>-<service>, once unless --build', async () => {
    const c = app(
      'built',
      `services:
  tool:
    build: { context: ./ctx, args: { WORD: from-args } }
    command: cat /word
`,
    );
    const ctx = join(dirs[dirs.length - 1], 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nARG WORD\nRUN echo "$WORD" > /word\n');
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /Service tool {2}Built/);
    assert.equal((await e.berth(['image', 'inspect', '-f', '{{.Id}}', 'built-tool'])).code, 0);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('from-args'); i++) logs = (await c(['logs', '--no-log-prefix', 'tool'])).stdout;
    assert.equal(logs, 'from-args\n');
    const again = await c(['up', '-d']);
    assert.doesNotMatch(again.stderr, /Building/, 'the image exists: no build without --build');
    const forced = await c(['up', '-d', '--build']);
    assert.match(forced.stderr, /Service tool {2}Built/);
    // Reproducible: the same context builds the same image, so the container stays.
    assert.doesNotMatch(forced.stderr, /Recreate/);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nARG WORD\nRUN echo "$WORD again" > /word\n');
    const rebuilt = await c(['up', '-d', '--build']);
    assert.match(rebuilt.stderr, /Container built-tool-1 {2}Recreate/, 'a new image under the same name means a new container');
    let after = '';
    for (let i = 0; i < 50 && !after.includes('again'); i++) after = (await c(['logs', '--no-log-prefix', 'tool'])).stdout;
    assert.equal(after, 'from-args again\n');
    await c(['down']);
  });

  test('exec, stop, start and restart act on the service containers', async () => {
    const c = app('ops', `services:\n  app:\n    image: busybox\n    command: sleep 100\n    ports: ['127.0.0.1::80']\n    stop_grace_period: 1s\n`);
    assert.equal((await c(['up', '-d'])).code, 0);
    const ex = await c(['exec', '-T', 'app', 'sh', '-c', 'echo "$0" in-app; exit 4', 'arg0']);
    assert.equal(ex.code, 4);
    assert.equal(ex.stdout, 'arg0 in-app\n');
    await c(['stop', '-t', '1']);
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'ops-app-1'])).stdout, /exited/);
    const notRunning = await c(['exec', '-T', 'app', 'true']);
    assert.equal(notRunning.code, 1);
    assert.match(notRunning.stderr, /service "app" is not running/);
    await c(['start']);
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'ops-app-1'])).stdout, /running/);
    // A one-off: the service's environment, a command of our own, stdin, its exit code, gone with --rm.
    const one = await c(['run', '--rm', '-T', '-e', 'EXTRA=x', 'app', 'sh', '-c', 'echo "$EXTRA"; cat; exit 6']);
    assert.equal(one.code, 6, one.stderr);
    assert.equal(one.stdout, 'x\n');
    const piped = await e.berth(['compose', '-f', join(dirs[dirs.length - 1], 'compose.yaml'), 'run', '--rm', '-T', 'app', 'cat'], { input: 'through stdin\n' });
    assert.equal(piped.stdout, 'through stdin\n');
    assert.equal((await e.berth(['ps', '-a', '--filter', 'label=com.docker.compose.oneoff=True', '-q'])).stdout, '');
    const ls = await e.berth(['compose', 'ls']);
    assert.match(ls.stdout, /^ops +running\(1\) +\/.*compose\.yaml$/m);
    const hostPort = await c(['port', 'app', '80']);
    assert.match(hostPort.stdout, /^127\.0\.0\.1:\d+\n$/);
    await c(['pause']);
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'ops-app-1'])).stdout, /paused/);
    await c(['unpause']);
    const kill = await c(['kill']);
    assert.match(kill.stderr, /Container ops-app-1 {2}Killed/);
    assert.match((await e.berth(['inspect', '-f', '{{.State.ExitCode}}', 'ops-app-1'])).stdout, /137/);
    await c(['rm', '-f']);
    assert.equal((await c(['ps', '-a', '-q'])).stdout, '');
    await c(['up', '-d']);
    const missing = await c(['restart', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such service: nope/);
    await c(['down', '-t', '1']);
  });

  test('replicas (deploy.replicas, --scale) share the service name in DNS; deploy.resources limit each one', async () => {
    const c = app(
      'scaled',
      `services:\n  app:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n    deploy:\n      replicas: 2\n      resources: { limits: { memory: 64m, pids: 50 } }\n  probe:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n`,
    );
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    const names = (await c(['ps'])).stdout;
    assert.match(names, /scaled-app-1/);
    assert.match(names, /scaled-app-2/);
    const ips = await Promise.all([1, 2].map(async (n) => (await e.berth(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', `scaled-app-${n}`])).stdout.trim()));
    const lookup = await c(['exec', '-T', 'probe', 'nslookup', 'app']);
    for (const ip of ips) assert.ok(lookup.stdout.includes(ip), `${ip} in\n${lookup.stdout}`);
    const second = await c(['exec', '-T', '--index', '2', 'app', 'sh', '-c', 'hostname; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max']);
    assert.equal(second.code, 0, second.stderr);
    const [host, mem, pids] = second.stdout.trim().split('\n');
    assert.equal(host, (await e.berth(['inspect', '-f', '{{.Config.Hostname}}', 'scaled-app-2'])).stdout.trim());
    assert.equal(mem, String(64 * 1024 * 1024));
    assert.equal(pids, '50');
    const bad = await c(['up', '-d', '--scale', 'app=many']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid --scale "app=many": expected SERVICE=NUM/);
    const down1 = await c(['up', '-d', '--scale', 'app=1']);
    assert.equal(down1.code, 0, down1.stderr);
    assert.notEqual((await e.berth(['inspect', 'scaled-app-2'])).code, 0, 'scaled down: the second replica is gone');
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'scaled-app-1'])).stdout, /running/);
    await c(['down', '-t', '1']);
  });

  test('secrets from the environment and inline configs are written in before the start; a changed value recreates', async () => {
    const yaml = `services:\n  app:\n    image: busybox\n    command: sh -c 'cat /run/secrets/token /etc/app.conf; stat -c %a /run/secrets/token; sleep 100'\n    stop_grace_period: 1s\n    secrets: [token]\n    configs: [{ source: conf, target: /etc/app.conf, mode: 0440 }]\nsecrets:\n  token: { environment: TOKEN }\nconfigs:\n  conf: { content: 'level=debug' }\n`;
    const c = app('secretive', yaml);
    const dir = dirs[dirs.length - 1];
    writeFileSync(join(dir, '.env'), 'TOKEN=s3cret\n');
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    const logs = async () => (await e.berth(['logs', 'secretive-app-1'])).stdout;
    const waitLogs = async (want: RegExp) => {
      for (let i = 0; i < 50 && !want.test(await logs()); i++) await new Promise((r) => setTimeout(r, 100));
      return logs();
    };
    assert.match(await waitLogs(/444/), /^s3cretlevel=debug444\n$/);
    assert.doesNotMatch((await e.berth(['inspect', 'secretive-app-1'])).stdout, /s3cret/, 'no value in the container config or labels');
    assert.match((await e.berth(['exec', 'secretive-app-1', 'stat', '-c', '%a', '/etc/app.conf'])).stdout, /^440$/m);
    writeFileSync(join(dir, '.env'), 'TOKEN=rotated\n');
    const again = await c(['up', '-d']);
    assert.match(again.stderr, /Recreate/);
    assert.match(await waitLogs(/rotated/), /^rotatedlevel=debug444\n$/);
    const one = await c(['run', '--rm', '-T', 'app', 'cat', '/run/secrets/token']);
    assert.equal(one.stdout, 'rotated');
    await c(['down', '-t', '1']);
  });

  test('network_mode service:<name> shares that service\'s network namespace, and starts after it', async () => {
    const c = app('sidecar', `services:\n  client:\n    image: busybox\n    network_mode: service:net\n    command: sh -c 'wget -q -O - http://127.0.0.1:8080/i; sleep 100'\n    stop_grace_period: 1s\n  net:\n    image: busybox\n    command: sh -c 'echo shared-ns > /tmp/i; httpd -f -p 127.0.0.1:8080 -h /tmp'\n    stop_grace_period: 1s\n`);
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.ok(up.stderr.indexOf('sidecar-net-1  Started') < up.stderr.indexOf('sidecar-client-1  Started'), up.stderr);
    const ns = await Promise.all(['net', 'client'].map(async (svc) => (await c(['exec', '-T', svc, 'readlink', '/proc/self/ns/net'])).stdout.trim()));
    assert.equal(ns[0], ns[1]);
    let out = '';
    for (let i = 0; i < 50 && !out.includes('shared-ns'); i++) {
      out = (await e.berth(['logs', 'sidecar-client-1'])).stdout;
      if (!out.includes('shared-ns')) {
        await c(['restart', 'client']);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.match(out, /shared-ns/);
    // The namespace's owner changes (a new command): the service in its namespace is recreated along.
    const file = join(dirs[dirs.length - 1], 'compose.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('echo shared-ns', 'echo shared-ns-2'));
    const again = await c(['up', '-d']);
    assert.match(again.stderr, /sidecar-client-1 {2}Recreate/);
    const ns2 = await Promise.all(['net', 'client'].map(async (svc) => (await c(['exec', '-T', svc, 'readlink', '/proc/self/ns/net'])).stdout.trim()));
    assert.equal(ns2[0], ns2[1]);
    await c(['down', '-t', '1']);
  });

  test('pid/ipc service:, sysctls, ulimits, tmpfs, dns, shm_size and domainname reach the container', async () => {
    const c = app(
      'knobs',
      `services:\n  main:\n    image: busybox\n    command: sleep 101\n    stop_grace_period: 1s\n  side:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n    pid: service:main\n    ipc: service:main\n    sysctls: { net.ipv4.ip_unprivileged_port_start: '80' }\n    ulimits: { nofile: { soft: 1000, hard: 2000 } }\n    tmpfs: [/scratch:size=1m]\n    dns: [192.0.2.53]\n    shm_size: 32m\n    domainname: example.org\n    logging: { driver: json-file, options: { max-size: 1m, max-file: '2' } }\n`,
    );
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    const r = await c(['exec', '-T', 'side', 'sh', '-c', 'ps -o args | grep -c "[s]leep 101"; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; for p in /proc/[0-9]*; do [ "$(tr "\\0" " " < $p/cmdline 2>/dev/null)" = "sleep 100 " ] && grep "open files" $p/limits; done | tr -s " " | cut -d" " -f4; grep -c " /scratch tmpfs" /proc/mounts; grep -c 192.0.2.53 /etc/resolv.conf; cat /proc/sys/kernel/domainname; readlink /proc/self/ns/ipc']);
    assert.equal(r.code, 0, r.stderr);
    // The service's own process (an exec'd one would show runc 1.1's raised soft limit instead).
    const [seen, port, nofile, scratch, dns, domain, ipc] = r.stdout.trim().split('\n');
    assert.deepEqual([seen, port, nofile, scratch, dns, domain], ['1', '80', '1000', '1', '1', 'example.org']);
    assert.equal(ipc, (await c(['exec', '-T', 'main', 'readlink', '/proc/self/ns/ipc'])).stdout.trim());
    // The service another joins by ipc: is made shareable, as the engine requires of a donor.
    assert.equal((await e.berth(['inspect', '-f', '{{.HostConfig.IpcMode}}', 'knobs-main-1'])).stdout.trim(), 'shareable');
    assert.equal((await e.berth(['inspect', '-f', '{{.HostConfig.ShmSize}}', 'knobs-side-1'])).stdout.trim(), String(32 * 1024 * 1024));
    assert.deepEqual(JSON.parse((await e.berth(['inspect', '-f', '{{json .HostConfig.LogConfig}}', 'knobs-side-1'])).stdout), { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });
    await c(['down', '-t', '1']);
  });

  test('up --force-recreate, --no-recreate and --no-deps', async () => {
    const yaml = (cmd: string) => `services:\n  app:\n    image: busybox\n    command: ${cmd}\n    depends_on: [db]\n    stop_grace_period: 1s\n  db:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n`;
    const c = app('recreate', yaml('sleep 100'));
    const nodeps = await c(['up', '-d', '--no-deps', 'app']);
    assert.equal(nodeps.code, 0, nodeps.stderr);
    assert.notEqual((await e.berth(['inspect', 'recreate-db-1'])).code, 0, '--no-deps started no dependency');
    assert.equal((await c(['up', '-d'])).code, 0);
    const id0 = (await e.berth(['inspect', '-f', '{{.Id}}', 'recreate-app-1'])).stdout.trim();
    const forced = await c(['up', '-d', '--force-recreate', 'app']);
    assert.match(forced.stderr, /recreate-app-1 {2}Recreate/);
    const id1 = (await e.berth(['inspect', '-f', '{{.Id}}', 'recreate-app-1'])).stdout.trim();
    assert.notEqual(id1, id0);
    writeFileSync(join(dirs[dirs.length - 1], 'compose.yaml'), `name: recreate\n${yaml('sleep 99')}`);
    const kept = await c(['up', '-d', '--no-recreate']);
    assert.doesNotMatch(kept.stderr, /Recreate/);
    assert.equal((await e.berth(['inspect', '-f', '{{.Id}}', 'recreate-app-1'])).stdout.trim(), id1);
    await c(['down', '-t', '1']);
  });

  test('volume driver_opts and labels, network ipam, labels, driver_opts and ipv4_address reach the engine', async () => {
    // A /24 inside this engine's own subnet pool: no other engine on the host hands it out.
    const subnet = e.subnetPool.replace(/\.0\.0\/16$/, '.77.0/24');
    const gateway = subnet.replace(/0\/24$/, '1');
    const fixed = subnet.replace(/0\/24$/, '50');
    const c = app(
      'drvopts',
      `services:\n  box:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n    user: '1000:1000'\n    volumes: [scratch:/s, owned:/o]\n    networks: { back: { ipv4_address: ${fixed} } }\nvolumes:\n  scratch:\n    driver: local\n    driver_opts: { type: tmpfs, device: tmpfs, o: 'size=2m' }\n    labels: { tier: cache }\n  owned:\n    driver_opts: { uid: 1000, gid: 1000 }\nnetworks:\n  back:\n    labels: [tier=back]\n    driver_opts: { com.docker.network.bridge.name: br-drvopts${subnet.split('.')[1]} }\n    ipam:\n      config:\n        - subnet: ${subnet}\n          gateway: ${gateway}\n`,
    );
    const up = await c(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    const r = await c(['exec', '-T', 'box', 'sh', '-c', 'grep " /s " /proc/mounts | cut -d" " -f3,4; touch /o/mine && echo wrote; ip -4 -o addr show eth0 | tr -s " " | cut -d" " -f4; ip route | grep default | cut -d" " -f3']);
    assert.equal(r.code, 0, r.stderr);
    const [mnt, wrote, addr, gw] = r.stdout.trim().split('\n');
    assert.match(mnt, /^tmpfs rw,.*size=2048k/);
    assert.equal(wrote, 'wrote');
    assert.equal(addr, `${fixed}/24`);
    assert.equal(gw, gateway);
    assert.equal((await e.berth(['volume', 'inspect', '-f', '{{.Labels.tier}} {{.Options.type}}', 'drvopts_scratch'])).stdout.trim(), 'cache tmpfs');
    const net = JSON.parse((await e.berth(['network', 'inspect', 'drvopts_back'])).stdout)[0];
    assert.equal(net.Labels.tier, 'back');
    assert.equal(net.IPAM.Config[0].Subnet, subnet);
    assert.equal(net.Options['com.docker.network.bridge.name'], `br-drvopts${subnet.split('.')[1]}`);
    await c(['down', '-t', '1', '-v']);
    const bad = app('badvol', `services:
  a:
    image: busybox
volumes:
  v:
    driver: nfs-plugin
`);
    const r2 = await bad(['up', '-d']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /volumes\.v\.driver: only the "local" volume driver is supported/);
  });

  test('images, top, cp, wait and version act on the service containers', async () => {
    const c = app('tools', `services:\n  box:\n    image: busybox\n    command: sh -c 'echo inside > /tmp/f; sleep 3; exit 3'\n`);
    assert.equal((await c(['up', '-d'])).code, 0);
    const imgs = await c(['images']);
    assert.match(imgs.stdout, /^CONTAINER +REPOSITORY +TAG +IMAGE ID +SIZE\ntools-box-1 +busybox +latest +[0-9a-f]{12} +\S+\n$/);
    const top = await c(['top']);
    assert.match(top.stdout, /^tools-box-1\nUID +PID/);
    assert.match(top.stdout, /sleep 3/);
    const local = join(dirs[dirs.length - 1], 'copied');
    const cp = await c(['cp', 'box:/tmp/f', local]);
    assert.equal(cp.code, 0, cp.stderr);
    assert.equal(readFileSync(local, 'utf8'), 'inside\n');
    const w = await c(['wait', 'box']);
    assert.equal(w.stdout, '3\n');
    assert.equal(w.code, 3);
    assert.match((await c(['version', '--short'])).stdout, /^\d+\.\d+\.\d+\n$/);
    // create makes without starting; scale starts replicas; stats lists the running ones.
    const created = await c(['create', '--force-recreate']);
    assert.equal(created.code, 0, created.stderr);
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'tools-box-1'])).stdout, /created/);
    const scaled = await c(['scale', 'box=2']);
    assert.equal(scaled.code, 0, scaled.stderr);
    const st = await c(['stats', '--no-stream', '--format', '{{.Name}}']);
    assert.equal(st.stdout.split('\n').filter(Boolean).sort().join(' '), 'tools-box-1 tools-box-2');
    await c(['down', '-t', '1']);
  });

  test('down leaves orphans (services gone from the file) unless --remove-orphans', async () => {
    const c = app('orph', `services:\n  keep:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n  gone:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n`);
    assert.equal((await c(['up', '-d'])).code, 0);
    writeFileSync(join(dirs[dirs.length - 1], 'compose.yaml'), `name: orph\nservices:\n  keep:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n`);
    const d1 = await c(['down', '-t', '1']);
    assert.equal(d1.code, 0, d1.stderr);
    assert.match(d1.stderr, /Found orphan containers \(orph-gone-1\)/);
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'orph-gone-1'])).stdout, /running/);
    assert.notEqual((await e.berth(['inspect', 'orph-keep-1'])).code, 0, 'the defined service is removed');
    const d2 = await c(['down', '-t', '1', '--remove-orphans']);
    assert.equal(d2.code, 0, d2.stderr);
    assert.notEqual((await e.berth(['inspect', 'orph-gone-1'])).code, 0);
    assert.notEqual((await e.berth(['network', 'inspect', 'orph_default'])).code, 0, 'the network goes once nothing uses it');
  });

  test('up --exit-code-from: attached output, the others stopped when the tests end, their exit code returned', async () => {
    const c = app(
      'ci',
      `services:
  server:
    image: busybox
    command: sh -c 'echo "<b>up</b>" > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'
    stop_grace_period: 1s
  tests:
    image: busybox
    command: sh -c 'sleep 0.5; wget -q -O - http://server:8080/; exit 3'
`,
    );
    const r = await c(['up', '--exit-code-from', 'tests']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /ci-tests-1 +\| <b>up<\/b>\n/);
    assert.match(r.stderr, /Aborting on container exit/);
    assert.match((await e.berth(['inspect', '-f', '{{.State.Status}}', 'ci-server-1'])).stdout, /exited/, 'the server was stopped');
    const bad = await c(['up', '-d', '--abort-on-container-exit']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /incompatible with --detach/);
    await c(['down', '-t', '1']);
  });

  test('docker compose, through the plugin berth installs, runs the same project on berthd', async () => {
    const c = app('plug', `services:\n  app:\n    image: busybox\n    command: sleep 100\n    stop_grace_period: 1s\n`);
    const file = join(dirs[dirs.length - 1], 'compose.yaml');
    const inst = await e.berth(['compose', 'docker-plugin', '--dir', join(e.dir, 'docker-config', 'cli-plugins')]);
    assert.equal(inst.code, 0, inst.stderr);
    const again = await e.berth(['compose', 'docker-plugin', '--dir', join(e.dir, 'docker-config', 'cli-plugins')]);
    assert.equal(again.code, 1, 'an installed plugin is not replaced without --force');
    assert.match((await e.docker(['--help'])).stdout, /compose\* +Docker Compose, run by Berth/);
    const up = await e.docker(['compose', '-f', file, 'up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    assert.match((await c(['ps'])).stdout, /plug-app-1 .* Up/);
    const down = await e.docker(['compose', '-f', file, 'down', '-t', '1']);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await c(['ps', '-a', '-q'])).stdout, '');
  });

  test('a malformed file is one clear error and touches nothing', async () => {
    const c = app('broken', `services:\n  web:\n    image: busybox\n    ports: ["80:80:80:80"]\n`);
    const r = await c(['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /services\.web\.ports\[0\]: invalid port "80:80:80:80"/);
    assert.doesNotMatch((await e.berth(['network', 'ls'])).stdout, /broken_default/);
  });
});
