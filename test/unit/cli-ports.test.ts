/** `-p` parsing and `update --publish-add/--publish-rm` editing of a container's port bindings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editBindings, parseDevice, parsePublish } from '../../src/cli/commands/container';

test('parsePublish: ip, host port, ranges, protocols', () => {
  assert.deepEqual(parsePublish(['127.0.0.1:8080:80', '53/udp', '9000-9001:90-91']).bindings, {
    '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
    '53/udp': [{ HostIp: '', HostPort: '' }],
    '90/tcp': [{ HostIp: '', HostPort: '9000' }],
    '91/tcp': [{ HostIp: '', HostPort: '9001' }],
  });
  assert.throws(() => parsePublish(['80/sctpx']), /invalid proto/);
});

test('editBindings: a bare port drops all its bindings, a mapping drops one, adds append', () => {
  const cur = { '80/tcp': [{ HostIp: '', HostPort: '8080' }, { HostIp: '127.0.0.1', HostPort: '8081' }], '53/udp': [{ HostIp: '', HostPort: '' }] };
  assert.deepEqual(editBindings(cur, [], ['8080:80']), { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8081' }], '53/udp': [{ HostIp: '', HostPort: '' }] });
  assert.deepEqual(editBindings(cur, ['443'], ['80', '53/udp']), { '443/tcp': [{ HostIp: '', HostPort: '' }] });
  assert.deepEqual(editBindings(cur, ['9090:80'], [])['80/tcp']?.map((b) => b.HostPort), ['8080', '8081', '9090']);
  assert.deepEqual(cur['80/tcp'].length, 2, 'the input was changed');
  assert.throws(() => editBindings(cur, [], ['81']), /port 81\/tcp is not published/);
  assert.throws(() => editBindings(cur, [], ['7070:80']), /no mapping 7070:80 is published/);
});

test('parseDevice: host[:container][:perms] as the docker CLI reads it', () => {
  assert.deepEqual(parseDevice('/dev/fuse'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
  assert.deepEqual(parseDevice('/dev/fuse:r'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'r' });
  assert.deepEqual(parseDevice('/dev/sda:/dev/xvda'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rwm' });
  assert.deepEqual(parseDevice('/dev/sda:/dev/xvda:rw'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rw' });
  assert.throws(() => parseDevice('/a:/b:r:x'), /invalid device specification/);
  assert.throws(() => parseDevice(':/b'), /invalid device specification/);
});

