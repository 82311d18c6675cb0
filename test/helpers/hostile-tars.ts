/**
 * Builders for hostile layer tars (shared/design/security.md §3). Ordinary
 * entries come from Berth's own writer; the few shapes the writer refuses to
 * make (a PAX `path` that contradicts the ustar name, a GNU `L` long name) are
 * made by writing a plain file entry and re-flagging its header block.
 */
import { writeTar, type TarWriteItem } from '../../src/image/tar/writer';

const BLOCK = 512;

export async function collect(chunks: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

export function tarBytes(items: Iterable<TarWriteItem> | AsyncIterable<TarWriteItem>): Promise<Buffer> {
  return collect(writeTar(items));
}

/** One buffer as a tar source. */
export async function* chunks(buf: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let off = 0; off < buf.length; off += size) yield buf.subarray(off, off + size);
}

/** The archive without its two-zero-block end marker, for concatenation. */
export function stripEnd(tar: Buffer): Buffer {
  return tar.subarray(0, tar.length - 2 * BLOCK);
}

function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i];
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'latin1');
  block[154] = 0;
  block[155] = 0x20;
}

/** `"%d key=value\n"` records. */
export function paxRecords(records: [string, Buffer | string][]): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    }),
  );
}

/** An extension header (PAX 'x' or GNU 'L'/'K') carrying `data`, as raw archive bytes. */
async function extensionHeader(flag: 'x' | 'L' | 'K', name: string, data: Buffer): Promise<Buffer> {
  const tar = stripEnd(await tarBytes([{ entry: { name, type: 'file', mode: 0o644 }, body: data }]));
  tar.write(flag, 156, 1, 'latin1');
  fixChecksum(tar.subarray(0, BLOCK));
  return tar;
}

/** A file whose ustar header says `harmless` but whose PAX `path` record says `hostile`. */
export async function paxPathOverride(
  harmless: string,
  hostile: Buffer | string,
  body = Buffer.from('pax\n'),
): Promise<Buffer> {
  const pax = await extensionHeader('x', `PaxHeaders.0/${harmless}`, paxRecords([['path', hostile]]));
  const main = await tarBytes([{ entry: { name: harmless, type: 'file' }, body }]);
  return Buffer.concat([pax, main]);
}

/** A file whose name comes from a GNU `L` long-name block. */
export async function gnuLongName(hostile: Buffer | string, body = Buffer.from('gnu\n')): Promise<Buffer> {
  const data = Buffer.concat([Buffer.from(hostile), Buffer.alloc(1)]);
  const long = await extensionHeader('L', '././@LongLink', data);
  const main = await tarBytes([{ entry: { name: 'harmless', type: 'file' }, body }]);
  return Buffer.concat([long, main]);
}

/** Zeros without holding them: for bodies that must never be read. */
export async function* zeros(total: number, chunk = 1024 * 1024): AsyncGenerator<Buffer> {
  const z = Buffer.alloc(chunk);
  for (let left = total; left > 0; left -= chunk) yield left >= chunk ? z : z.subarray(0, left);
}
