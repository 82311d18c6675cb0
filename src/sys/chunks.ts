/**
 * Byte-stream helpers: fewer, larger chunks cost less per byte in every
 * stage after them (hashing calls, zlib and fs round trips, promises, GC).
 */

/** Regroups a stream of buffers into chunks of about `size` bytes (the last may be smaller). */
export async function* coalesce(chunks: AsyncIterable<Buffer>, size = 1 << 20): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of chunks) {
    if (n > 0 && n + c.length > size) {
      yield parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
      parts = [];
      n = 0;
    }
    parts.push(c);
    n += c.length;
  }
  if (n > 0) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
}
