/**
 * Streaming tar reader: ustar, PAX (`x`/`g`), GNU (`L`/`K`, base-256 numbers)
 * and v7 archives. PAX values, names and link targets stay raw bytes so binary
 * xattrs and non-UTF-8 names survive (shared/design/dependencies.md §1).
 */
import { InternalError, InvalidArgumentError } from '../../errors';
import type { EntryType, TarEntry, TarHeader } from './types';

export interface ReadTarOptions {
  /** Upper bound for one PAX block or GNU long name/link, in bytes (default 1 MiB). */
  maxPaxBytes?: number;
}

const BLOCK = 512;
const DEFAULT_MAX_PAX = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Pull-based view over the source chunks: exact reads for headers, pass-through slices for bodies. */
class ByteSource {
  private readonly it: AsyncIterator<Buffer | Uint8Array>;
  private buf: Buffer = EMPTY;
  private ended = false;
  private busy = false;

  constructor(source: AsyncIterable<Buffer | Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      const v = r.value;
      this.buf = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    return true;
  }

  // Body reads and header reads share one cursor; overlapping them would interleave bytes.
  private enter(): void {
    if (this.busy) throw new InternalError('tar: concurrent reads from one archive');
    this.busy = true;
  }

  /** Up to `max` bytes from the current chunk (no copy); empty only at end of input. */
  async readSome(max: number): Promise<Buffer> {
    this.enter();
    try {
      if (!(await this.fill())) return EMPTY;
      const n = Math.min(max, this.buf.length);
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return out;
    } finally {
      this.busy = false;
    }
  }

  /** Exactly `n` bytes, or fewer only when the input ends first. */
  async read(n: number): Promise<Buffer> {
    this.enter();
    try {
      if (!(await this.fill())) return EMPTY;
      if (this.buf.length >= n) {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
      }
      const parts: Buffer[] = [];
      let got = 0;
      while (got < n && (await this.fill())) {
        const take = Math.min(n - got, this.buf.length);
        parts.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        got += take;
      }
      return Buffer.concat(parts, got);
    } finally {
      this.busy = false;
    }
  }

  /** Discards up to `n` bytes; returns how many were discarded. */
  async skip(n: number): Promise<number> {
    this.enter();
    try {
      let done = 0;
      while (done < n && (await this.fill())) {
        const take = Math.min(n - done, this.buf.length);
        this.buf = this.buf.subarray(take);
        done += take;
      }
      return done;
    } finally {
      this.busy = false;
    }
  }

  async drain(): Promise<void> {
    this.buf = EMPTY;
    while (!this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
    }
  }

  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.buf = EMPTY;
      await this.it.return?.();
    }
  }
}

function show(name: Buffer | string): string {
  return JSON.stringify(typeof name === 'string' ? name : name.toString('utf8'));
}

function truncated(what: string): InvalidArgumentError {
  return new InvalidArgumentError(`tar: unexpected end of archive in ${what}`);
}

/** A NUL-terminated field as raw bytes. */
function cstr(b: Buffer, off: number, len: number): Buffer {
  const f = b.subarray(off, off + len);
  const z = f.indexOf(0);
  return z === -1 ? f : f.subarray(0, z);
}

/** Octal (possibly space/NUL padded) or GNU base-256 number; `negOk` only for times. */
function parseNumber(b: Buffer, off: number, len: number, field: string, negOk = false): number {
  const f = b.subarray(off, off + len);
  if (f[0] & 0x80) {
    // Base-256: big-endian two's complement with the marker bit masked off.
    const inv = f[0] & 0x40 ? 0xff : 0;
    let x = 0;
    for (let i = 0; i < f.length; i++) {
      let c = f[i] ^ inv;
      if (i === 0) c &= 0x7f;
      x = x * 256 + c;
      if (x > Number.MAX_SAFE_INTEGER) throw new InvalidArgumentError(`tar: ${field} field out of range`);
    }
    const v = inv ? -x - 1 : x;
    if (v < 0 && !negOk) throw new InvalidArgumentError(`tar: negative ${field} field`);
    return v;
  }
  const s = f.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new InvalidArgumentError(`tar: invalid ${field} field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(b: Buffer): boolean {
  const stored = b.toString('latin1', 148, 156).replace(/^[ \0]+|[ \0]+$/g, '');
  if (!/^[0-7]+$/.test(stored)) return false;
  const want = parseInt(stored, 8);
  // Old tars summed signed chars; GNU tar accepts either, so do we.
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Parses `"%d %s=%s\n"` records; values stay bytes (binary xattrs). */
function parsePax(data: Buffer, where: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  const bad = (): InvalidArgumentError => new InvalidArgumentError(`tar: malformed PAX record in ${where}`);
  while (pos < data.length) {
    // Some writers pad the block with NULs; nothing can follow them.
    if (data[pos] === 0) {
      if (!isZero(data.subarray(pos))) throw bad();
      break;
    }
    const sp = data.indexOf(0x20, pos);
    if (sp === -1 || sp - pos > 20) throw bad();
    const lenStr = data.toString('latin1', pos, sp);
    if (!/^[0-9]+$/.test(lenStr)) throw bad();
    const len = parseInt(lenStr, 10);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > data.length || data[end - 1] !== 0x0a) throw bad();
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1 || eq === sp + 1) throw bad();
    const key = data.toString('utf8', sp + 1, eq);
    out.set(key, Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

function paxInt(v: Buffer, key: string, where: string): number {
  const s = v.toString('latin1');
  if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) {
    throw new InvalidArgumentError(`tar: invalid PAX ${key} ${JSON.stringify(s)} in ${where}`);
  }
  return Number(s);
}

function paxTime(v: Buffer, key: string, where: string): number {
  const s = v.toString('latin1');
  if (!/^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(s)) {
    throw new InvalidArgumentError(`tar: invalid PAX ${key} ${JSON.stringify(s)} in ${where}`);
  }
  return Number(s);
}

/** libarchive URL-encodes the xattr name in the key. */
function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(s[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a plain file everywhere but on a few 1980s systems
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'directory',
  '6': 'fifo',
};

interface Pending {
  pax: Map<string, Buffer>;
  paxBytes: number;
  longName?: Buffer;
  longLink?: Buffer;
}

/**
 * Yields the archive's entries in order. Each body must be read (or ignored)
 * before asking for the next entry; unread bytes are skipped. After the end
 * marker the rest of the source is drained so wrappers around it (digest,
 * decompressor) see the whole stream; stopping early closes the source.
 */
export async function* readTar(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarEntry> {
  const maxPax = opts.maxPaxBytes ?? DEFAULT_MAX_PAX;
  const src = new ByteSource(source);
  let global = new Map<string, Buffer>();
  let globalBytes = 0;
  let pending: Pending = { pax: new Map(), paxBytes: 0 };
  let prevName: string | undefined;
  let finished = false;

  const where = (): string => (prevName === undefined ? 'the first header' : `the header after ${prevName}`);

  // Reads an extension block (PAX / GNU long name) with the size cap applied.
  const readMeta = async (size: number, kind: string, accumulated: number): Promise<Buffer> => {
    if (size + accumulated > maxPax) {
      throw new InvalidArgumentError(
        `tar: ${kind} in ${where()} is ${size + accumulated} bytes, over the ${maxPax}-byte limit`,
      );
    }
    const data = await src.read(size);
    if (data.length < size) throw truncated(`${kind} in ${where()}`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if ((await src.skip(pad)) < pad) throw truncated(`${kind} in ${where()}`);
    return data;
  };

  try {
    for (;;) {
      const block = await src.read(BLOCK);
      const hasPending = pending.paxBytes > 0 || pending.longName !== undefined || pending.longLink !== undefined;
      if (block.length === 0) {
        // EOF exactly at a header boundary is accepted (some tools omit the end marker).
        if (hasPending) throw truncated(where());
        break;
      }
      if (block.length < BLOCK) {
        const partial = block.length >= 100 ? show(cstr(block, 0, 100)) : where();
        throw truncated(partial);
      }
      if (isZero(block)) {
        if (hasPending) throw truncated(where());
        const next = await src.read(BLOCK);
        // One zero block then EOF is a (sloppy) end; a header after a lone zero block is not.
        if (next.length === 0 || (next.length === BLOCK && isZero(next))) break;
        if (next.length < BLOCK) throw truncated('the end-of-archive marker');
        throw new InvalidArgumentError(`tar: invalid header after a zero block, after ${prevName ?? 'the start'}`);
      }

      const rawName = cstr(block, 0, 100);
      if (!checksumOk(block)) throw new InvalidArgumentError(`tar: invalid header checksum for ${show(rawName)}`);

      const magic = block.toString('latin1', 257, 263);
      const version = block.toString('latin1', 263, 265);
      const ustar = magic === 'ustar\0' && version === '00';
      const gnu = magic === 'ustar ' && version === ' \0';
      const flag = String.fromCharCode(block[156]);
      const size = parseNumber(block, 124, 12, 'size');

      let name = rawName;
      if (ustar) {
        // star puts atime/ctime after a 131-byte prefix and marks that with "tar\0".
        const star = block.toString('latin1', 508, 512) === 'tar\0';
        const prefix = cstr(block, 345, star ? 131 : 155);
        if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.from('/'), rawName]);
      }
      const label = (): string => show(pending.longName ?? pending.pax.get('path') ?? name);

      if (flag === 'x' || flag === 'g') {
        const data = await readMeta(size, `PAX header ${show(name)}`, flag === 'x' ? pending.paxBytes : globalBytes);
        const recs = parsePax(data, `PAX header ${show(name)}`);
        if (flag === 'x') {
          for (const [k, v] of recs) pending.pax.set(k, v);
          pending.paxBytes += size;
        } else {
          // Empty values delete: POSIX restores the default for later entries.
          const next = new Map(global);
          for (const [k, v] of recs) {
            if (v.length === 0) next.delete(k);
            else next.set(k, v);
          }
          global = next;
          globalBytes = 0;
          for (const [k, v] of global) globalBytes += k.length + v.length + 24;
        }
        continue;
      }
      if (flag === 'L' || flag === 'K') {
        const data = await readMeta(size, `GNU long ${flag === 'L' ? 'name' : 'link name'}`, 0);
        const z = data.indexOf(0);
        const value = Buffer.from(z === -1 ? data : data.subarray(0, z));
        if (flag === 'L') pending.longName = value;
        else pending.longLink = value;
        continue;
      }
      if (flag === 'S') {
        throw new InvalidArgumentError(`tar: ${label()} is a GNU sparse file, which is not supported`);
      }
      let type = TYPES[flag];
      if (type === undefined) {
        const shown = /[\x21-\x7e]/.test(flag) ? `'${flag}'` : `0x${block[156].toString(16)}`;
        throw new InvalidArgumentError(`tar: ${label()} has unsupported entry type ${shown}`);
      }

      // Effective PAX records: global ones, then this entry's (an empty value unsets).
      const pax = new Map(global);
      for (const [k, v] of pending.pax) {
        if (v.length === 0) pax.delete(k);
        else pax.set(k, v);
      }
      const longName = pending.longName;
      const longLink = pending.longLink;
      pending = { pax: new Map(), paxBytes: 0 };

      // GNU long names win over PAX, as in Go's archive/tar (what Docker uses).
      name = longName ?? pax.get('path') ?? name;
      const linkname = longLink ?? pax.get('linkpath') ?? cstr(block, 157, 100);
      const shownName = show(name);
      const whereEntry = `header of ${shownName}`;
      for (const k of pax.keys()) {
        if (k.startsWith('GNU.sparse.')) {
          throw new InvalidArgumentError(`tar: ${shownName} is a GNU sparse file, which is not supported`);
        }
      }

      const header: TarHeader = {
        name,
        type,
        mode: parseNumber(block, 100, 8, 'mode') & 0o7777,
        uid: parseNumber(block, 108, 8, 'uid'),
        gid: parseNumber(block, 116, 8, 'gid'),
        uname: ustar || gnu ? cstr(block, 265, 32).toString('utf8') : '',
        gname: ustar || gnu ? cstr(block, 297, 32).toString('utf8') : '',
        size,
        mtime: parseNumber(block, 136, 12, 'mtime', true),
        linkname,
        devmajor: 0,
        devminor: 0,
        xattrs: new Map(),
        pax,
      };
      if ((ustar || gnu) && (type === 'chardev' || type === 'blockdev')) {
        header.devmajor = parseNumber(block, 329, 8, 'devmajor');
        header.devminor = parseNumber(block, 337, 8, 'devminor');
      }

      const libarchiveXattrs: [string, Buffer][] = [];
      for (const [k, v] of pax) {
        switch (k) {
          case 'size':
            header.size = paxInt(v, k, whereEntry);
            break;
          case 'uid':
            header.uid = paxInt(v, k, whereEntry);
            break;
          case 'gid':
            header.gid = paxInt(v, k, whereEntry);
            break;
          case 'uname':
            header.uname = v.toString('utf8');
            break;
          case 'gname':
            header.gname = v.toString('utf8');
            break;
          case 'mtime':
            header.mtime = paxTime(v, k, whereEntry);
            break;
          case 'atime':
            header.atime = paxTime(v, k, whereEntry);
            break;
          case 'ctime':
            header.ctime = paxTime(v, k, whereEntry);
            break;
          case 'SCHILY.devmajor':
            header.devmajor = paxInt(v, k, whereEntry);
            break;
          case 'SCHILY.devminor':
            header.devminor = paxInt(v, k, whereEntry);
            break;
          default:
            if (k.startsWith('SCHILY.xattr.')) header.xattrs.set(k.slice(13), v);
            else if (k.startsWith('LIBARCHIVE.xattr.')) {
              libarchiveXattrs.push([percentDecode(k.slice(17)), Buffer.from(v.toString('latin1'), 'base64')]);
            }
        }
      }
      // libarchive writes both spellings; the SCHILY one is exact, so it wins.
      for (const [k, v] of libarchiveXattrs) if (!header.xattrs.has(k)) header.xattrs.set(k, v);

      // Old archivers mark directories only by a trailing slash on a regular-file header.
      if ((flag === '0' || flag === '\0') && name.length > 0 && name[name.length - 1] === 0x2f) {
        type = header.type = 'directory';
      }
      // Header-only types carry no data whatever the size field says (as Go's reader);
      // a slash-marked directory still skips any data its file header announced.
      const bodySize = TYPES[flag] === 'file' ? header.size : 0;
      if (type !== 'file') header.size = 0;

      let remaining = bodySize;
      let advanced = false;
      const body = async function* (): AsyncGenerator<Buffer> {
        for (;;) {
          if (advanced) throw new InternalError(`tar: body of ${shownName} read after moving to the next entry`);
          if (remaining === 0) return;
          const chunk = await src.readSome(remaining);
          if (chunk.length === 0) throw truncated(shownName);
          remaining -= chunk.length;
          yield chunk;
        }
      };

      prevName = shownName;
      try {
        yield { header, body: body() };
      } finally {
        advanced = true;
      }
      const pad = (BLOCK - (bodySize % BLOCK)) % BLOCK;
      if ((await src.skip(remaining)) < remaining) throw truncated(shownName);
      remaining = 0;
      if ((await src.skip(pad)) < pad) throw truncated(shownName);
    }
    finished = true;
    await src.drain();
  } finally {
    if (!finished) await src.close();
  }
}
