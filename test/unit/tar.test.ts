import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InternalError, InvalidArgumentError } from '../../src/errors';
import { readTar, writeTar } from '../../src/image/tar';
import type { TarHeader, TarWriteItem } from '../../src/image/tar';
import { lgetxattr, lsetxattr } from '../../src/sys/libc';

// ---------- helpers ----------

async function concat(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

async function write(items: TarWriteItem[]): Promise<Buffer> {
  return concat(writeTar(items));
}

/** Feeds `buf` in pieces of `size` bytes (Uint8Array when asked, to cover that input type). */
async function* chunks(buf: Buffer, size = 4096, asUint8 = false): AsyncGenerator<Buffer | Uint8Array> {
  for (let i = 0; i < buf.length; i += size) {
    const piece = buf.subarray(i, i + size);
    yield asUint8 ? new Uint8Array(piece) : piece;
  }
}

interface ReadEntry {
  header: TarHeader;
  body: Buffer;
}

async function readAll(buf: Buffer, size = 4096, asUint8 = false): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const e of readTar(chunks(buf, size, asUint8))) out.push({ header: e.header, body: await concat(e.body) });
  return out;
}

function names(entries: ReadEntry[]): string[] {
  return entries.map((e) => e.header.name.toString('latin1'));
}

async function rejectsInvalid(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  });
}

/** Header builder independent of the writer, for archives the writer never makes. */
function rawHeader(f: {
  name: string | Buffer;
  flag: string;
  size?: number;
  mode?: number;
  magic?: 'ustar' | 'gnu' | 'v7';
  prefix?: string;
  linkname?: string;
  field?: { off: number; bytes: Buffer };
  signedChecksum?: boolean;
}): Buffer {
  const b = Buffer.alloc(512);
  (typeof f.name === 'string' ? Buffer.from(f.name) : f.name).copy(b, 0);
  b.write(`${(f.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${(f.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write('14000000000\0', 136, 'latin1');
  b.write(f.flag, 156, 'latin1');
  if (f.linkname) b.write(f.linkname, 157, 'latin1');
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') b.write('ustar\u000000', 257, 'latin1');
  if (magic === 'gnu') b.write('ustar  \0', 257, 'latin1');
  if (f.prefix) b.write(f.prefix, 345, 'latin1');
  if (f.field) f.field.bytes.copy(b, f.field.off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += f.signedChecksum && c > 127 ? c - 256 : c;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function pad(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** A PAX record built by brute force, independently of the writer's arithmetic. */
function record(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  for (let n = 1; ; n++) if (String(n).length + body.length === n) return Buffer.concat([Buffer.from(String(n)), body]);
}

function paxEntry(flag: 'x' | 'g', recs: [string, Buffer | string][]): Buffer {
  const data = Buffer.concat(recs.map(([k, v]) => record(k, v)));
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/x', flag, size: data.length }), pad(data)]);
}

function fileEntry(name: string, body: string, extra: Partial<Parameters<typeof rawHeader>[0]> = {}): Buffer {
  return Buffer.concat([rawHeader({ name, flag: '0', size: body.length, ...extra }), pad(Buffer.from(body))]);
}

const END = Buffer.alloc(1024);

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function tmpdir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tar-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Through the libc wrappers (no python3 on a minimal Debian): the codec is under test, not xattrs.
function setxattr(p: string, name: string, value: Buffer): void {
  lsetxattr(p, name, value);
}

function getxattr(p: string, name: string): Buffer {
  const v = lgetxattr(p, name);
  assert.ok(v, `no xattr ${name} on ${p}`);
  return v;
}

function xattrsSupported(dir: string): boolean {
  const p = path.join(dir, '.probe');
  fs.writeFileSync(p, '');
  try {
    setxattr(p, 'user.probe', Buffer.from('1'));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(p);
  }
}

const BIN_XATTR = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
// A VFS_CAP_REVISION_2 security.capability value (cap_net_raw, effective).
const CAP_XATTR = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const NON_UTF8 = Buffer.from([0x62, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]); // "b\xff\xfe.bin"

// ---------- round trips ----------

test('round-trips every entry type with its fields', async () => {
  const buf = await write([
    { entry: { name: 'etc', type: 'directory', mode: 0o750, uid: 1, gid: 2, mtime: 1700000000 } },
    { entry: { name: 'etc/hosts', type: 'file', mode: 0o4755, uid: 1000, gid: 1001, uname: 'alice', gname: 'staff', mtime: 1700000001 }, body: Buffer.from('127.0.0.1 localhost\n') },
    { entry: { name: 'etc/hosts.lnk', type: 'hardlink', linkname: 'etc/hosts' } },
    { entry: { name: 'etc/sym', type: 'symlink', linkname: '../target' } },
    { entry: { name: 'dev/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 } },
    { entry: { name: 'dev/sda1', type: 'blockdev', devmajor: 8, devminor: 1, mode: 0o660 } },
    { entry: { name: 'run/fifo', type: 'fifo', mode: 0o600 } },
    { entry: { name: 'empty', type: 'file' } },
  ]);
  assert.equal(buf.length % 512, 0);
  assert.ok(buf.subarray(-1024).equals(Buffer.alloc(1024)), 'ends with two zero blocks');
  const e = await readAll(buf);
  assert.deepEqual(names(e), ['etc/', 'etc/hosts', 'etc/hosts.lnk', 'etc/sym', 'dev/null', 'dev/sda1', 'run/fifo', 'empty']);
  assert.deepEqual(e.map((x) => x.header.type), ['directory', 'file', 'hardlink', 'symlink', 'chardev', 'blockdev', 'fifo', 'file']);
  const [dir, file, hard, sym, chr, blk, fifo] = e.map((x) => x.header);
  assert.deepEqual([dir.mode, dir.uid, dir.gid, dir.mtime], [0o750, 1, 2, 1700000000]);
  assert.deepEqual([file.mode, file.uid, file.gid, file.uname, file.gname, file.size, file.mtime], [0o4755, 1000, 1001, 'alice', 'staff', 20, 1700000001]);
  assert.equal(e[1].body.toString(), '127.0.0.1 localhost\n');
  assert.equal(hard.linkname.toString(), 'etc/hosts');
  assert.equal(hard.size, 0);
  assert.equal(sym.linkname.toString(), '../target');
  assert.equal(sym.mode, 0o777);
  assert.deepEqual([chr.devmajor, chr.devminor, chr.mode], [1, 3, 0o666]);
  assert.deepEqual([blk.devmajor, blk.devminor, blk.mode], [8, 1, 0o660]);
  assert.equal(fifo.mode, 0o600);
  assert.equal(e[7].header.mode, 0o644);
  assert.equal(e[7].body.length, 0);
  for (const x of e) assert.equal(x.header.pax.size, 0, 'no PAX needed for plain entries');
});

test('long paths: 200 bytes use the ustar prefix, 300 bytes use PAX', async () => {
  const p200 = `${'a'.repeat(120)}/${'b'.repeat(79)}`;
  const p300 = `${'c'.repeat(99)}/${'d'.repeat(99)}/${'e'.repeat(100)}`;
  const longLink = `/${'l'.repeat(150)}`;
  assert.equal(p300.length, 300);
  const buf = await write([
    { entry: { name: p200, type: 'file' }, body: Buffer.from('200') },
    { entry: { name: p300, type: 'file' }, body: Buffer.from('300') },
    { entry: { name: 'ln', type: 'symlink', linkname: longLink } },
  ]);
  // First entry: a plain ustar header with the prefix field filled.
  assert.equal(buf[156], '0'.charCodeAt(0));
  assert.equal(buf.toString('latin1', 345, 345 + 120), 'a'.repeat(120));
  assert.equal(buf[1024 + 156], 'x'.charCodeAt(0), 'the 300-byte path needs a PAX header');
  const e = await readAll(buf);
  assert.deepEqual(names(e), [p200, p300, 'ln']);
  assert.deepEqual(e.map((x) => x.body.toString()), ['200', '300', '']);
  assert.equal(e[2].header.linkname.toString(), longLink);
});

test('round-trips non-UTF-8 names and names containing a newline', async () => {
  const nl = Buffer.from('dir/line1\nline2');
  const buf = await write([
    { entry: { name: NON_UTF8, type: 'file' }, body: Buffer.from('x') },
    { entry: { name: nl, type: 'file' }, body: Buffer.from('y') },
    { entry: { name: 'link', type: 'symlink', linkname: NON_UTF8 } },
  ]);
  assert.equal(buf[156], 'x'.charCodeAt(0), 'non-ASCII names go to PAX path');
  const e = await readAll(buf);
  assert.ok(e[0].header.name.equals(NON_UTF8), `got ${e[0].header.name.toString('hex')}`);
  assert.ok(e[0].header.pax.get('path')?.equals(NON_UTF8));
  assert.ok(e[1].header.name.equals(nl));
  assert.ok(e[2].header.linkname.equals(NON_UTF8));
  assert.equal(e[0].body.toString(), 'x');
});

test('round-trips binary xattrs byte-exactly', async () => {
  const xattrs = new Map([
    ['user.bin', BIN_XATTR],
    ['security.capability', CAP_XATTR],
    ['user.empty-ish', Buffer.from('=\n=')],
  ]);
  const buf = await write([{ entry: { name: 'bin/ping', type: 'file', mode: 0o755, xattrs }, body: Buffer.from('ELF') }]);
  assert.equal(buf[156], 'x'.charCodeAt(0));
  assert.ok(buf.includes(Buffer.concat([Buffer.from('SCHILY.xattr.user.bin='), BIN_XATTR, Buffer.from('\n')])), 'raw bytes in the PAX record');
  const [e] = await readAll(buf);
  assert.equal(e.header.xattrs.size, 3);
  assert.ok(e.header.xattrs.get('user.bin')?.equals(BIN_XATTR));
  assert.ok(e.header.xattrs.get('security.capability')?.equals(CAP_XATTR));
  assert.ok(e.header.xattrs.get('user.empty-ish')?.equals(Buffer.from('=\n=')));
  assert.ok(e.header.pax.get('SCHILY.xattr.user.bin')?.equals(BIN_XATTR));
  assert.equal(e.body.toString(), 'ELF');
});

test('round-trips big ids, fractional times and big device numbers', async () => {
  const buf = await write([
    { entry: { name: 'f', type: 'file', uid: 4294967294, gid: 3000000, mtime: 1700000000.123456, atime: 1700000002.5, ctime: 1700000003 } },
    { entry: { name: 'old', type: 'file', mtime: -86400.25 } },
    { entry: { name: 'c', type: 'chardev', devmajor: 4095, devminor: 3000000 } },
    { entry: { name: 'plain', type: 'file', mtime: 1700000000 } },
  ]);
  const e = await readAll(buf);
  const h = e[0].header;
  assert.deepEqual([h.uid, h.gid, h.mtime, h.atime, h.ctime], [4294967294, 3000000, 1700000000.123456, 1700000002.5, 1700000003]);
  assert.equal(e[1].header.mtime, -86400.25);
  assert.deepEqual([e[2].header.devmajor, e[2].header.devminor], [4095, 3000000]);
  assert.equal(e[3].header.mtime, 1700000000);
  assert.equal(e[3].header.atime, undefined, 'no atime unless given');
  assert.equal(e[3].header.pax.size, 0);
});

test('streams a 10 MB body in chunks without buffering it', async () => {
  const data = randomBytes(10 * 1024 * 1024 + 123); // not a multiple of 512: padding matters
  async function* body(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < data.length; i += 65536) yield new Uint8Array(data.subarray(i, i + 65536));
  }
  async function* archive(): AsyncGenerator<Buffer> {
    yield* writeTar([
      { entry: { name: 'big.bin', type: 'file', size: data.length }, body: body() },
      { entry: { name: 'after', type: 'file' }, body: Buffer.from('tail') },
    ]);
  }
  // Re-chunk at an odd size so bodies straddle header and chunk boundaries.
  async function* rechunk(): AsyncGenerator<Buffer> {
    let carry = Buffer.alloc(0);
    for await (const c of archive()) {
      carry = Buffer.concat([carry, c]);
      while (carry.length >= 65537) {
        yield carry.subarray(0, 65537);
        carry = carry.subarray(65537);
      }
    }
    if (carry.length) yield carry;
  }
  const seen: string[] = [];
  for await (const entry of readTar(rechunk())) {
    const hash = createHash('sha256');
    let max = 0;
    let total = 0;
    for await (const c of entry.body) {
      hash.update(c);
      max = Math.max(max, c.length);
      total += c.length;
    }
    assert.ok(max <= 65537, 'body chunks are slices of input chunks');
    assert.equal(total, entry.header.size);
    seen.push(`${entry.header.name.toString()}:${hash.digest('hex')}`);
  }
  assert.deepEqual(seen, [
    `big.bin:${createHash('sha256').update(data).digest('hex')}`,
    `after:${createHash('sha256').update('tail').digest('hex')}`,
  ]);
});

test('PAX record lengths include their own digits', async () => {
  // Values whose records cross 2→3 and 3→4 digit lengths.
  const lengths = [80, 84, 85, 86, 87, 88, 89, 90, 95, 985, 986, 987, 988, 989, 990, 995];
  for (const n of lengths) {
    const value = Buffer.alloc(n, 0x61);
    const buf = await write([{ entry: { name: 'f', type: 'file', pax: new Map([['comment', value]]) } }]);
    const size = parseInt(buf.toString('latin1', 124, 135), 8);
    const data = buf.subarray(512, 512 + size);
    const lenStr = data.toString('latin1', 0, data.indexOf(0x20));
    assert.equal(Number(lenStr), data.length, `record for a ${n}-byte value`);
    assert.ok(data.equals(record('comment', value)));
    const [e] = await readAll(buf);
    assert.ok(e.header.pax.get('comment')?.equals(value));
  }
});

test('writer output is deterministic', async () => {
  const items = (order: 'ab' | 'ba'): TarWriteItem[] => [
    { entry: { name: 'a', type: 'directory' } },
    {
      entry: {
        name: 'a/f',
        type: 'file',
        mtime: 5.5,
        xattrs: new Map(order === 'ab' ? [['user.a', Buffer.from('1')], ['user.b', Buffer.from('2')]] : [['user.b', Buffer.from('2')], ['user.a', Buffer.from('1')]]),
      },
      body: Buffer.from('hello'),
    },
  ];
  const one = await write(items('ab'));
  const two = await write(items('ab'));
  const three = await write(items('ba'));
  assert.ok(one.equals(two));
  assert.ok(one.equals(three), 'xattr insertion order does not matter');
  // No clock: every mtime field holds what was given (0 by default).
  assert.equal(one.toString('latin1', 136, 147), '00000000000');
  assert.equal(one.toString('latin1', 265, 297).replace(/\0+$/, ''), '', 'no uname unless given');
});

test('writer defaults: modes and directory trailing slash', async () => {
  const buf = await write([
    { entry: { name: 'etc', type: 'directory' } },
    { entry: { name: 'var/', type: 'directory' } },
    { entry: { name: 'f', type: 'file' } },
    { entry: { name: 's', type: 'symlink', linkname: 'f' } },
  ]);
  const e = await readAll(buf);
  assert.deepEqual(names(e), ['etc/', 'var/', 'f', 's']);
  assert.deepEqual(e.map((x) => x.header.mode), [0o755, 0o755, 0o644, 0o777]);
  assert.equal(buf.toString('latin1', 257, 265), 'ustar\u000000');
});

test('writer rejects bodies that do not match the size', async () => {
  async function* gen(parts: string[]): AsyncGenerator<Buffer> {
    for (const p of parts) yield Buffer.from(p);
  }
  await rejectsInvalid(write([{ entry: { name: 'short', type: 'file', size: 10 }, body: gen(['abc']) }]), /"short" is 3 bytes, but its size is 10/);
  await rejectsInvalid(write([{ entry: { name: 'long', type: 'file', size: 4 }, body: gen(['abc', 'def']) }]), /"long" is longer than its size 4/);
  await rejectsInvalid(write([{ entry: { name: 'buf', type: 'file', size: 2 }, body: Buffer.from('abc') }]), /"buf" is 3 bytes, but its size is 2/);
  await rejectsInvalid(write([{ entry: { name: 'nobody', type: 'file', size: 2 } }]), /no body/);
  await rejectsInvalid(write([{ entry: { name: 'a\0b', type: 'file' } }]), /NUL/);
  await rejectsInvalid(write([{ entry: { name: 'd', type: 'directory', size: 1 } }]), /cannot have a size/);
});

// ---------- reader on crafted archives ----------

test('reader verifies checksums, accepting signed sums', async () => {
  const good = await write([{ entry: { name: 'f', type: 'file' }, body: Buffer.from('x') }]);
  const bad = Buffer.from(good);
  bad[0] = 'g'.charCodeAt(0);
  await rejectsInvalid(readAll(bad), /invalid header checksum for "g"/);

  const hiName = Buffer.from([0x68, 0xe9, 0xff]);
  const signed = Buffer.concat([rawHeader({ name: hiName, flag: '0', signedChecksum: true }), END]);
  const [e] = await readAll(signed);
  assert.ok(e.header.name.equals(hiName));
});

test('reader rejects truncated archives and accepts sloppy endings', async () => {
  const buf = await write([
    { entry: { name: 'first', type: 'file' }, body: Buffer.from('1') },
    { entry: { name: 'second', type: 'file' }, body: Buffer.alloc(2000, 1) },
  ]);
  await rejectsInvalid(readAll(buf.subarray(0, 1024 + 512 + 700)), /unexpected end of archive in "second"/);
  await rejectsInvalid(readAll(buf.subarray(0, 1024 + 300)), /unexpected end of archive in "second"/);
  await rejectsInvalid(readAll(buf.subarray(0, 1024 + 50)), /unexpected end of archive in the header after "first"/);
  // A PAX header with nothing after it.
  const pax = await write([{ entry: { name: 'x'.repeat(300), type: 'file' } }]);
  await rejectsInvalid(readAll(pax.subarray(0, 1024)), /unexpected end of archive/);

  const body = buf.subarray(0, buf.length - 1024);
  assert.deepEqual(names(await readAll(body)), ['first', 'second'], 'EOF at a header boundary');
  assert.deepEqual(names(await readAll(buf.subarray(0, buf.length - 512))), ['first', 'second'], 'one zero block then EOF');
  const padded = Buffer.concat([buf, Buffer.alloc(10240 - (buf.length % 10240))]);
  assert.deepEqual(names(await readAll(padded)), ['first', 'second'], 'record padding after the end marker');
});

test('global PAX headers apply to later entries; per-entry ones override', async () => {
  const archive = Buffer.concat([
    fileEntry('before', 'a'),
    paxEntry('g', [['uid', '4000000'], ['comment', 'hello'], ['SCHILY.xattr.user.g', BIN_XATTR]]),
    fileEntry('one', 'b'),
    paxEntry('x', [['uid', '7'], ['comment', '']]),
    fileEntry('two', 'c'),
    paxEntry('g', [['comment', '']]),
    fileEntry('three', 'd'),
    END,
  ]);
  const e = await readAll(archive);
  assert.deepEqual(names(e), ['before', 'one', 'two', 'three']);
  assert.deepEqual(e.map((x) => x.header.uid), [0, 4000000, 7, 4000000]);
  assert.deepEqual(e.map((x) => x.header.pax.get('comment')?.toString()), [undefined, 'hello', undefined, undefined]);
  assert.ok(e[1].header.xattrs.get('user.g')?.equals(BIN_XATTR));
  assert.ok(e[3].header.xattrs.get('user.g')?.equals(BIN_XATTR));
  assert.deepEqual(e.map((x) => x.body.toString()), ['a', 'b', 'c', 'd']);
});

test('unread bodies are skipped; reading a body after advancing fails', async () => {
  const buf = await write([
    { entry: { name: 'a', type: 'file' }, body: Buffer.alloc(1500, 0x61) },
    { entry: { name: 'b', type: 'file' }, body: Buffer.alloc(700, 0x62) },
    { entry: { name: 'c', type: 'file' }, body: Buffer.from('cc') },
  ]);
  const got: string[] = [];
  let stale: AsyncIterable<Buffer> | undefined;
  for await (const e of readTar(chunks(buf, 100))) {
    got.push(e.header.name.toString());
    if (e.header.name.toString() === 'a') stale = e.body; // never read
    if (e.header.name.toString() === 'b') {
      for await (const c of e.body) {
        assert.equal(c[0], 0x62);
        break; // read partially
      }
    }
    if (e.header.name.toString() === 'c') assert.equal((await concat(e.body)).toString(), 'cc');
  }
  assert.deepEqual(got, ['a', 'b', 'c']);
  assert.ok(stale);
  await assert.rejects(concat(stale), (err: unknown) => err instanceof InternalError && /after moving to the next entry/.test(err.message));
});

test('stopping early closes the source', async () => {
  const buf = await write([
    { entry: { name: 'a', type: 'file' }, body: Buffer.from('a') },
    { entry: { name: 'b', type: 'file' }, body: Buffer.from('b') },
  ]);
  let closed = false;
  async function* src(): AsyncGenerator<Buffer> {
    try {
      yield* chunks(buf, 512) as AsyncGenerator<Buffer>;
    } finally {
      closed = true;
    }
  }
  for await (const e of readTar(src())) {
    assert.equal(e.header.name.toString(), 'a');
    break;
  }
  assert.ok(closed);
});

test('reader handles 1-byte Uint8Array chunks', async () => {
  const buf = await write([
    { entry: { name: 'd', type: 'directory' } },
    { entry: { name: `${'p'.repeat(150)}/${'q'.repeat(150)}`, type: 'file', xattrs: new Map([['user.x', BIN_XATTR]]) }, body: Buffer.from('hello world') },
  ]);
  const whole = await readAll(buf, buf.length);
  const tiny = await readAll(buf, 1, true);
  assert.deepEqual(names(tiny), names(whole));
  assert.equal(tiny[1].body.toString(), 'hello world');
  assert.ok(tiny[1].header.xattrs.get('user.x')?.equals(BIN_XATTR));
});

test('reader parses base-256 numbers, v7 slash directories and contiguous files', async () => {
  const b256 = (n: number, len: number): Buffer => {
    const b = Buffer.alloc(len);
    let v = n;
    for (let i = len - 1; i > 0; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
    b[0] = 0x80;
    return b;
  };
  const negMtime = Buffer.alloc(12, 0xff); // -1 in base-256
  const archive = Buffer.concat([
    rawHeader({ name: 'bigsize', flag: '0', field: { off: 124, bytes: b256(5, 12) } }),
    pad(Buffer.from('12345')),
    rawHeader({ name: 'biguid', flag: '0', field: { off: 108, bytes: b256(4294967294, 8) } }),
    rawHeader({ name: 'neg', flag: '0', field: { off: 136, bytes: negMtime } }),
    rawHeader({ name: 'olddir/', flag: '\0', magic: 'v7' }),
    rawHeader({ name: 'olddir/f', flag: '\0', magic: 'v7', size: 2 }),
    pad(Buffer.from('hi')),
    rawHeader({ name: 'slashdir/', flag: '0', magic: 'gnu' }),
    rawHeader({ name: 'contig', flag: '7', size: 1 }),
    pad(Buffer.from('c')),
    rawHeader({ name: 'name', prefix: 'some/prefix', flag: '0' }),
    END,
  ]);
  const e = await readAll(archive);
  assert.deepEqual(names(e), ['bigsize', 'biguid', 'neg', 'olddir/', 'olddir/f', 'slashdir/', 'contig', 'some/prefix/name']);
  assert.equal(e[0].body.toString(), '12345');
  assert.equal(e[1].header.uid, 4294967294);
  assert.equal(e[2].header.mtime, -1);
  assert.deepEqual(e.map((x) => x.header.type), ['file', 'file', 'file', 'directory', 'file', 'directory', 'file', 'file']);
  assert.equal(e[4].body.toString(), 'hi');
  assert.equal(e[6].body.toString(), 'c');
});

test('reader reads GNU L/K entries and LIBARCHIVE xattrs', async () => {
  const longName = Buffer.concat([Buffer.from('deep/'.repeat(40)), NON_UTF8]);
  const longLink = Buffer.from(`/${'t'.repeat(200)}`);
  const lEntry = (flag: 'L' | 'K', v: Buffer): Buffer =>
    Buffer.concat([rawHeader({ name: '././@LongLink', flag, size: v.length + 1, magic: 'gnu' }), pad(Buffer.concat([v, Buffer.from([0])]))]);
  const archive = Buffer.concat([
    lEntry('L', longName),
    lEntry('K', longLink),
    rawHeader({ name: 'truncated-name', flag: '2', magic: 'gnu', linkname: 'truncated-link' }),
    paxEntry('x', [
      ['LIBARCHIVE.xattr.user.la%3Dx', BIN_XATTR.toString('base64')],
      ['LIBARCHIVE.xattr.user.both', Buffer.from('libarchive').toString('base64')],
      ['SCHILY.xattr.user.both', 'schily'],
    ]),
    fileEntry('plain', ''),
    END,
  ]);
  const e = await readAll(archive);
  assert.ok(e[0].header.name.equals(longName));
  assert.ok(e[0].header.linkname.equals(longLink));
  assert.equal(e[0].header.type, 'symlink');
  assert.equal(e[1].header.name.toString(), 'plain');
  assert.ok(e[1].header.xattrs.get('user.la=x')?.equals(BIN_XATTR));
  assert.equal(e[1].header.xattrs.get('user.both')?.toString(), 'schily');
});

test('reader rejects unknown types, sparse entries, bad PAX and oversized PAX', async () => {
  await rejectsInvalid(readAll(Buffer.concat([rawHeader({ name: 'weird', flag: 'Q' }), END])), /"weird" has unsupported entry type 'Q'/);
  await rejectsInvalid(readAll(Buffer.concat([rawHeader({ name: 'sp', flag: 'S', magic: 'gnu' }), END])), /"sp" is a GNU sparse file/);
  await rejectsInvalid(
    readAll(Buffer.concat([paxEntry('x', [['GNU.sparse.major', '1'], ['path', 'sparse.img']]), fileEntry('x', ''), END])),
    /"sparse.img" is a GNU sparse file/,
  );
  const badRec = Buffer.from('99 path=x\n');
  await rejectsInvalid(
    readAll(Buffer.concat([rawHeader({ name: 'p', flag: 'x', size: badRec.length }), pad(badRec), fileEntry('x', ''), END])),
    /malformed PAX record/,
  );
  await rejectsInvalid(readAll(Buffer.concat([paxEntry('x', [['uid', '12a']]), fileEntry('x', ''), END])), /invalid PAX uid/);
  const big = Buffer.concat([paxEntry('x', [['comment', 'z'.repeat(3000)]]), fileEntry('x', ''), END]);
  await rejectsInvalid(concat((async function* () {
    for await (const e of readTar(chunks(big), { maxPaxBytes: 2048 })) yield e.header.name;
  })()), /over the 2048-byte limit/);
  assert.equal((await readAll(big)).length, 1, 'fine under the default limit');
  await rejectsInvalid(readAll(Buffer.concat([rawHeader({ name: 'a', flag: '0' }), Buffer.alloc(512), rawHeader({ name: 'b', flag: '0' })])), /after a zero block/);
});

// ---------- interop with GNU tar ----------

test('GNU tar lists and extracts what writeTar writes', async (t) => {
  const dir = tmpdir(t);
  const withXattrs = xattrsSupported(dir);
  const long = `${'x'.repeat(99)}/${'y'.repeat(99)}/${'z'.repeat(100)}`;
  const data = randomBytes(3000);
  const buf = await write([
    { entry: { name: 'root', type: 'directory', mode: 0o755, mtime: 1600000000 } },
    { entry: { name: 'root/file', type: 'file', mode: 0o640, uid: 4294967294, gid: 1234, mtime: 1600000000.25, xattrs: new Map([['user.bin', BIN_XATTR]]) }, body: data },
    { entry: { name: 'root/hard', type: 'hardlink', linkname: 'root/file' } },
    { entry: { name: 'root/sym', type: 'symlink', linkname: 'file' } },
    { entry: { name: 'root/null', type: 'chardev', devmajor: 1, devminor: 3, mode: 0o666 } },
    { entry: { name: 'root/fifo', type: 'fifo', mode: 0o600 } },
    { entry: { name: 'root/suid', type: 'file', mode: 0o4755 }, body: Buffer.from('#!/bin/sh\n') },
    { entry: { name: `root/${long}`, type: 'file' }, body: Buffer.from('long') },
    { entry: { name: Buffer.concat([Buffer.from('root/'), NON_UTF8]), type: 'file' }, body: Buffer.from('raw') },
  ]);
  const tarPath = path.join(dir, 'out.tar');
  fs.writeFileSync(tarPath, buf);

  const listing = run('tar', ['--numeric-owner', '-tvf', tarPath]);
  assert.match(listing, /^drwxr-xr-x 0\/0 +0 2020-09-13 \S+ root\/$/m);
  assert.match(listing, /^-rw-r----- 4294967294\/1234 +3000 \S+ \S+ root\/file$/m);
  assert.match(listing, /^hrw-r--r-- 0\/0 +0 \S+ \S+ root\/hard link to root\/file$/m);
  assert.match(listing, /^lrwxrwxrwx 0\/0 +0 \S+ \S+ root\/sym -> file$/m);
  assert.match(listing, /^crw-rw-rw- 0\/0 +1,3 \S+ \S+ root\/null$/m);
  assert.match(listing, /^prw------- /m);
  assert.match(listing, /^-rwsr-xr-x /m);
  assert.ok(listing.includes(`root/${long}\n`));

  const out = path.join(dir, 'x');
  fs.mkdirSync(out);
  run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarPath, '-C', out]);
  const f = path.join(out, 'root/file');
  assert.ok(fs.readFileSync(f).equals(data));
  const st = fs.statSync(f);
  assert.equal(st.mode & 0o7777, 0o640);
  assert.equal(st.uid, 4294967294);
  assert.equal(st.gid, 1234);
  assert.equal(st.mtimeMs, 1600000000250);
  assert.equal(fs.statSync(path.join(out, 'root/hard')).ino, st.ino);
  assert.equal(fs.readlinkSync(path.join(out, 'root/sym')), 'file');
  const nul = fs.statSync(path.join(out, 'root/null'));
  assert.ok(nul.isCharacterDevice());
  assert.equal(nul.rdev, (1 << 8) | 3);
  assert.ok(fs.statSync(path.join(out, 'root/fifo')).isFIFO());
  assert.equal(fs.statSync(path.join(out, 'root/suid')).mode & 0o7777, 0o4755);
  assert.equal(fs.readFileSync(path.join(out, 'root', long), 'utf8'), 'long');
  const rawNames = fs.readdirSync(path.join(out, 'root'), { encoding: 'buffer' });
  assert.ok(rawNames.some((n) => n.equals(NON_UTF8)), 'non-UTF-8 name extracted byte-exact');
  if (withXattrs) assert.ok(getxattr(f, 'user.bin').equals(BIN_XATTR));
  else t.diagnostic('user xattrs unsupported here; xattr check skipped');
});

test('reads GNU tar archives: gnu, pax with xattrs, ustar, v7, sparse', async (t) => {
  const dir = tmpdir(t);
  const src = path.join(dir, 'src');
  const longDir = `${'d'.repeat(50)}/${'e'.repeat(50)}/${'f'.repeat(50)}`;
  fs.mkdirSync(path.join(src, longDir), { recursive: true });
  const longFile = `${longDir}/${'g'.repeat(70)}.txt`;
  fs.writeFileSync(path.join(src, longFile), 'deep');
  fs.writeFileSync(path.join(src, 'small'), 'small');
  fs.symlinkSync(`../${'t'.repeat(120)}`, path.join(src, 'longlink'));
  fs.writeFileSync(path.join(src, 'bin'), 'xattr');
  const withXattrs = xattrsSupported(src);
  if (withXattrs) setxattr(path.join(src, 'bin'), 'user.bin', BIN_XATTR);
  const archive = (format: string, extra: string[] = []): Buffer => {
    const p = path.join(dir, `${format}.tar`);
    run('tar', [`--format=${format}`, ...extra, '--sort=name', '-cf', p, '-C', src, '.']);
    return fs.readFileSync(p);
  };
  const byName = (e: ReadEntry[]): Map<string, ReadEntry> => new Map(e.map((x) => [x.header.name.toString(), x]));

  // gnu: L/K entries and base-256 uid.
  const gnu = byName(await readAll(archive('gnu', ['--owner=big:3000000'])));
  assert.equal(gnu.get(`./${longFile}`)?.body.toString(), 'deep');
  assert.equal(gnu.get('./longlink')?.header.linkname.toString(), `../${'t'.repeat(120)}`);
  assert.equal(gnu.get('./small')?.header.uid, 3000000);
  assert.equal(gnu.get('./small')?.header.uname, 'big');
  assert.equal(gnu.get(`./${longDir}/`)?.header.type, 'directory');

  // pax with xattrs.
  const pax = byName(await readAll(archive('pax', ['--xattrs', '--xattrs-include=*'])));
  assert.equal(pax.get(`./${longFile}`)?.body.toString(), 'deep');
  const bin = pax.get('./bin');
  assert.equal(bin?.body.toString(), 'xattr');
  const mtimeMs = fs.statSync(path.join(src, 'bin')).mtimeMs;
  assert.ok(Math.abs((bin?.header.mtime ?? 0) * 1000 - mtimeMs) < 1, 'sub-second mtime from PAX');
  if (withXattrs) assert.ok(bin?.header.xattrs.get('user.bin')?.equals(BIN_XATTR));
  else t.diagnostic('user xattrs unsupported here; xattr check skipped');

  // ustar: the long path lives in prefix + name.
  const ustarBuf = archive('ustar', ['--exclude=./longlink']);
  const ustar = byName(await readAll(ustarBuf));
  assert.equal(ustar.get(`./${longFile}`)?.body.toString(), 'deep');
  assert.ok(ustarBuf.includes(Buffer.from(`./${longDir}\0`)), 'GNU tar used the prefix field');

  // v7.
  const v7 = byName(await readAll(archive('v7', ['--exclude=./longlink', `--exclude=./${'d'.repeat(50)}`])));
  assert.equal(v7.get('./small')?.body.toString(), 'small');
  assert.equal(v7.get('./small')?.header.mode, fs.statSync(path.join(src, 'small')).mode & 0o7777);

  // Sparse files are refused with a clear message, in both encodings.
  const sp = path.join(dir, 'sparse');
  fs.mkdirSync(sp);
  run('truncate', ['-s', '4M', path.join(sp, 'holes.img')]);
  const fd = fs.openSync(path.join(sp, 'holes.img'), 'r+');
  fs.writeSync(fd, Buffer.from('x'), 0, 1, 2 * 1024 * 1024);
  fs.closeSync(fd);
  for (const format of ['gnu', 'pax']) {
    const p = path.join(dir, `sparse-${format}.tar`);
    run('tar', ['--sparse', `--format=${format}`, '-cf', p, '-C', sp, 'holes.img']);
    await rejectsInvalid(readAll(fs.readFileSync(p)), /holes\.img" is a GNU sparse file/);
  }
});
