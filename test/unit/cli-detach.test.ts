/** Detach keys: Docker's key names, and the escape proxy's hold-back of a partial sequence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detachKeyBytes, EscapeMatcher } from '../../src/cli/io';

test('detach key names as the docker CLI reads them', () => {
  assert.deepEqual([...detachKeyBytes(undefined)], [16, 17]);
  assert.deepEqual([...detachKeyBytes('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...detachKeyBytes('ctrl-a,x,ctrl-@,ctrl-\\')], [1, 120, 0, 28]);
  assert.throws(() => detachKeyBytes('ctrl-1'), /unknown character sequence "ctrl-1"/);
});

test('the escape proxy forwards everything but a complete sequence', () => {
  const m = new EscapeMatcher(Buffer.from([16, 17]));
  assert.deepEqual(m.push(Buffer.from('ab')), { forward: Buffer.from('ab'), detach: false });
  // A partial match is held back…
  assert.deepEqual(m.push(Buffer.from([16])), { forward: Buffer.alloc(0), detach: false });
  // …and sent on when the sequence breaks off.
  assert.deepEqual(m.push(Buffer.from('y')), { forward: Buffer.from([16, 121]), detach: false });
  assert.deepEqual(m.push(Buffer.from([16, 16])), { forward: Buffer.from([16]), detach: false });
  assert.deepEqual(m.push(Buffer.from([17, 99])), { forward: Buffer.alloc(0), detach: true });
  const split = new EscapeMatcher(Buffer.from([1, 2, 3]));
  assert.equal(split.push(Buffer.from([9, 1, 2])).detach, false);
  assert.deepEqual(split.push(Buffer.from([3])), { forward: Buffer.alloc(0), detach: true });
});
