/** Parallel gzip for pushes: valid single-member gzip, deterministic, stored blocks for random data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { GZIP_BLOCK, parallelGzip } from '../../src/registry/client/gzip';
import { Feed } from '../../src/registry/client/feed';

async function gz(parts: Buffer[], parallel?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of parallelGzip((async function* () { yield* parts; })(), parallel)) out.push(...c);
  return Buffer.concat(out);
}

const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `line ${i} of some text ${i % 97}\n`).join(''));
const random = randomBytes(3 * GZIP_BLOCK + 12_345);

test('round-trips through gunzip: empty, tiny, text, random, exact block multiples', async () => {
  for (const data of [Buffer.alloc(0), Buffer.from('x'), text, random, randomBytes(2 * GZIP_BLOCK)]) {
    assert.ok(gunzipSync(await gz([data])).equals(data));
  }
});

test('same bytes whatever the input chunking and parallelism', async () => {
  const mixed = Buffer.concat([text, random]);
  const a = await gz([mixed]);
  const b = await gz([mixed.subarray(0, 7), mixed.subarray(7, 999_999), mixed.subarray(999_999)], 2);
  assert.equal(createHash('sha256').update(a).digest('hex'), createHash('sha256').update(b).digest('hex'));
});

test('text is deflated, random data is stored (not grown by more than the framing)', async () => {
  assert.ok((await gz([text])).length < text.length / 4);
  const r = await gz([random]);
  assert.ok(r.length < random.length + random.length / 1000 + 64, `${r.length} vs ${random.length}`);
});

test('GNU gzip accepts it', { skip: existsSync('/usr/bin/gzip') || existsSync('/bin/gzip') ? false : 'no gzip' }, async () => {
  const data = Buffer.concat([random, text]);
  const r = spawnSync('gzip', ['-dc'], { input: await gz([data]), maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.ok(r.stdout.equals(data));
});

test('Feed: backpressure, early consumer exit, errors both ways', async () => {
  const f = new Feed(10);
  const got: string[] = [];
  const consumer = (async () => {
    for await (const c of f) got.push(c.toString());
  })();
  await f.push(Buffer.from('hello world'));
  await f.push(Buffer.from('!'));
  f.end();
  await consumer;
  assert.deepEqual(got, ['hello world', '!']);

  const early = new Feed(4);
  const reader = (async () => {
    for await (const _ of early) break;
  })();
  await early.push(Buffer.from('aaaaaaaa'));
  await reader;
  await early.push(Buffer.from('dropped')); // the consumer left: no-op, no hang

  const failing = new Feed();
  const r2 = (async () => {
    for await (const _ of failing) void _;
  })();
  failing.fail(new Error('download broke'));
  await assert.rejects(r2, /download broke/);
  const aborted = new Feed();
  aborted.abort(new Error('bad tar'));
  await assert.rejects(aborted.push(Buffer.from('x')), /bad tar/);
});
