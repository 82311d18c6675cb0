/** The filters of the prune routes: honoured (label, label!, until) or refused, never ignored. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pruneFilter, untilSeconds } from '../../src/api/filters';
import { InvalidArgumentError } from '../../src/errors';

test('untilSeconds: Go durations before now, Unix timestamps, dates', () => {
  const now = Date.parse('2026-01-02T00:00:00Z');
  assert.equal(untilSeconds('24h', now), now / 1000 - 86400);
  assert.equal(untilSeconds('1h30m', now), now / 1000 - 5400);
  assert.equal(untilSeconds('1700000000', now), 1700000000);
  assert.equal(untilSeconds('2026-01-01T00:00:00Z', now), now / 1000 - 86400);
  assert.throws(() => untilSeconds('yesterday', now), /invalid filter 'until=yesterday'/);
});

test('pruneFilter: label, label! and until select; unknown filters are refused', () => {
  const sel = (raw: object) => pruneFilter(JSON.stringify(raw)).matches;
  const old = '2020-01-01T00:00:00Z';
  const fresh = new Date().toISOString();
  assert.equal(sel({})({}, fresh), true);
  assert.equal(sel({ label: ['doomed'] })({ doomed: '' }, fresh), true);
  assert.equal(sel({ label: ['doomed'] })({ kept: '' }, fresh), false);
  assert.equal(sel({ label: ['doomed'] })(undefined, fresh), false);
  assert.equal(sel({ label: ['env=test'] })({ env: 'prod' }, fresh), false);
  assert.equal(sel({ 'label!': ['keep'] })({ keep: '1' }, fresh), false);
  assert.equal(sel({ 'label!': ['keep'] })({}, fresh), true);
  assert.equal(sel({ until: ['24h'] })({}, old), true);
  assert.equal(sel({ until: ['24h'] })({}, fresh), false);
  assert.throws(() => pruneFilter(JSON.stringify({ lable: ['x'] })), InvalidArgumentError);
  assert.throws(() => pruneFilter(JSON.stringify({ dangling: ['false'] })), /invalid filter 'dangling'/);
  assert.equal(pruneFilter(JSON.stringify({ dangling: ['false'] }), ['dangling']).filters.dangling![0], 'false');
  assert.throws(() => pruneFilter(JSON.stringify({ until: ['1h'] }), ['all'], ['label', 'label!']), /invalid filter 'until'/);
});
