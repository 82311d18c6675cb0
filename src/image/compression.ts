/**
 * Layer decompression by sniffing magic bytes: gzip in-process (node:zlib),
 * zstd through the host's /usr/bin/zstd by absolute path (never a binary
 * from an image: CVE-2014-9357), plain tar passed through.
 */
import { createGunzip } from 'node:zlib';
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { UnavailableError } from '../errors';

export type Compression = 'gzip' | 'zstd' | 'none';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Returns the uncompressed stream of `source`, whatever its compression. */
export function decompress(source: Readable): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let sniffed = false;
  const head: Buffer[] = [];
  const onData = (chunk: Buffer) => {
    head.push(chunk);
    const buf = Buffer.concat(head);
    if (buf.length < 4) return;
    source.off('data', onData);
    source.off('end', onEnd);
    source.pause();
    sniffed = true;
    route(buf);
  };
  const onEnd = () => {
    if (!sniffed) route(Buffer.concat(head));
  };
  const route = (buf: Buffer) => {
    const kind = detectCompression(buf);
    const rest = Readable.from((async function* () {
      yield buf;
      for await (const c of source) yield c as Buffer;
    })());
    if (kind === 'none') {
      rest.on('error', (e) => out.destroy(e)).pipe(out);
    } else if (kind === 'gzip') {
      const gz = createGunzip();
      gz.on('error', (e) => out.destroy(new Error(`gzip: ${e.message}`)));
      rest.on('error', (e) => out.destroy(e)).pipe(gz).pipe(out);
    } else {
      const z = spawn('/usr/bin/zstd', ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
      z.on('error', () => out.destroy(new UnavailableError('zstd layers need /usr/bin/zstd (Debian package zstd)')));
      z.on('exit', (code) => {
        if (code !== 0) out.destroy(new Error(`zstd: decompression failed (exit ${code})`));
      });
      rest.on('error', (e) => out.destroy(e)).pipe(z.stdin);
      z.stdout.pipe(out);
    }
  };
  source.on('data', onData);
  source.on('end', onEnd);
  source.on('error', (e) => out.destroy(e));
  return out;
}
