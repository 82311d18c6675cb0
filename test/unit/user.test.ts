import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InternalError, InvalidArgumentError } from '../../src/errors';
import { mknod, S_IFIFO } from '../../src/sys/libc';
import { resolveUser } from '../../src/runtime/user';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-user-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

app:x:1000:1000:App,,,:/home/app:/bin/bash
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
# comment lines are skipped
bin:x:1:root,daemon
daemon:x:2:root
wheel:x:10:root,app
audio:x:29:app
app:x:1000:
docker:x:999:
`;

let n = 0;
function rootfs(files: Record<string, string> = { 'etc/passwd': PASSWD, 'etc/group': GROUP }): string {
  const dir = path.join(tmp, `rootfs${n++}`);
  fs.mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

test('user name → uid, gid, home and /etc/group memberships', async () => {
  const r = rootfs();
  assert.deepEqual(await resolveUser(r, 'app'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app' });
  assert.deepEqual(await resolveUser(r, 'www-data'), { uid: 33, gid: 33, additionalGids: [33], home: '/var/www' });
});

test("'' is root with root's groups, as `docker run alpine id` shows", async () => {
  assert.deepEqual(await resolveUser(rootfs(), ''), { uid: 0, gid: 0, additionalGids: [0, 1, 2, 10], home: '/root' });
});

test('numeric uid takes gid and home from passwd when listed', async () => {
  assert.deepEqual(await resolveUser(rootfs(), '1000'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app' });
  assert.deepEqual(await resolveUser(rootfs(), '4242'), { uid: 4242, gid: 0, additionalGids: [0], home: '/' });
});

test("'uid:gid' works without any passwd or group file", async () => {
  const empty = rootfs({});
  assert.deepEqual(await resolveUser(empty, '1234:5678'), { uid: 1234, gid: 5678, additionalGids: [5678], home: '/' });
  assert.deepEqual(await resolveUser(empty, ''), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
  await assert.rejects(resolveUser(empty, 'app'), /unable to find user app: no matching entries in passwd file/);
});

test("'name:group' uses the explicit group and no supplementary groups", async () => {
  const r = rootfs();
  assert.deepEqual(await resolveUser(r, 'app:docker'), { uid: 1000, gid: 999, additionalGids: [999], home: '/home/app' });
  assert.deepEqual(await resolveUser(r, 'app:4000'), { uid: 1000, gid: 4000, additionalGids: [4000], home: '/home/app' });
  assert.deepEqual(await resolveUser(r, '33:audio'), { uid: 33, gid: 29, additionalGids: [29], home: '/var/www' });
  await assert.rejects(resolveUser(r, 'app:nogroup'), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.message, 'unable to find group nogroup: no matching entries in group file');
    return true;
  });
});

test("unknown user → Docker's message", async () => {
  await assert.rejects(resolveUser(rootfs(), 'foo'), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.equal(e.message, 'unable to find user foo: no matching entries in passwd file');
    return true;
  });
});

test('out-of-range ids are refused', async () => {
  await assert.rejects(resolveUser(rootfs(), '2147483648'), /uids and gids must be in range 0-2147483647/);
  await assert.rejects(resolveUser(rootfs(), '-1'), /uids and gids must be in range/);
  await assert.rejects(resolveUser(rootfs(), 'app:99999999999'), /uids and gids must be in range/);
});

test('--group-add: names from /etc/group, numbers as-is, unknown names fail', async () => {
  const r = rootfs();
  const u = await resolveUser(r, 'app', ['docker', '4000', 'audio', 'docker']);
  assert.deepEqual(u.additionalGids, [1000, 10, 29, 999, 4000, 29]);
  await assert.rejects(resolveUser(r, 'app', ['nope']), /unable to find group nope: no matching entries in group file/);
  assert.deepEqual((await resolveUser(rootfs({}), '5', ['77'])).additionalGids, [0, 77]);
});

test('symlinks in the rootfs cannot make resolveUser read host files', async () => {
  // A host file that would "define" user evil if it were read.
  const hostFile = path.join(tmp, 'host-passwd');
  fs.writeFileSync(hostFile, 'evil:x:4242:4242::/evil:/bin/sh\n');
  const hostGroup = path.join(tmp, 'host-group');
  fs.writeFileSync(hostGroup, 'evilgrp:x:4343:app\n');

  const abs = rootfs({ 'etc/group': GROUP });
  fs.symlinkSync(hostFile, path.join(abs, 'etc/passwd'));
  await assert.rejects(resolveUser(abs, 'evil'), /unable to find user evil: no matching entries in passwd file/);

  const rel = rootfs({ 'etc/group': GROUP });
  fs.symlinkSync(`../../../../../../../../..${hostFile}`, path.join(rel, 'etc/passwd'));
  await assert.rejects(resolveUser(rel, 'evil'), /unable to find user evil/);

  // The whole /etc pointing at a host dir.
  const hostEtc = path.join(tmp, 'host-etc');
  fs.mkdirSync(hostEtc);
  fs.writeFileSync(path.join(hostEtc, 'passwd'), 'evil:x:4242:4242::/evil:/bin/sh\n');
  const etcLink = rootfs({});
  fs.symlinkSync(hostEtc, path.join(etcLink, 'etc'));
  await assert.rejects(resolveUser(etcLink, 'evil'), /unable to find user evil/);

  // Group file too: no host group memberships leak in.
  const grp = rootfs({ 'etc/passwd': PASSWD });
  fs.symlinkSync(hostGroup, path.join(grp, 'etc/group'));
  assert.deepEqual((await resolveUser(grp, 'app')).additionalGids, [1000]);

  // Control: the same absolute link, resolved inside the rootfs, is followed.
  const inRoot = rootfs({ 'etc/group': GROUP, [hostFile.slice(1)]: PASSWD });
  fs.symlinkSync(hostFile, path.join(inRoot, 'etc/passwd'));
  assert.equal((await resolveUser(inRoot, 'app')).uid, 1000);
});

test('a FIFO as /etc/passwd does not hang the daemon', async () => {
  const r = rootfs({ 'etc/group': GROUP });
  mknod(path.join(r, 'etc/passwd'), S_IFIFO | 0o644);
  assert.deepEqual(await resolveUser(r, '7:8'), { uid: 7, gid: 8, additionalGids: [8], home: '/' });
});

test('a missing rootfs is an error', async () => {
  await assert.rejects(resolveUser(path.join(tmp, 'nope'), ''), InternalError);
});
