/** One mapping from Berth's error classes to Docker's HTTP statuses and `{"message": ...}` bodies. */
import { BerthError, type ErrorCode } from '../errors';
import { SysError } from '../sys/libc';

const STATUS: Record<ErrorCode, number> = {
  not_found: 404,
  conflict: 409,
  invalid_argument: 400,
  forbidden: 403,
  unavailable: 503,
  not_modified: 304,
  internal: 500,
};

export function errorStatus(e: unknown): number {
  if (e instanceof BerthError) return STATUS[e.code];
  if (e instanceof SyntaxError) return 400;
  if (e instanceof SysError && e.code === 'ENOENT') return 404;
  return 500;
}

export function errorBody(e: unknown): { message: string } {
  return { message: e instanceof Error ? e.message : String(e) };
}
