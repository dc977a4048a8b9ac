import type { Database, Transaction } from '../db/database.ts';
import { deleteDeadCredentials } from '../db/credentials.ts';
import { deleteExpiredIdempotencyKeys } from '../db/idempotency.ts';
import { deleteExpiredAttempts } from '../db/login-attempts.ts';
import type { Job } from './supervisor.ts';

export const CLEANUP_INTERVAL_MS = 60 * 60 * 1000;
const CLEANUP_JITTER_MS = 60 * 1000;
/** Rows one statement deletes: each batch is a short transaction that holds few locks. */
export const CLEANUP_BATCH_ROWS_MAX = 1000;
/** Batches of one kind in one run; what is left waits for the next run. */
const CLEANUP_BATCHES_PER_RUN_MAX = 1000;

export interface CleanupSettings {
  idempotencyKeyTtlHours: number;
  loginWindowS: number;
  /** Rows per statement; CLEANUP_BATCH_ROWS_MAX unless a test asks for less. */
  batchRowsMax?: number;
}

export interface CleanupLog {
  info(details: object, message: string): void;
}

/**
 * Deletes in batches of `batchRowsMax` rows, each its own transaction, until a batch comes back
 * short; checks the signal between batches. Returns how many rows it deleted.
 */
async function deleteInBatches(
  db: Database,
  signal: AbortSignal,
  batchRowsMax: number,
  deleteBatch: (tx: Transaction, limit: number) => Promise<number>,
) {
  let deleted = 0;
  for (let batch = 0; batch < CLEANUP_BATCHES_PER_RUN_MAX; batch += 1) {
    signal.throwIfAborted();
    const count = await db.transaction((tx) => deleteBatch(tx, batchRowsMax), { signal });
    deleted += count;
    if (count < batchRowsMax) break;
  }
  return deleted;
}

/**
 * Deletes what has expired: idempotency records past their time to live, credentials expired or
 * revoked over a day ago, and finished login-attempt windows. Returns the counts.
 */
export async function deleteExpired(db: Database, settings: CleanupSettings, signal: AbortSignal) {
  const batchRowsMax = settings.batchRowsMax ?? CLEANUP_BATCH_ROWS_MAX;
  return {
    idempotencyKeys: await deleteInBatches(db, signal, batchRowsMax, (tx, limit) =>
      deleteExpiredIdempotencyKeys(tx, settings.idempotencyKeyTtlHours, limit),
    ),
    credentials: await deleteInBatches(db, signal, batchRowsMax, (tx, limit) => deleteDeadCredentials(tx, limit)),
    loginAttempts: await deleteInBatches(db, signal, batchRowsMax, (tx, limit) => deleteExpiredAttempts(tx, settings.loginWindowS, limit)),
  };
}

/** The hourly clean-up as a job: the first run an hour after start, as before. */
export function cleanupJob(db: Database, settings: CleanupSettings, log: CleanupLog): Job {
  return {
    name: 'cleanup',
    intervalMs: CLEANUP_INTERVAL_MS,
    jitterMs: CLEANUP_JITTER_MS,
    async run(signal) {
      const deleted = await deleteExpired(db, settings, signal);
      if (Object.values(deleted).some((count) => count > 0)) log.info({ deleted }, 'expired records deleted');
    },
  };
}
