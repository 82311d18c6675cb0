/**
 * Talking to a running conmon: its attach socket (SOCK_SEQPACKET, stdin into
 * the container) and its control fifo (tty resize, log reopen).
 */
import { constants, promises as fsp } from 'node:fs';
import { Socket } from 'node:net';
import { connectSeqpacket } from '../sys/libc';

export function openAttachSocket(path: string): Socket {
  const fd = connectSeqpacket(path);
  // Node cannot create SEQPACKET sockets, but libuv streams any fd: wrap it as a pipe handle.
  const { Pipe, constants: pc } = (process as unknown as { binding(n: string): { Pipe: new (t: number) => { open(fd: number): number }; constants: { SOCKET: number } } }).binding('pipe_wrap');
  const handle = new Pipe(pc.SOCKET);
  const err = handle.open(fd);
  if (err) throw new Error(`cannot open attach socket ${path}: ${err}`);
  return new Socket({ handle, readable: true, writable: true } as unknown as ConstructorParameters<typeof Socket>[0]);
}

export async function writeCtl(path: string, height: number, width: number): Promise<void> {
  await writeCtlMessage(path, `1 ${Math.max(0, height | 0)} ${Math.max(0, width | 0)}\n`);
}

/** conmon's control fifo: `1 h w` resizes the tty, `2 0 0` reopens the log file. */
export async function writeCtlMessage(path: string, msg: string): Promise<void> {
  // conmon keeps the fifo open for reading; a non-blocking open never hangs if it is gone.
  const fh = await fsp.open(path, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return;
  try {
    await fh.write(msg);
  } finally {
    await fh.close();
  }
}
