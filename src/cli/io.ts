/** Terminal plumbing for attach, run and exec: demux, raw mode, stdin forwarding, resize. */
import type { Socket } from 'node:net';
import { Demuxer } from '../api/stdcopy';
import type { Client } from './client';

export interface StreamOptions {
  tty: boolean;
  stdin: boolean;
  /** API path to POST resizes to (…/resize), for TTY sessions. */
  resizePath?: string;
  /** `--detach-keys` (default ctrl-p,ctrl-q): typed on a TTY session, they detach. */
  detachKeys?: string;
}

/** Docker's default detach sequence: ctrl-p, ctrl-q. */
const DEFAULT_DETACH = Buffer.from([0x10, 0x11]);

/** `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`… into bytes, as the docker CLI's ToBytes reads them. */
export function detachKeyBytes(spec: string | undefined): Buffer {
  if (!spec) return DEFAULT_DETACH;
  return Buffer.from(
    spec.split(',').map((k) => {
      const key = k.trim();
      if (key.length === 1) return key.charCodeAt(0);
      const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
      if (!m) throw new Error(`invalid detach keys "${spec}": unknown character sequence "${key}"`);
      const c = m[1]!;
      return c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 }[c]!;
    }),
  );
}

/**
 * Looks for the detach sequence in typed input, as the docker CLI's escape
 * proxy does: bytes of a partial match are held back, and sent on if the
 * sequence breaks off.
 */
export class EscapeMatcher {
  private pos = 0;
  constructor(private readonly keys: Buffer) {}

  /** The bytes to forward, and whether the whole sequence has now been typed. */
  push(d: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of d) {
      if (b === this.keys[this.pos]) {
        this.pos++;
        if (this.pos === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      for (let i = 0; i < this.pos; i++) out.push(this.keys[i]!);
      this.pos = b === this.keys[0] ? 1 : 0;
      if (this.pos === 0) out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

/**
 * Pumps a hijacked connection to our stdio; resolves when the daemon closes
 * the stream (false) or the user typed the detach keys on a TTY session
 * (true: the container goes on running).
 */
export function pumpStreams(client: Client, socket: Socket, head: Buffer, o: StreamOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const stdinTty = o.tty && o.stdin && process.stdin.isTTY;
    if (stdinTty) process.stdin.setRawMode(true);
    const restore = () => {
      if (stdinTty) process.stdin.setRawMode(false);
    };
    const demux = new Demuxer((stream, data) => (stream === 2 ? process.stderr : process.stdout).write(data));
    const onData = (d: Buffer) => (o.tty ? process.stdout.write(d) : demux.push(d));
    if (head.length) onData(head);
    socket.on('data', onData);
    let done = false;
    let detached = false;
    const finish = () => {
      if (done) return;
      done = true;
      restore();
      // Touching process.stdin builds its stream (~3 ms at exit): only when it was used.
      if (o.stdin) {
        process.stdin.unpipe(socket);
        process.stdin.off('data', typed);
        process.stdin.pause();
      }
      if (o.resizePath) process.off('SIGWINCH', resize);
      resolve(detached);
    };
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    // Only a terminal session detaches (the docker CLI's rule): piped input is data, whatever its bytes.
    const matcher = o.tty && o.stdin ? new EscapeMatcher(detachKeyBytes(o.detachKeys)) : undefined;
    const typed = (d: Buffer) => {
      const r = matcher!.push(d);
      if (r.forward.length) socket.write(r.forward);
      if (r.detach) {
        detached = true;
        socket.destroy();
        finish();
        // The docker CLI's words when its escape proxy fires.
        process.stderr.write('read escape sequence\n');
      }
    };
    const resize = () => {
      if (!o.resizePath || !process.stdout.isTTY) return;
      void client.call('POST', o.resizePath, { query: { h: process.stdout.rows, w: process.stdout.columns } }).catch(() => undefined);
    };
    if (o.tty && o.resizePath) {
      resize();
      process.on('SIGWINCH', resize);
    }
    if (o.stdin) {
      process.stdin.on('end', () => {
        if (!done) socket.end();
      });
      if (matcher) process.stdin.on('data', typed);
      else process.stdin.pipe(socket, { end: false });
    }
  });
}
