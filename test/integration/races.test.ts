/** 50 racing CLIs on tag/rmi/run corrupt nothing: the index stays parseable and consistent. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { TestEngine, isRoot } from '../helpers/engine';

describe('concurrency', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('50 concurrent tag / rmi / run calls', { timeout: 180_000 }, async () => {
    const jobs: Promise<{ code: number; stderr: string }>[] = [];
    for (let i = 0; i < 50; i++) {
      if (i % 3 === 0) jobs.push(e.berth(['tag', 'busybox', `race/tag:${i}`]));
      else if (i % 3 === 1) jobs.push(e.berth(['tag', 'busybox', `race/gone:${i}`]).then(() => e.berth(['rmi', `race/gone:${i}`])));
      else jobs.push(e.berth(['run', '--rm', 'busybox', 'true']));
    }
    const results = await Promise.all(jobs);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const images = await e.berth(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    const tags = images.stdout.trim().split('\n');
    const expected = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 3 === 0).map((i) => `race/tag:${i}`);
    for (const t of expected) assert.ok(tags.includes(t), `missing ${t}`);
    assert.ok(!tags.some((t) => t.startsWith('race/gone')), 'an rmi was lost');
    // On disk: the index parses and every blob hashes to its name.
    const index = JSON.parse(readFileSync(join(e.root, 'image', 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1 + expected.length);
    const blobs = join(e.root, 'image', 'blobs', 'sha256');
    for (const name of readdirSync(blobs)) assert.equal(createHash('sha256').update(readFileSync(join(blobs, name))).digest('hex'), name);
    assert.equal((await e.berth(['ps', '-aq'])).stdout.trim(), '');
  });
});
