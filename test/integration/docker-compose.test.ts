/**
 * Debian's docker-compose (1.29, Python, docker-py) against berthd: up with a
 * healthcheck dependency, service-name DNS, a named volume, logs, and down -v.
 * It disconnects and reconnects every network of a created container before
 * starting it, which Berth must take as Docker does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestEngine, isRoot, runProcess } from '../helpers/engine';

const COMPOSE_BIN = '/usr/bin/docker-compose';

describe('docker-compose 1.x against berthd', { skip: !isRoot() ? 'needs root' : !existsSync(COMPOSE_BIN) ? 'docker-compose not installed (npm run setup installs it)' : false }, () => {
  const e = new TestEngine();
  let dir = '';
  before(async () => {
    await e.start();
    await e.busybox();
    dir = mkdtempSync(join(tmpdir(), 'berth-dc-'));
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      `services:
  db:
    image: busybox
    command: sh -c 'echo from-db > /www/index.html; touch /tmp/ready; exec httpd -f -p 8080 -h /www'
    volumes: [data:/www]
    healthcheck: { test: [CMD, test, -f, /tmp/ready], interval: 1s, retries: 30 }
  web:
    image: busybox
    command: sh -c 'wget -q -O - http://db:8080/index.html; exec sleep 60'
    depends_on: { db: { condition: service_healthy } }
volumes:
  data: {}
`,
    );
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await e.cleanup();
  });

  const dc = (args: string[]) => runProcess(COMPOSE_BIN, ['-p', 'dcapp', '-f', join(dir, 'docker-compose.yml'), ...args], { ...e.env, DOCKER_HOST: `unix://${e.socket}` }, { timeoutMs: 120_000 });

  test('up -d, ps, logs, and berth compose sees the same project; down -v removes it all', async () => {
    const up = await dc(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    const ps = await dc(['ps']);
    assert.match(ps.stdout, /dcapp_db_1 .* Up \(healthy\)/);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('from-db'); i++) logs = (await dc(['logs', '--no-color', 'web'])).stdout;
    assert.match(logs, /web_1 +\| from-db/, 'web reached db by its service name, through the shared volume');
    // The same labels docker compose v2 and berth compose use: berth compose lists docker-compose's containers.
    const ours = await e.berth(['compose', '-p', 'dcapp', '-f', join(dir, 'docker-compose.yml'), 'ps', '--services']);
    assert.deepEqual(ours.stdout.trim().split('\n').sort(), ['db', 'web']);
    const down = await dc(['down', '-v', '-t', '1']);
    assert.equal(down.code, 0, down.stderr);
    assert.equal((await e.berth(['ps', '-a', '-q'])).stdout, '');
    assert.doesNotMatch((await e.berth(['volume', 'ls', '-q'])).stdout, /dcapp_data/);
    assert.doesNotMatch((await e.berth(['network', 'ls'])).stdout, /dcapp_default/);
  });
});
