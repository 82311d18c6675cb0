/**
 * Container logs in conmon's k8s-file format, one record per line:
 * `<RFC3339Nano> <stdout|stderr> <F|P> <content>`; `F` ends a line, `P` is
 * a partial chunk without its newline. Reading reconstructs the exact bytes.
 */
import { createReadStream, promises as fsp, watch, type FSWatcher } from 'node:fs';

export type LogStream = 'stdout' | 'stderr';

export interface LogRecord {
  /** Nanoseconds since the epoch (as a bigint: sub-microsecond precision matters for --since). */
  time: bigint;
  timeText: string;
  stream: LogStream;
  /** The record's bytes, including the newline when the record ended a line. */
  data: Buffer;
}

export function parseTimestamp(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return 0n;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  const frac = BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  return BigInt(ms) * 1_000_000n + frac;
}

/** Parses one complete line (without its trailing '\n') of a k8s-file log. */
export function parseLogLine(line: Buffer): LogRecord | undefined {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  const s3 = s2 < 0 ? -1 : line.indexOf(0x20, s2 + 1);
  if (s3 < 0 && s2 < 0) return undefined;
  const timeText = line.subarray(0, s1).toString('latin1');
  const stream = line.subarray(s1 + 1, s2).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString('latin1');
  const content = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
  const full = tag.split(':').includes('F');
  return { time: parseTimestamp(timeText), timeText, stream, data: full ? Buffer.concat([content, Buffer.from('\n')]) : Buffer.from(content) };
}

export interface ReadLogsOptions {
  /** Only records at or after this time (ns). */
  since?: bigint;
  /** Only records before this time (ns). */
  until?: bigint;
  /** Keep following the file until `signal` aborts. */
  follow?: boolean;
  /** Start at the current end of file (attach without logs). */
  fromEnd?: boolean;
  signal?: AbortSignal;
  /** Resolves when following should stop (container exited): the file is drained, then iteration ends. */
  stopWhen?: Promise<void>;
}

/** Streams the records of a log file (and its rotated predecessors `path.N`, oldest first). */
export async function* readLogs(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogRecord> {
  if (!opts.fromEnd) {
    for (const old of await rotatedFiles(path)) yield* filterRecords(readWholeFile(old), opts);
  }
  if (!opts.follow) {
    yield* filterRecords(readWholeFile(path), opts);
    return;
  }
  yield* filterRecords(followFile(path, opts), opts);
}

async function rotatedFiles(path: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 9; i >= 1; i--) {
    try {
      await fsp.access(`${path}.${i}`);
      out.push(`${path}.${i}`);
    } catch {
      // not rotated that far
    }
  }
  return out;
}

async function* filterRecords(src: AsyncIterable<LogRecord>, o: ReadLogsOptions): AsyncGenerator<LogRecord> {
  for await (const r of src) {
    if (o.since !== undefined && r.time < o.since) continue;
    if (o.until !== undefined && r.time >= o.until) continue;
    yield r;
  }
}

async function* splitLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<LogRecord> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of chunks) {
    rest = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    let nl: number;
    while ((nl = rest.indexOf(0x0a, start)) >= 0) {
      const rec = parseLogLine(rest.subarray(start, nl));
      if (rec) yield rec;
      start = nl + 1;
    }
    rest = rest.subarray(start);
  }
}

async function* readWholeFile(path: string): AsyncGenerator<LogRecord> {
  let stream;
  try {
    await fsp.access(path);
    stream = createReadStream(path, { highWaterMark: 256 * 1024 });
  } catch {
    return;
  }
  yield* splitLines(stream as AsyncIterable<Buffer>);
}

/**
 * Tails a file: reads what is there, then waits for appends (inotify, with a
 * slow poll as safety net) until stopped. Across a rotation it drains the old
 * file through its open handle before switching to the new one.
 */
async function* followFile(path: string, o: ReadLogsOptions): AsyncGenerator<LogRecord> {
  let fh: import('node:fs/promises').FileHandle | undefined;
  let offset = 0;
  let inode = -1;
  const openCurrent = async (atEnd: boolean): Promise<boolean> => {
    const h = await fsp.open(path, 'r').catch(() => undefined);
    if (!h) return false;
    const st = await h.stat();
    await fh?.close();
    fh = h;
    inode = st.ino;
    offset = atEnd ? st.size : 0;
    return true;
  };
  await openCurrent(!!o.fromEnd);
  let stopped = false;
  let wake: (() => void) | undefined;
  const kick = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  void o.stopWhen?.then(() => {
    stopped = true;
    kick();
  });
  o.signal?.addEventListener('abort', () => {
    stopped = true;
    kick();
  });
  let watcher: FSWatcher | undefined;
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  const base = path.slice(path.lastIndexOf('/') + 1);
  try {
    // The directory, to see the file replaced on rotation; other files' events (the
    // container's state writes) are no reason to read.
    watcher = watch(dir, { persistent: false }, (_ev, name) => {
      if (!name || name === base) kick();
    });
  } catch {
    watcher = undefined;
  }
  const timer = setInterval(kick, 250);
  let rest: Buffer = Buffer.alloc(0);
  // Reads loop until drained; a small unzeroed buffer keeps each follower cheap to start.
  const buf = Buffer.allocUnsafe(64 * 1024);
  try {
    for (;;) {
      if (o.signal?.aborted) return;
      const finalPass = stopped;
      if (!fh) await openCurrent(false);
      let progressed = false;
      if (fh) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead > 0) {
          progressed = true;
          offset += bytesRead;
          rest = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : Buffer.from(buf.subarray(0, bytesRead));
          let start = 0;
          let nl: number;
          while ((nl = rest.indexOf(0x0a, start)) >= 0) {
            const rec = parseLogLine(rest.subarray(start, nl));
            if (rec) yield rec;
            start = nl + 1;
          }
          rest = rest.subarray(start);
        } else {
          // Drained: if the path now names another file (rotation), continue there.
          const st = await fsp.stat(path).catch(() => undefined);
          if (st && st.ino !== inode) {
            rest = Buffer.alloc(0);
            progressed = await openCurrent(false);
          }
        }
      }
      if (progressed) continue;
      if (finalPass) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    clearInterval(timer);
    watcher?.close();
    await fh?.close();
  }
}
