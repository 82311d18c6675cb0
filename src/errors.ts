/**
 * Berth's error taxonomy. Every error a user can see is one of these classes,
 * carrying a user-facing message; the API maps the class to an HTTP status in
 * one place (api/errors.ts) and the CLI prints the message.
 */
export type ErrorCode =
  | 'not_found'
  | 'conflict'
  | 'invalid_argument'
  | 'forbidden'
  | 'unavailable'
  | 'not_modified'
  | 'internal';

export class BerthError extends Error {
  readonly code: ErrorCode = 'internal';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The thing asked for does not exist (HTTP 404). */
export class NotFoundError extends BerthError {
  override readonly code = 'not_found' as const;
}

/** The request clashes with the current state, e.g. a name in use (HTTP 409). */
export class ConflictError extends BerthError {
  override readonly code = 'conflict' as const;
}

/** Bad input from the user: flags, bodies, Dockerfiles, tars, manifests (HTTP 400). */
export class InvalidArgumentError extends BerthError {
  override readonly code = 'invalid_argument' as const;
}

/** Refused for safety, e.g. a layer that tries to escape its rootfs (HTTP 403). */
export class ForbiddenError extends BerthError {
  override readonly code = 'forbidden' as const;
}

/** A needed tool or service is missing or down (HTTP 503). */
export class UnavailableError extends BerthError {
  override readonly code = 'unavailable' as const;
}

/** Nothing to do, e.g. starting a running container (HTTP 304). */
export class NotModifiedError extends BerthError {
  override readonly code = 'not_modified' as const;
}

/** A bug or an unexpected system failure (HTTP 500). */
export class InternalError extends BerthError {
  override readonly code = 'internal' as const;
}

export function isBerthError(e: unknown): e is BerthError {
  return e instanceof BerthError;
}

/** The message of any thrown value, for logs and last-resort error output. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
