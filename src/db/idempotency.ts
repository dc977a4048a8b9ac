import type { Transaction } from './database.ts';
import { onlyRow } from './sql.ts';

/** What a key keeps: the fingerprint of the request that used it, and that request's result as JSON text. */
export interface IdempotencyRecord {
  requestHash: string;
  responseBody: string;
}

/**
 * The status_code column, from when the record was an HTTP answer: every record is a success, and
 * the one idempotent route of those versions answered 201. Nothing reads it now (each route answers
 * its own status); it is still written so that an earlier version opened on this database, after a
 * downgrade, replays these records as it did its own.
 */
const STATUS_CODE_LEGACY = 201;

/**
 * Takes the key for this transaction. Returns 'busy' when another transaction holds it right now,
 * the stored record when the key was already used within its time to live, or undefined.
 * The advisory lock is held until this transaction ends, so a duplicate that arrives later finds
 * either the committed record or a free key (the first attempt rolled back).
 */
export async function claimIdempotencyKey(tx: Transaction, key: string, ttlHours: number): Promise<'busy' | IdempotencyRecord | undefined> {
  const locks = await tx.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_xact_lock(hashtextextended('stockroom.idempotency.' || $1, 0)) AS locked`,
    [key],
  );
  if (!onlyRow(locks, 'pg_try_advisory_xact_lock').locked) return 'busy';
  // A statement of its own, so that its snapshot is taken after the lock was: a statement reads
  // as of its start, and one that took the lock mid-way could miss the record a transaction
  // committed while releasing it, and run the use case a second time.
  const rows = await tx.query<IdempotencyRecord>(
    `SELECT request_hash AS "requestHash", response_body AS "responseBody"
     FROM idempotency_keys WHERE key = $1 AND created_at > now() - make_interval(hours => $2)`,
    [key, ttlHours],
  );
  return rows[0];
}

export async function saveIdempotencyKey(
  tx: Transaction,
  key: string,
  record: IdempotencyRecord & { /** The legacy column; STATUS_CODE_LEGACY unless given. */ statusCode?: number },
): Promise<void> {
  // An expired record of the same key is replaced.
  await tx.query(
    `INSERT INTO idempotency_keys (key, request_hash, status_code, response_body) VALUES ($1, $2, $3, $4)
     ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status_code = excluded.status_code,
       response_body = excluded.response_body, created_at = now()`,
    [key, record.requestHash, record.statusCode ?? STATUS_CODE_LEGACY, record.responseBody],
  );
}

/** Deletes up to `limit` records past their time to live (skipping rows another transaction holds); returns how many. */
export async function deleteExpiredIdempotencyKeys(tx: Transaction, ttlHours: number, limit: number): Promise<number> {
  const rows = await tx.query<{ deleted: number }>(
    `WITH deleted AS (
       DELETE FROM idempotency_keys WHERE key IN (
         SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING 1)
     SELECT count(*)::int AS deleted FROM deleted`,
    [ttlHours, limit],
  );
  return onlyRow(rows, 'a count of deleted keys').deleted;
}
