/**
 * `build --squash`'s merge on hand-made layer dirs in overlay encoding
 * (whiteouts are char 0/0 devices, opaque dirs carry trusted.overlay.opaque):
 * what an earlier step made and a later one deleted leaves no trace, what
 * hides base content stays, and a dir made over a deleted base dir hides the
 * base's content even when its own layer did not mark it opaque.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { squashLayers } from '../../src/build/squash';
import { ContentStore } from '../../src/image/content/store';
import { OVERLAY_OPAQUE_XATTR } from '../../src/image/snapshot/whiteout';
import { readTar } from '../../src/image/tar/reader';
import { S_IFCHR, lsetxattr, mknod } from '../../src/sys/libc';

const isRoot = process.getuid?.() === 0;

function write(root: string, files: Record<string, string | null>): void {
  for (const [rel, data] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (rel.endsWith('/')) fs.mkdirSync(p, { recursive: true });
    else if (data === null) mknod(p, S_IFCHR | 0o600, 0, 0); // a whiteout
    else fs.writeFileSync(p, data);
  }
}

const opaque = (p: string) => lsetxattr(p, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));

test('squash merge: deletions of build files vanish, base deletions and opaque dirs stay where they hide something', { skip: isRoot ? false : 'needs root (whiteouts, trusted xattrs)' }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-squash-test-'));
  try {
    const base = path.join(tmp, 'base');
    write(base, { 'keep/k': 'k', 'gone': 'g', 'dir/a': 'a', 'bdir/x': 'x', 'other': 'o' });
    const [l1, l2, l3] = ['l1', 'l2', 'l3'].map((n) => path.join(tmp, n));
    write(l1, { 'new': 'n', 'tmpf': 't', 'bdir/y': 'y', 'x/inner': 'i', 'hl1': 'h' });
    fs.linkSync(path.join(l1, 'hl1'), path.join(l1, 'hl2'));
    fs.chmodSync(path.join(l1, 'hl1'), 0o751);
    fs.chownSync(path.join(l1, 'new'), 7, 8);
    write(l2, { 'tmpf': null, 'gone': null, 'x': null, 'bdir': null, 'dir/b': 'b' });
    opaque(path.join(l2, 'dir'));
    lsetxattr(path.join(l2, 'dir'), 'user.note', Buffer.from('dir'));
    lsetxattr(path.join(l1, 'new'), 'user.note', Buffer.from('file'));
    // bdir made again over l2's whiteout, not marked opaque in its own layer (overlay stops at the lower whiteout).
    write(l3, { 'bdir/z': 'z', 'dir/a': null });
    fs.chmodSync(path.join(l3, 'bdir'), 0o711);
    // A dir's metadata comes from its topmost layer (overlay copies a lower dir's xattrs up with it).
    lsetxattr(path.join(l3, 'dir'), 'user.note', Buffer.from('dir, later'));

    const content = new ContentStore(path.join(tmp, 'store'));
    await content.init();
    const work = path.join(tmp, 'work');
    fs.mkdirSync(work);
    const layer = await squashLayers({ content, tmpRoot: work, epoch: 0, baseRoot: base, layerDirs: [l1, l2, l3] });
    const got = new Map<string, string>();
    const notes = new Map<string, string>();
    for await (const { header: h } of readTar(fs.createReadStream(content.path(layer.digest)))) {
      const link = h.linkname.length ? ` -> ${h.linkname.toString()}` : '';
      for (const [k, v] of h.xattrs) notes.set(`${h.name.toString()} ${k}`, v.toString());
      got.set(h.name.toString().replace(/\/$/, ''), `${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid} ${h.mtime}${link}`);
    }
    // In the order of the names on disk (a whiteout sorts as the name it deletes), as every layer Berth packs.
    assert.deepEqual([...got.keys()], ['bdir', 'bdir/.wh..wh..opq', 'bdir/z', 'dir', 'dir/.wh..wh..opq', 'dir/b', '.wh.gone', 'hl1', 'hl2', 'new']);
    assert.equal(got.get('bdir'), 'directory 711 0:0 0');
    assert.equal(got.get('hl2'), 'hardlink 751 0:0 0 -> hl1');
    assert.equal(got.get('new'), 'file 644 7:8 0');
    // xattrs come along; overlay's own (opaque) only as the marker entry.
    assert.deepEqual([...notes], [['dir/ user.note', 'dir, later'], ['new user.note', 'file']]);

    // The same layers give the same bytes.
    const again = await squashLayers({ content, tmpRoot: work, epoch: 0, baseRoot: base, layerDirs: [l1, l2, l3] });
    assert.equal(again.digest, layer.digest);
    // Changes that cancel out still give a layer (an empty one), as Docker's squash does.
    const [made, deleted] = ['l1b', 'l2b'].map((n) => path.join(tmp, n));
    write(made, { f: 'f' });
    write(deleted, { f: null });
    const empty = await squashLayers({ content, tmpRoot: work, epoch: 0, baseRoot: base, layerDirs: [made, deleted] });
    assert.equal(empty.size, 1024);
    assert.deepEqual(fs.readdirSync(work), []);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
