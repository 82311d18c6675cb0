/**
 * `berth search` and `GET /images/search` (so `docker search` works through
 * Berth's socket) against a tiny v1 search server on loopback, and the clear
 * error from a registry that has no search API (Debian's distribution).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DOCKER_BIN, TestEngine, isRoot } from '../helpers/engine';
import { splitSearchTerm } from '../../src/registry/client/search';
import { freePort } from '../helpers/net';

const RESULTS = [
  { name: 'acme/web', description: 'A web server image with a description long enough to be truncated', star_count: 42, is_official: false, is_automated: true },
  { name: 'nginx', description: 'Official build of Nginx.', star_count: 20000, is_official: true, is_automated: false },
  { name: 'acme/tool', description: 'line one\nline two', star_count: 3, is_official: false, is_automated: false },
];

class FakeSearch {
  server?: Server;
  port = 0;
  queries: URLSearchParams[] = [];
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname !== '/v1/search') {
        res.writeHead(404);
        return void res.end();
      }
      this.queries.push(u.searchParams);
      const n = Number(u.searchParams.get('n') ?? 25);
      const results = RESULTS.filter((r) => r.name.includes(u.searchParams.get('q') ?? '') || u.searchParams.get('q') === 'all').slice(0, n);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ num_results: results.length, query: u.searchParams.get('q'), results }));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  stop(): void {
    this.server?.close();
  }
}


test('search terms pick the index as Docker does', () => {
  assert.deepEqual(splitSearchTerm('nginx'), { domain: 'docker.io', query: 'nginx' });
  assert.deepEqual(splitSearchTerm('acme/web'), { domain: 'docker.io', query: 'acme/web' });
  assert.deepEqual(splitSearchTerm('localhost/web'), { domain: 'localhost', query: 'web' });
  assert.deepEqual(splitSearchTerm('127.0.0.1:5000/acme/web'), { domain: '127.0.0.1:5000', query: 'acme/web' });
  assert.deepEqual(splitSearchTerm('quay.io/x'), { domain: 'quay.io', query: 'x' });
});

describe('search through berthd', { skip: isRoot() ? false : 'needs root to run berthd' }, () => {
  const e = new TestEngine();
  const fake = new FakeSearch();
  let dist: ChildProcess | undefined;
  let distPort = 0;
  const distDir = mkdtempSync('/tmp/bsearch-');
  before(async () => {
    await fake.start();
    await e.start();
    if (existsSync('/usr/bin/docker-registry')) {
      distPort = await freePort();
      const cfg = join(distDir, 'config.yml');
      writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(distDir, 'data')}\nhttp:\n  addr: 127.0.0.1:${distPort}\n`);
      dist = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: 'ignore' });
      for (let i = 0; i < 200; i++) {
        const ok = await fetch(`http://127.0.0.1:${distPort}/v2/`).then(() => true, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  after(async () => {
    fake.stop();
    dist?.kill('SIGTERM');
    await e.cleanup();
    rmSync(distDir, { recursive: true, force: true });
  });

  test('table output as Docker prints it, descriptions truncated', async () => {
    const r = await e.berth(['search', `127.0.0.1:${fake.port}/all`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL$/);
    assert.equal(lines.length, 4);
    assert.match(lines[1], /^acme\/web\s+A web server image with a description long e…\s+42\s*$/);
    assert.match(lines[2], /^nginx\s+Official build of Nginx\.\s+20000\s+\[OK\]$/);
    assert.match(lines[3], /^acme\/tool\s+line one line two\s+3/);
    assert.equal(fake.queries.at(-1)?.get('q'), 'all');
    assert.equal(fake.queries.at(-1)?.get('n'), '25');
  });

  test('--no-trunc, --limit, --filter, --format', async () => {
    const full = await e.berth(['search', '--no-trunc', `127.0.0.1:${fake.port}/acme/web`]);
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stdout, /description long enough to be truncated/);
    const lim = await e.berth(['search', '--limit', '2', '--format', '{{.Name}}', `127.0.0.1:${fake.port}/all`]);
    assert.equal(lim.stdout, 'acme/web\nnginx\n');
    assert.equal(fake.queries.at(-1)?.get('n'), '2');
    const stars = await e.berth(['search', '--filter', 'stars=10', '--format', '{{.Name}} {{.StarCount}}', `127.0.0.1:${fake.port}/all`]);
    assert.equal(stars.stdout, 'acme/web 42\nnginx 20000\n');
    const official = await e.berth(['search', '-f', 'is-official=true', '--format', '{{.Name}}|{{.IsOfficial}}|{{.IsAutomated}}', `127.0.0.1:${fake.port}/all`]);
    assert.equal(official.stdout, 'nginx|[OK]|\n');
    const bad = await e.berth(['search', '--filter', 'color=red', `127.0.0.1:${fake.port}/all`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'color'/);
    const tooMany = await e.berth(['search', '--limit', '101', `127.0.0.1:${fake.port}/all`]);
    assert.notEqual(tooMany.code, 0);
    assert.match(tooMany.stderr, /limit 101 is outside the range of \[1, 100\]/);
  });

  test('docker search through Berth\'s socket', { skip: existsSync(DOCKER_BIN) ? false : 'no docker CLI' }, async () => {
    const r = await e.docker(['search', '--limit', '5', `127.0.0.1:${fake.port}/all`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL/);
    assert.match(r.stdout, /nginx\s+Official build of Nginx\.\s+20000\s+\[OK\]/);
    const f = await e.docker(['search', '--filter', 'is-official=true', '--format', '{{.Name}}', `127.0.0.1:${fake.port}/all`]);
    assert.equal(f.stdout, 'nginx\n');
  });

  test('a registry without the v1 search API: a clear error', { skip: existsSync('/usr/bin/docker-registry') ? false : 'docker-registry not installed' }, async () => {
    const r = await e.berth(['search', `127.0.0.1:${distPort}/anything`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error response from daemon: 127\.0\.0\.1:\d+ does not support search: it has no v1 search API/);
    const d = await e.docker(['search', `127.0.0.1:${distPort}/anything`]);
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /does not support search/);
  });
});
