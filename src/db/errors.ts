import { AppError } from '../domain/errors.ts';
import { CATEGORY_CONSTRAINTS } from './categories.ts';
import { LOCATION_CONSTRAINTS } from './locations.ts';
import { PRODUCT_CONSTRAINTS } from './products.ts';
import { USER_CONSTRAINTS } from './users.ts';

// Turns what the drivers throw into the errors of API.md. Anything not recognised here is left
// as it is, reaches the error handler as an unknown error, and becomes a logged 500: a bug.

interface DriverError {
  code?: string;
  constraint?: string;
  detail?: string;
  message?: string;
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  '57P01', // admin_shutdown: the server or pg_terminate_backend ended our connection
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting or stopping
  '53300', // too_many_connections
]);

/**
 * What a client is told when a write breaks a constraint it can run into (a unique key), by the
 * constraint's name. Each db module declares its table's, beside the table's statements.
 */
export type ConstraintMessages = Readonly<Record<string, string>>;

const UNIQUE_CONFLICTS: ConstraintMessages = {
  ...PRODUCT_CONSTRAINTS,
  ...LOCATION_CONSTRAINTS,
  ...CATEGORY_CONSTRAINTS,
  ...USER_CONSTRAINTS,
};

const REFERENCED_THING: Record<string, string> = {
  category_id: 'category',
  parent_id: 'parent category',
  product_id: 'product',
  location_id: 'location',
  to_location_id: 'location',
  user_id: 'user',
};

/** deadlock_detected and serialization_failure: the transaction can be run again from the start. */
const RETRYABLE_CODES = new Set(['40P01', '40001']);

export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as DriverError | undefined)?.code;
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/**
 * A COMMIT whose answer was lost with the connection, and whose outcome could not be learnt
 * before the deadline: the transaction may or may not have been made durable.
 */
export class CommitOutcomeUnknownError extends Error {
  override name = 'CommitOutcomeUnknownError';
  constructor(cause: unknown) {
    super('the connection was lost during COMMIT and its outcome is unknown', { cause });
  }
}

/**
 * No connection was free within the acquire timeout: the pool is exhausted, or the one embedded
 * connection busy. The message, which each source words for its own case, is the client's.
 */
export class ConnectionWaitTimeoutError extends Error {
  override name = 'ConnectionWaitTimeoutError';
}

/** Whether the connection (not the statement) failed: the server is unreachable, or ended it. */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message = '' } = error as DriverError;
  if (code !== undefined && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'))) return true;
  return (
    message.includes('Connection terminated') ||
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Client has encountered a connection error') ||
    message.includes('Cannot use a pool after calling end')
  );
}

export function translateDatabaseError(error: unknown, signal?: AbortSignal): unknown {
  if (error instanceof CommitOutcomeUnknownError) {
    // Past the deadline too: a 504 would say that nothing was written, which is not known.
    return new AppError(
      'unavailable',
      'the database connection was lost during COMMIT and whether it committed could not be learnt in time; repeat the request with the same Idempotency-Key to find out',
      { outcome: 'unknown' },
      1,
    );
  }
  if (signal?.aborted) return signal.reason;
  if (error instanceof ConnectionWaitTimeoutError) return new AppError('unavailable', error.message, {}, 1);
  if (error instanceof AppError || typeof error !== 'object' || error === null) return error;
  const driverError = error as DriverError;
  if (isConnectionError(driverError)) {
    return new AppError('unavailable', 'the database is unavailable, try again shortly', {}, 1);
  }
  // A deadlock or serialization failure that its bounded retries did not get past.
  if (isRetryableTransactionError(driverError)) {
    return new AppError('unavailable', 'the database was too contended to apply this change; retry it', {}, 1);
  }
  switch (driverError.code) {
    case '57014':
      return new AppError('timeout', 'a database statement ran past DB_STATEMENT_TIMEOUT_MS and was cancelled');
    case '23505': {
      const detail = UNIQUE_CONFLICTS[driverError.constraint ?? ''];
      return detail === undefined ? error : new AppError('conflict', detail);
    }
    case '23503': {
      const column = /^Key \((\w+)\)/.exec(driverError.detail ?? '')?.[1] ?? '';
      const thing = REFERENCED_THING[column] ?? 'referenced resource';
      if (driverError.detail?.includes('is still referenced')) {
        return new AppError('conflict', 'it is still in use: other records refer to it');
      }
      return new AppError('not_found', `the ${thing} does not exist`);
    }
    default:
      return error;
  }
}
