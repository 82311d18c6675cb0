import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyProbe, initialHealth, probeCommand, type HealthLogEntry } from '../../src/runtime/health';

const entry = (code: number): HealthLogEntry => ({ Start: 's', End: 'e', ExitCode: code, Output: `out ${code}` });

test('probe command: CMD, CMD-SHELL (with the image SHELL), NONE, legacy list', () => {
  assert.deepEqual(probeCommand({ Test: ['CMD', 'curl', '-f', 'x'] }), ['curl', '-f', 'x']);
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'test -f /ok'] }), ['/bin/sh', '-c', 'test -f /ok']);
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'x'] }, ['/bin/bash', '-ec']), ['/bin/bash', '-ec', 'x']);
  assert.equal(probeCommand({ Test: ['NONE'] }), undefined);
  assert.equal(probeCommand({ Test: [] }), undefined);
  assert.equal(probeCommand(undefined), undefined);
  assert.equal(probeCommand({ Test: ['CMD'] }), undefined);
});

test('state machine: retries, recovery, start period, log of 5', () => {
  let h = initialHealth();
  h = applyProbe(h, entry(1), 3, false);
  assert.deepEqual([h.Status, h.FailingStreak], ['starting', 1]);
  h = applyProbe(h, entry(2), 3, false);
  h = applyProbe(h, entry(1), 3, false);
  assert.deepEqual([h.Status, h.FailingStreak], ['unhealthy', 3], 'any non-zero code fails; 3 in a row make it unhealthy');
  h = applyProbe(h, entry(0), 3, false);
  assert.deepEqual([h.Status, h.FailingStreak], ['healthy', 0]);
  h = applyProbe(h, entry(1), 3, false);
  assert.deepEqual([h.Status, h.FailingStreak], ['healthy', 1], 'one failure keeps it healthy');
  for (let i = 0; i < 4; i++) h = applyProbe(h, entry(1), 3, false);
  assert.equal(h.Log.length, 5);
  assert.equal(h.Log[4].Output, 'out 1');
  // In the start period failures don't count until the first success.
  let s = initialHealth();
  s = applyProbe(s, entry(1), 1, true);
  assert.deepEqual([s.Status, s.FailingStreak, s.Log.length], ['starting', 0, 1]);
  s = applyProbe(s, entry(0), 1, true);
  s = applyProbe(s, entry(1), 1, true);
  assert.equal(s.Status, 'unhealthy', 'once healthy, failures count even inside the start period');
});
