/** Terminal plumbing for attach, run and exec: demux, raw mode, stdin forwarding, resize. */
import type { Socket } from 'node:net';
import { Demuxer } from '../api/stdcopy';
import type { Client } from './client';

export interface StreamOptions {
  tty: boolean;
  stdin: boolean;
  /** API path to POST resizes to (…/resize), for TTY sessions. */
  resizePath?: string;
}

/** Pumps a hijacked connection to our stdio; resolves when the daemon closes the stream. */
export function pumpStreams(client: Client, socket: Socket, head: Buffer, o: StreamOptions): Promise<void> {
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
    const finish = () => {
      if (done) return;
      done = true;
      restore();
      // Touching process.stdin builds its stream (~3 ms at exit): only when it was used.
      if (o.stdin) {
        process.stdin.unpipe(socket);
        process.stdin.pause();
      }
      if (o.resizePath) process.off('SIGWINCH', resize);
      resolve();
    };
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
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
      process.stdin.pipe(socket, { end: false });
    }
  });
}
