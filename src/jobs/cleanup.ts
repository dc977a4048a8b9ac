import type { Database, Transaction } from '../db/database.ts';
import { deleteDeadCredentials } from '../db/credentials.ts';
import { deleteExpiredIdempotencyKeys } from '../db/idempotency.ts';
import { deleteExpiredAttempts } from '../db/login-attempts.ts';
import { inBatches, type JobProgressLog } from './batches.ts';
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

/** Deletes in batches of `batchRowsMax` rows, each its own transaction (inBatches). Returns how many rows it deleted. */
function deleteInBatches(
  db: Database,
  signal: AbortSignal,
  batchRowsMax: number,
  deleteBatch: (tx: Transaction, limit: number) => Promise<number>,
) {
  return inBatches(signal, { size: batchRowsMax, batchesMax: CLEANUP_BATCHES_PER_RUN_MAX }, (limit) =>
    db.transaction((tx) => deleteBatch(tx, limit), { signal }),
  );
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
export function cleanupJob(db: Database, settings: CleanupSettings, log: JobProgressLog): Job {
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
