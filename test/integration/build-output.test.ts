/** `build -o`: the result's files on the host (BuildKit's local and tar exporters), nothing the engine adds, no container left. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TestEngine, isRoot, writeTree } from '../helpers/engine';
import { parseOutput } from '../../src/cli/commands/build';

test('parseOutput: buildx forms', () => {
  assert.deepEqual(parseOutput('out'), { type: 'local', dest: 'out' });
  assert.deepEqual(parseOutput('-'), { type: 'tar', dest: '-' });
  assert.deepEqual(parseOutput('type=tar,dest=a.tar'), { type: 'tar', dest: 'a.tar' });
  assert.deepEqual(parseOutput('type=tar'), { type: 'tar', dest: '-' });
  assert.deepEqual(parseOutput('type=docker'), { type: 'image' });
  assert.throws(() => parseOutput('type=oci,dest=x'), /output type "oci" is not supported/);
  assert.throws(() => parseOutput('type=local'), /needs dest=/);
  assert.throws(() => parseOutput('type=local,dest=-'), /use type=tar for stdout/);
});

describe('build --output', { skip: isRoot() ? false : 'needs root' }, () => {
  const e = new TestEngine();
  before(async () => {
    await e.start();
    await e.busybox();
  });
  after(() => e.cleanup());

  test('local directory, tar file and tar on stdout hold the final stage\'s files only', async () => {
    const ctx = writeTree(join(e.dir, 'ctx'), {
      Dockerfile: 'FROM busybox AS b\nRUN mkdir -p /out/sub && echo artifact > /out/sub/a.txt && ln -s /etc/passwd /out/link && chmod 0750 /out/sub\nFROM scratch\nCOPY --from=b /out/ /\n',
    });
    const dir = join(e.dir, 'out');
    const r = await e.berth(['build', '-q', '-o', dir, ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['link', 'sub']);
    assert.equal(readFileSync(join(dir, 'sub', 'a.txt'), 'utf8'), 'artifact\n');
    assert.equal(readlinkSync(join(dir, 'link')), '/etc/passwd', 'a symlink is written as a symlink, not followed');
    const tarFile = join(e.dir, 'out.tar');
    assert.equal((await e.berth(['build', '-o', `type=tar,dest=${tarFile}`, ctx])).code, 0);
    const names = spawnSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(names, ['link', 'sub/', 'sub/a.txt']);
    const stdout = await e.berth(['build', '-q', '-o', '-', ctx]);
    assert.ok(stdout.stdout.includes('artifact\n') && !stdout.stdout.includes('sha256:'), 'stdout carries the tar and nothing else');
    // A full image: its files, without /etc/hosts or other files a container start adds.
    const full = join(e.dir, 'full');
    assert.equal((await e.berth(['build', '-q', '-o', `type=local,dest=${full}`, '-'], { input: 'FROM busybox\nRUN echo hi > /hi\n' })).code, 0);
    assert.ok(existsSync(join(full, 'bin', 'busybox')) && existsSync(join(full, 'hi')));
    assert.ok(!existsSync(join(full, 'etc', 'hosts')) && !existsSync(join(full, 'etc', 'resolv.conf')) && !existsSync(join(full, '.dockerenv')));
    assert.equal((await e.berth(['ps', '-aq', '--filter', 'label=io.berth.build.output'])).stdout, '', 'the export container was left behind');
    const bad = await e.berth(['build', '-o', 'type=registry', ctx]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /output type "registry" is not supported/);
  });
});
