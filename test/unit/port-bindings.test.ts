/** HostConfig.PortBindings from the API (create, and update's new map) checked as Docker's nat package reads it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHostConfig } from '../../src/runtime/config';
import type { HostConfig } from '../../src/runtime/types';

test('validateHostConfig: PortBindings of the wrong shape are refused with a clear error', () => {
  const check = (pb: unknown) => validateHostConfig({ PortBindings: pb } as HostConfig);
  check({ '80/tcp': [{ HostIp: '', HostPort: '8080' }], '53/udp': null, '90': [{ HostPort: '9000-9010' }], '91/tcp': [{}] });
  check(undefined);
  assert.throws(() => check({ abc: [] }), /invalid port specification: "abc"/);
  assert.throws(() => check({ '70000/tcp': [] }), /invalid port specification/);
  assert.throws(() => check({ '80/tcp': 'x' }), /invalid port bindings of 80\/tcp/);
  assert.throws(() => check({ '80/tcp': [{ HostPort: 8080 }] }), /invalid hostPort: 8080/);
  assert.throws(() => check({ '80/tcp': [{ HostPort: 'eighty' }] }), /invalid hostPort: eighty/);
  assert.throws(() => check({ '80/tcp': [null] }), /invalid port binding of 80\/tcp/);
  assert.throws(() => check([1]), /invalid PortBindings/);
});
