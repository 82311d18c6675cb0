/**
 * The CLI's HTTP client (src/cli/http.ts) against raw servers that frame
 * answers every way HTTP/1.1 allows, split at awkward places, and against a
 * node:http server (what berthd runs) for request bodies and upgrades.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { send, type ApiResponse } from '../../src/cli/http';

async function withRawServer(script: (s: Socket, request: string) => void, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-http-'));
  const path = join(dir, 's.sock');
  const srv = createServer((s) => {
    s.on('error', () => undefined); // the client may close first: that is its right
    let req = '';
    s.on('data', (d) => {
      req += d.toString('latin1');
      if (req.includes('\r\n\r\n')) script(s, req);
    });
  });
  await new Promise<void>((r) => srv.listen(path, r));
  try {
    await fn(path);
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function body(res: ApiResponse): Promise<string> {
  let out = '';
  for await (const c of res) out += (c as Buffer).toString('utf8');
  return out;
}

/** Writes `text` in pieces of `step` bytes, one per tick, so every boundary gets hit. */
function dribble(s: Socket, text: string, step: number): void {
  const buf = Buffer.from(text, 'latin1');
  let i = 0;
  const next = () => {
    if (i >= buf.length || s.destroyed) return;
    s.write(buf.subarray(i, i + step));
    i += step;
    setImmediate(next);
  };
  next();
}

test('chunked, Content-Length and close-delimited answers, split anywhere', async () => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\nB\r\nworld again\r\n0\r\n\r\n';
  for (const step of [1, 2, 3, 7, 1000]) {
    await withRawServer(
      (s) => dribble(s, chunked, step),
      async (path) => {
        const res = await send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } });
        assert.ok(!('upgraded' in res));
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['x-a'], '1, 2');
        assert.equal(await body(res), 'hello world again', `split every ${step} bytes`);
      },
    );
  }
  await withRawServer(
    (s) => dribble(s, 'HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissingEXTRA', 4),
    async (path) => {
      const res = (await send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } })) as ApiResponse;
      assert.equal(res.statusCode, 404);
      assert.equal(await body(res), 'missing', 'bytes past Content-Length are not body');
    },
  );
  await withRawServer(
    (s) => s.end('HTTP/1.1 200 OK\r\n\r\nuntil close'),
    async (path) => assert.equal(await body((await send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } })) as ApiResponse), 'until close'),
  );
  await withRawServer(
    (s) => s.end('HTTP/1.1 204 No Content\r\n\r\n'),
    async (path) => assert.equal(await body((await send(path, { method: 'DELETE', path: '/x', headers: { Host: 'b' } })) as ApiResponse), ''),
  );
});

test('truncated and malformed answers are errors, not short bodies', async () => {
  await withRawServer(
    (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'),
    async (path) => await assert.rejects(body((await send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } })) as ApiResponse), /5 bytes short/),
  );
  await withRawServer(
    (s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'),
    async (path) => await assert.rejects(body((await send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } })) as ApiResponse), /mid-answer/),
  );
  await withRawServer(
    (s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n'),
    async (path) => await assert.rejects(body((await send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } })) as ApiResponse), /malformed chunk/),
  );
  await withRawServer(
    (s) => s.end('SSH-2.0-nope\r\n\r\n'),
    async (path) => await assert.rejects(send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } }), /bad status line/),
  );
  await withRawServer(
    (s) => s.end(),
    async (path) => await assert.rejects(send(path, { method: 'GET', path: '/x', headers: { Host: 'b' } }), /without an answer/),
  );
  await assert.rejects(send('/nonexistent/berth.sock', { method: 'GET', path: '/x', headers: { Host: 'b' } }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

test('against node:http: a streamed body arrives whole, an early answer stops it, upgrades keep their first bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-http-'));
  const path = join(dir, 's.sock');
  const srv = createHttpServer((req, res) => {
    if (req.url === '/early') {
      // Answers after the first bytes, as an import that stops at the tar end marker.
      req.once('data', () => res.end('early'));
      return;
    }
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => res.end(JSON.stringify({ n, te: req.headers['transfer-encoding'] })));
  });
  srv.on('upgrade', (_req, socket: Socket) => {
    socket.write('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst');
    socket.on('data', (d) => socket.write(d));
  });
  await new Promise<void>((r) => srv.listen(path, r));
  try {
    const big = Buffer.alloc(8 << 20, 7);
    const pieces = Array.from({ length: 128 }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536));
    const r1 = (await send(path, { method: 'POST', path: '/count', headers: { Host: 'b' }, stream: Readable.from(pieces) })) as ApiResponse;
    assert.deepEqual(JSON.parse(await body(r1)), { n: big.length, te: 'chunked' });
    const r2 = (await send(path, { method: 'POST', path: '/count', headers: { Host: 'b' }, body: '{"a":1}' })) as ApiResponse;
    assert.deepEqual(JSON.parse(await body(r2)), { n: 7 });
    const r3 = (await send(path, { method: 'POST', path: '/early', headers: { Host: 'b' }, stream: Readable.from(pieces) })) as ApiResponse;
    assert.equal(await body(r3), 'early');
    const up = await send(path, { method: 'POST', path: '/attach', headers: { Host: 'b', Connection: 'Upgrade', Upgrade: 'tcp' }, body: '' }, { upgrade: true });
    assert.ok('upgraded' in up);
    assert.equal(up.head.toString(), 'first');
    up.upgraded.write('echo');
    const [echo] = (await new Promise((r) => up.upgraded.once('data', (d) => r([d])))) as Buffer[];
    assert.equal(echo.toString(), 'echo');
    up.upgraded.destroy();
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
