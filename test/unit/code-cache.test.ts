/**
 * bin/berth compiles the CLI bundle in a function wrapper and scripts/code-cache.cjs makes
 * its code cache: V8 accepts the cache only for the very same text, so the two must agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/engine';

test('bin/berth wraps the bundle exactly as the code cache was made for', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wrap } = require(join(REPO, 'scripts', 'code-cache.cjs')) as { wrap: (s: string) => string };
  const bin = readFileSync(join(REPO, 'bin', 'berth'), 'utf8');
  const m = /new vm\.Script\(`(.*?)`,/s.exec(bin);
  assert.ok(m, 'bin/berth compiles the bundle with new vm.Script(`…`)');
  const inBin = m[1].replace('${source}', 'SRC').replace('\\n', '\n');
  assert.equal(inBin, wrap('SRC'));
});
