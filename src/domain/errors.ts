import assert from 'node:assert/strict';

// One error type for every operating error a client can cause or meet; the HTTP layer maps each
// code to its RFC 9457 problem (src/http/problems.ts). Programmer errors are assertions, not this.

export const ERROR_STATUS = {
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  insufficient_stock: 409,
  stale_quantity: 409,
  idempotency_key_in_progress: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  idempotency_key_reused: 422,
  rate_limited: 429,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorExtras {
  /** Extra members of the problem document, e.g. `lines` or `errors`. */
  [member: string]: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extras: ErrorExtras = {},
    /** Seconds for the Retry-After header (429, 503). */
    readonly retryAfterS?: number,
  ) {
    super(detail);
    this.status = ERROR_STATUS[code];
  }
}

export function notFound(what: string, id: string): AppError {
  return new AppError('not_found', `${what} ${id} does not exist`);
}

/** One field's problem, as a 422's `errors` lists it: a JSON Pointer into the input, and what is wrong there. */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * A 422 listing what is wrong with each field. The detail names each field before its message
 * (`password is required with currentPassword`) unless one is given.
 */
export function validationFailed(errors: readonly FieldError[], detail?: string): AppError {
  assert.ok(errors.length > 0, 'a validation failure names at least one field');
  const told = detail ?? errors.map((error) => `${error.path.replace(/^\//, '')} ${error.message}`).join('; ');
  return new AppError('validation_failed', told, { errors: errors.map(({ path, message }) => ({ path, message })) });
}
