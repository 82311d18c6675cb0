/**
 * `berth login` prompts on a terminal as docker does: "Username: " echoed,
 * "Password: " not echoed; without a terminal it refuses clearly. The
 * terminal is a pty from util-linux `script`; the registry is a loopback
 * server that wants Basic u:secret.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BERTH_BIN, TestEngine, isRoot } from '../helpers/engine';

const skip = !isRoot() ? 'needs root to run berthd' : !existsSync('/usr/bin/script') ? 'no util-linux script(1) for a pty' : false;

describe('interactive login', { skip }, () => {
  const e = new TestEngine();
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from('u:secret-pw').toString('base64')}`) return void res.end('{}');
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    await e.start();
  });
  after(async () => {
    server.close();
    await e.cleanup();
  });

  /** Runs `berth login` on a pty, answering each prompt when it appears. */
  function loginOnPty(answers: Array<[RegExp, string]>): Promise<{ code: number | null; output: string }> {
    const env = { ...e.env, DOCKER_CONFIG: join(e.dir, 'docker-config') };
    const p = spawn('/usr/bin/script', ['-qec', `${process.execPath} ${BERTH_BIN} login 127.0.0.1:${port}`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const pending = [...answers];
    const onData = (d: Buffer) => {
      output += d.toString();
      while (pending.length && pending[0][0].test(output)) {
        const [, answer] = pending.shift()!;
        p.stdin.write(answer);
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    return new Promise((resolve) => {
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  test('prompts for username and a hidden password; credentials stored', async () => {
    const r = await loginOnPty([
      [/Username: $/, 'u\r'],
      [/Password: $/, 'secret-pw\r'],
    ]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /Username: u/);
    assert.doesNotMatch(r.output, /secret-pw/, 'the password is not echoed');
    assert.match(r.output, /Login Succeeded/);
    const cfg = JSON.parse(readFileSync(join(e.dir, 'docker-config', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(cfg.auths[`127.0.0.1:${port}`].auth, 'base64').toString(), 'u:secret-pw');
  });

  test('the stored username is offered; a wrong password fails clearly', async () => {
    const r = await loginOnPty([
      [/Username \(u\): $/, '\r'],
      [/Password: $/, 'wrong\r'],
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /unauthorized/);
  });

  test('without a terminal and without a password: refused', async () => {
    const r = await e.berth(['login', '-u', 'u', `127.0.0.1:${port}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cannot perform an interactive login from a non TTY device/);
  });
});
