/** Backpressure-aware writes to an HTTP response or a hijacked socket. */
import type { Duplex } from 'node:stream';

/**
 * Writes one chunk; resolves true once it may write again, false when the peer is gone
 * (closed or destroyed), so producers stop instead of waiting for a 'drain' that never comes.
 */
export function writeOut(out: Duplex | NodeJS.WritableStream, data: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const w = out as Duplex;
    if (w.destroyed || w.writableEnded) return resolve(false);
    if (w.write(data)) resolve(true);
    else {
      const onDrain = () => {
        w.off('close', onClose);
        resolve(true);
      };
      const onClose = () => {
        w.off('drain', onDrain);
        resolve(false);
      };
      w.once('drain', onDrain);
      w.once('close', onClose);
    }
  });
}

/** Copies an async byte source to `out`; returns false if the peer went away first. */
export async function pump(out: Duplex | NodeJS.WritableStream, source: AsyncIterable<Buffer | Uint8Array>): Promise<boolean> {
  for await (const chunk of source) if (!(await writeOut(out, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)))) return false;
  return true;
}
