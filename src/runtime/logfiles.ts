/** Container log bounds and rotation (`--log-opt max-size=…,max-file=…`). */
import { parseByteSize } from '../units';
import { promises as fsp } from 'node:fs';
import { InvalidArgumentError } from '../errors';
import type { HostConfig } from './types';

/** Default log bound: 10 MB per file, 3 files (Docker's json-file is unbounded by default). */
export const LOG_MAX_SIZE = 10 * 1024 * 1024;
export const LOG_MAX_FILES = 3;

export function logMaxSize(hc: HostConfig): number {
  const v = hc.LogConfig?.Config?.['max-size'];
  return v ? parseSize(v) : LOG_MAX_SIZE;
}

export function logMaxFiles(hc: HostConfig): number {
  const v = Number(hc.LogConfig?.Config?.['max-file']);
  return Number.isInteger(v) && v >= 1 ? Math.min(v, 9) : LOG_MAX_FILES;
}

export function parseSize(s: string): number {
  const n = parseByteSize(s);
  if (n === undefined) throw new InvalidArgumentError(`invalid size: '${s}'`);
  return n;
}

/** Shifts ctr.log → ctr.log.1 → … keeping `files` files in all. */
export async function rotateLogFiles(path: string, files: number): Promise<void> {
  await fsp.rm(`${path}.${files - 1}`, { force: true });
  for (let i = files - 2; i >= 1; i--) await fsp.rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
  if (files > 1) await fsp.rename(path, `${path}.1`).catch(() => undefined);
  else await fsp.rm(path, { force: true });
}
