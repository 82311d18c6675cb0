/**
 * Deterministic tar writer: ustar headers, plus a PAX `x` header only for what
 * ustar cannot hold (long or non-ASCII names, big numbers, sub-second times,
 * xattrs). Output depends only on the input: no clock, no host user names.
 */
import { InvalidArgumentError } from '../../errors';
import type { EntryType, TarEntryInput } from './types';

export interface TarWriteItem {
  entry: TarEntryInput;
  /** Required for files with size > 0; a Buffer alone also gives the size. */
  body?: Buffer | AsyncIterable<Buffer | Uint8Array>;
}

const BLOCK = 512;
const MAX_OCTAL_7 = 0o7777777; // 8-byte fields: 7 digits + NUL
const MAX_OCTAL_11 = 0o77777777777; // 12-byte fields: 11 digits + NUL

const TYPEFLAGS: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  directory: '5',
  fifo: '6',
};

const DEFAULT_MODES: Record<EntryType, number> = {
  file: 0o644,
  hardlink: 0o644,
  symlink: 0o777,
  chardev: 0o644,
  blockdev: 0o644,
  directory: 0o755,
  fifo: 0o644,
};

/** Keys the writer derives from the structured fields; copies in `entry.pax` are ignored. */
const DERIVED_KEYS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime']);

function show(name: Buffer): string {
  return JSON.stringify(name.toString('utf8'));
}

function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] > 0x7f) return false;
  return true;
}

function writeOctal(block: Buffer, off: number, len: number, value: number): void {
  block.write(value.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  block[off + len - 1] = 0;
}

/** GNU base-256 for the rare values that fit neither octal nor a PAX key (device numbers). */
function writeBase256(block: Buffer, off: number, len: number, value: number): void {
  let v = value;
  for (let i = off + len - 1; i > off; i--) {
    block[i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[off] = 0x80;
}

/** A PAX time: shortest exact decimal, never exponent notation. */
function formatTime(t: number): string {
  const s = String(t);
  if (!/e/i.test(s)) return s;
  return t.toFixed(9).replace(/\.?0+$/, '');
}

/** `"%d %s=%s\n"` where %d counts the whole record, its own digits included. */
function paxRecord(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key, 'utf8');
  const base = k.length + value.length + 3; // ' ', '=', '\n'
  let len = base + 1;
  while (String(len).length + base !== len) len = base + String(len).length;
  return Buffer.concat([Buffer.from(`${len} `, 'latin1'), k, Buffer.from('='), value, Buffer.from('\n')]);
}

/** Splits an ASCII path at a '/' into ustar prefix (≤155) and name (≤100), if possible. */
function splitUstar(name: Buffer): [Buffer, Buffer] | undefined {
  let best: number | undefined;
  // Skip a trailing slash: it must stay in the name part.
  const last = name[name.length - 1] === 0x2f ? name.length - 2 : name.length - 1;
  for (let i = 1; i <= Math.min(155, last); i++) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100) best = i;
  }
  if (best === undefined) return undefined;
  return [name.subarray(0, best), name.subarray(best + 1)];
}

function checkInt(v: number, field: string, name: Buffer): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(`tar: ${field} ${v} of ${show(name)} is not a non-negative integer`);
  }
  return v;
}

function checkTime(v: number, field: string, name: Buffer): number {
  if (!Number.isFinite(v)) throw new InvalidArgumentError(`tar: ${field} of ${show(name)} is not a finite number`);
  return v;
}

function checksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
}

interface HeaderFields {
  name: Buffer;
  prefix: Buffer;
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: Buffer;
  uname: Buffer;
  gname: Buffer;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  f.name.copy(b, 0, 0, 100);
  writeOctal(b, 100, 8, f.mode);
  writeOctal(b, 108, 8, f.uid);
  writeOctal(b, 116, 8, f.gid);
  writeOctal(b, 124, 12, f.size);
  writeOctal(b, 136, 12, f.mtime);
  b.write(f.flag, 156, 1, 'latin1');
  f.linkname.copy(b, 157, 0, 100);
  b.write('ustar\x0000', 257, 8, 'latin1');
  f.uname.copy(b, 265, 0, 32);
  f.gname.copy(b, 297, 0, 32);
  if (f.devmajor > MAX_OCTAL_7) writeBase256(b, 329, 8, f.devmajor);
  else writeOctal(b, 329, 8, f.devmajor);
  if (f.devminor > MAX_OCTAL_7) writeBase256(b, 337, 8, f.devminor);
  else writeOctal(b, 337, 8, f.devminor);
  f.prefix.copy(b, 345, 0, 155);
  checksum(b);
  return b;
}

function toBuffer(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** A printable-ASCII name for the PAX header itself, like Go's `<dir>/PaxHeaders.0/<file>`. */
function paxHeaderName(name: Buffer): Buffer {
  const trimmed = name[name.length - 1] === 0x2f ? name.subarray(0, -1) : name;
  const slash = trimmed.lastIndexOf(0x2f);
  const dir = slash === -1 ? Buffer.alloc(0) : trimmed.subarray(0, slash + 1);
  const file = trimmed.subarray(slash + 1);
  const full = Buffer.concat([dir, Buffer.from('PaxHeaders.0/'), file]);
  const printable = Buffer.from(full.filter((c) => c >= 0x20 && c < 0x7f));
  return printable.subarray(0, 100);
}

/** Header bytes (optional PAX header + ustar header) and the body size for one entry. */
function encodeHeader(e: TarEntryInput, bodyLength: number | undefined): { bytes: Buffer; size: number } {
  let name = toBuffer(e.name);
  if (name.length === 0) throw new InvalidArgumentError('tar: entry with an empty name');
  if (name.includes(0)) throw new InvalidArgumentError(`tar: name ${show(name)} contains a NUL byte`);
  const type = e.type;
  const flag = TYPEFLAGS[type];
  if (flag === undefined) throw new InvalidArgumentError(`tar: ${show(name)} has unknown entry type ${String(type)}`);
  // Docker and Go's archive/tar mark directories with a trailing slash.
  if (type === 'directory' && name[name.length - 1] !== 0x2f) name = Buffer.concat([name, Buffer.from('/')]);

  const linkname = toBuffer(e.linkname ?? '');
  if (linkname.includes(0)) throw new InvalidArgumentError(`tar: link target of ${show(name)} contains a NUL byte`);
  if ((type === 'symlink' || type === 'hardlink') && linkname.length === 0) {
    throw new InvalidArgumentError(`tar: ${type} ${show(name)} has no link target`);
  }

  let size = e.size ?? bodyLength ?? 0;
  checkInt(size, 'size', name);
  if (type !== 'file' && size !== 0) {
    throw new InvalidArgumentError(`tar: ${type} ${show(name)} cannot have a size (${size})`);
  }
  if (bodyLength !== undefined && bodyLength !== size) {
    throw new InvalidArgumentError(`tar: body of ${show(name)} is ${bodyLength} bytes, but its size is ${size}`);
  }

  const mode = checkInt(e.mode ?? DEFAULT_MODES[type], 'mode', name) & 0o7777;
  const uid = checkInt(e.uid ?? 0, 'uid', name);
  const gid = checkInt(e.gid ?? 0, 'gid', name);
  const mtime = checkTime(e.mtime ?? 0, 'mtime', name);
  const devmajor = checkInt(e.devmajor ?? 0, 'devmajor', name);
  const devminor = checkInt(e.devminor ?? 0, 'devminor', name);
  const uname = Buffer.from(e.uname ?? '', 'utf8');
  const gname = Buffer.from(e.gname ?? '', 'utf8');

  const pax = new Map<string, Buffer>();
  for (const [k, v] of e.pax ?? []) if (!DERIVED_KEYS.has(k)) pax.set(k, v);
  for (const [k, v] of e.xattrs ?? []) {
    if (k.length === 0 || k.includes('=') || k.includes('\0')) {
      throw new InvalidArgumentError(`tar: invalid xattr name ${JSON.stringify(k)} on ${show(name)}`);
    }
    pax.set(`SCHILY.xattr.${k}`, v);
  }

  let nameField = name;
  let prefixField: Buffer = Buffer.alloc(0);
  if (name.length > 100 || !isAscii(name)) {
    const split = isAscii(name) ? splitUstar(name) : undefined;
    if (split) [prefixField, nameField] = split;
    else pax.set('path', name);
  }
  if (linkname.length > 100 || !isAscii(linkname)) pax.set('linkpath', linkname);

  let sizeField = size;
  if (size > MAX_OCTAL_11) {
    pax.set('size', Buffer.from(String(size)));
    sizeField = 0;
  }
  let uidField = uid;
  if (uid > MAX_OCTAL_7) {
    pax.set('uid', Buffer.from(String(uid)));
    uidField = 0;
  }
  let gidField = gid;
  if (gid > MAX_OCTAL_7) {
    pax.set('gid', Buffer.from(String(gid)));
    gidField = 0;
  }
  let mtimeField = Math.floor(mtime);
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_OCTAL_11) {
    pax.set('mtime', Buffer.from(formatTime(mtime)));
    if (mtimeField < 0 || mtimeField > MAX_OCTAL_11) mtimeField = 0;
  }
  if (e.atime !== undefined) pax.set('atime', Buffer.from(formatTime(checkTime(e.atime, 'atime', name))));
  if (e.ctime !== undefined) pax.set('ctime', Buffer.from(formatTime(checkTime(e.ctime, 'ctime', name))));
  if (uname.length > 31 || !isAscii(uname)) pax.set('uname', uname);
  if (gname.length > 31 || !isAscii(gname)) pax.set('gname', gname);

  const main = ustarBlock({
    name: nameField,
    prefix: prefixField,
    flag,
    mode,
    uid: uidField,
    gid: gidField,
    size: sizeField,
    mtime: mtimeField,
    linkname,
    uname,
    gname,
    devmajor,
    devminor,
  });
  if (pax.size === 0) return { bytes: main, size };

  // Sorted keys make the output independent of Map insertion order.
  const keys = [...pax.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const data = Buffer.concat(keys.map((k) => paxRecord(k, pax.get(k) as Buffer)));
  const paxHeader = ustarBlock({
    name: paxHeaderName(name),
    prefix: Buffer.alloc(0),
    flag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    linkname: Buffer.alloc(0),
    uname: Buffer.alloc(0),
    gname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
  });
  const pad = Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
  return { bytes: Buffer.concat([paxHeader, data, pad, main]), size };
}

/** Yields the archive bytes for `items`, ending with the two zero blocks. */
export async function* writeTar(items: Iterable<TarWriteItem> | AsyncIterable<TarWriteItem>): AsyncGenerator<Buffer> {
  for await (const { entry, body } of items) {
    const bodyLength = Buffer.isBuffer(body) ? body.length : undefined;
    const { bytes, size } = encodeHeader(entry, bodyLength);
    const name = toBuffer(entry.name);
    if (size > 0 && body === undefined) {
      throw new InvalidArgumentError(`tar: ${show(name)} has size ${size} but no body`);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (Buffer.isBuffer(body)) {
      // Small bodies go out with their header in one chunk.
      if (size <= 64 * 1024) {
        yield Buffer.concat([bytes, body, Buffer.alloc(pad)]);
      } else {
        yield bytes;
        yield body;
        if (pad > 0) yield Buffer.alloc(pad);
      }
      continue;
    }
    yield bytes;
    if (body !== undefined) {
      let written = 0;
      for await (const chunk of body) {
        if (chunk.length === 0) continue;
        written += chunk.length;
        if (written > size) {
          throw new InvalidArgumentError(`tar: body of ${show(name)} is longer than its size ${size}`);
        }
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      if (written !== size) {
        throw new InvalidArgumentError(`tar: body of ${show(name)} is ${written} bytes, but its size is ${size}`);
      }
    }
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2);
}
