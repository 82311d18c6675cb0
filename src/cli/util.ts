/** Shared CLI helpers: errors and exit codes as the docker CLI has them, human sizes and times. */
import { parseByteSize } from '../units';
import { parseGoDuration } from '../build/config';
import { ApiError } from './client';

/** A failure with the exit code the CLI should end with. */
const EXIT_ERROR = Symbol.for('berth.ExitError');

export class ExitError extends Error {
  readonly [EXIT_ERROR] = true;
  constructor(message: string, readonly code: number) {
    super(message);
  }
  /** By brand, not prototype: `compose` runs from a bundle of its own, with its own copy of this class. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as { [EXIT_ERROR]?: boolean })[EXIT_ERROR] === true;
  }
}

/** Docker CLI's mapping for run/start failures: 127 not found, 126 cannot execute, else 125. */
export function runFailure(e: unknown): ExitError {
  const msg = e instanceof Error ? e.message : String(e);
  const text = e instanceof ApiError ? `Error response from daemon: ${msg}` : msg;
  if (/executable file not found|no such file or directory/.test(msg)) return new ExitError(text, 127);
  if (/permission denied|is a directory/.test(msg)) return new ExitError(text, 126);
  return new ExitError(text, 125);
}

/** A failed create: 125 whatever the message says (the 126/127 mapping is for a command that did not start). */
export function createFailure(e: unknown): ExitError {
  if (e instanceof ExitError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new ExitError(e instanceof ApiError ? `Error response from daemon: ${msg}` : msg, 125);
}

export function daemonError(e: unknown): ExitError {
  if (e instanceof ExitError) return e;
  if (e instanceof ApiError) return new ExitError(`Error response from daemon: ${e.message}`, 1);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES')
    return new ExitError(`Cannot connect to the Berth daemon: ${(e as Error).message}. Is berthd running?`, 1);
  return new ExitError(e instanceof Error ? e.message : String(e), 1);
}

/** docker/go-units HumanSizeWithPrecision(size, 3): decimal units (HumanSize itself is precision 4). */
export function humanSize(bytes: number, precision = 3): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}

/** docker/go-units BytesSize: binary units with two decimals, as docker stats prints memory. */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toFixed(i === 0 ? 0 : 2))}${units[i]}`;
}

export function humanDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 14) return `${Math.round(h / 24)} days`;
  if (h < 24 * 60) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 730) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

/** Go's time.Time.String() of a moment, in UTC: "2026-12-06 21:04:05 +0000 UTC" (what docker's CreatedAt fields print). */
export function goTime(d: Date, nanos = false): string {
  const iso = d.toISOString();
  const frac = nanos ? `.${iso.slice(20, 23)}`.replace(/\.?0+$/, '') : '';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac} +0000 UTC`;
}

export function since(unixSeconds: number): string {
  return `${humanDuration(Date.now() / 1000 - unixSeconds)} ago`;
}

/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds, as Docker's --health-* flags take it. */
export function parseDuration(text: string, flag: string): number {
  const ns = parseGoDuration(text);
  if (ns === undefined) throw new ExitError(`invalid argument "${text}" for "${flag}" flag: time: invalid duration "${text}"`, 125);
  return ns;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--filter a=b` flags into Docker's filters JSON. */
export function filtersJson(filters: string[] | undefined): string | undefined {
  if (!filters?.length) return undefined;
  const out: Record<string, string[]> = {};
  for (const f of filters) {
    const i = f.indexOf('=');
    if (i <= 0) throw new ExitError(`invalid filter '${f}': bad format of filter (expected name=value)`, 1);
    (out[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  return JSON.stringify(out);
}

/** Parses Docker's byte-size flags (`512m`, `1g`, `100000`). */
export function parseBytes(s: string): number {
  const n = parseByteSize(s);
  if (n === undefined) throw new ExitError(`invalid size: '${s}'`, 125);
  return n;
}

/** Columns padded as the docker CLI's tabwriter does (three spaces between, none after the last). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_t, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n').join('');
}

export function out(s: string): void {
  process.stdout.write(s);
}

/** Runs an action per name, printing Docker's error line for each failure; exit code 1 if any failed. */
export async function eachName(names: string[], fn: (name: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const n of names) {
    try {
      await fn(n);
    } catch (e) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

/** `k=v` flag values (--label, --opt, --log-opt) into a map; a bare `k` maps to ''. */
export function keyValues(list: string[] = [], what = 'value'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i === 0) throw new ExitError(`invalid ${what}: ${l}`, 125);
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}
