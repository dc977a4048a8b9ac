import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.ts';
import { deleteDeadCredentials } from '../db/credentials.ts';
import { deleteExpiredIdempotencyKeys } from '../db/idempotency.ts';
import { deleteExpiredAttempts } from '../db/login-attempts.ts';

const CLEANUP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Deletes what has expired, hourly: idempotency records past their time to live, credentials
 * expired or revoked over a day ago, and finished login-attempt windows. A supervised background task:
 * one run at a time, failures logged and retried next hour, and the returned function stops it
 * and waits for a run in progress (called on shutdown, before the pool closes).
 */
export function startCleanup(db: Database, settings: { idempotencyKeyTtlHours: number; loginWindowS: number }, log: FastifyBaseLogger) {
  const controller = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running !== undefined) return;
    running = db
      .transaction(
        async (tx) => ({
          idempotencyKeys: await deleteExpiredIdempotencyKeys(tx, settings.idempotencyKeyTtlHours),
          credentials: await deleteDeadCredentials(tx),
          loginAttempts: await deleteExpiredAttempts(tx, settings.loginWindowS),
        }),
        { signal: controller.signal },
      )
      .then((deleted) => {
        if (Object.values(deleted).some((count) => count > 0)) log.info({ deleted }, 'expired records deleted');
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) log.warn({ err: error }, 'cleanup of expired records failed; will retry');
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
