import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.ts';
import { deleteExpiredIdempotencyKeys } from '../db/idempotency.ts';

const CLEANUP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Deletes idempotency records past their time to live, hourly, as a supervised background task:
 * one run at a time, failures logged and retried next hour, and the returned function stops it
 * and waits for a run in progress (called on shutdown, before the pool closes).
 */
export function startIdempotencyKeyCleanup(db: Database, ttlHours: number, log: FastifyBaseLogger) {
  const controller = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running !== undefined) return;
    running = db
      .transaction((tx) => deleteExpiredIdempotencyKeys(tx, ttlHours), { signal: controller.signal })
      .then((deleted) => {
        if (deleted > 0) log.info({ deleted }, 'expired idempotency keys deleted');
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) log.warn({ err: error }, 'idempotency key cleanup failed; will retry');
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(run, CLEANUP_INTERVAL_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    controller.abort(new Error('shutting down'));
    await running;
  };
}
