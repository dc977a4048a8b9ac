import type { Queryable } from './database.ts';

export interface StoredResponse {
  requestHash: string;
  statusCode: number;
  responseBody: string;
}

/**
 * Takes the key for this transaction. Returns 'busy' when another transaction holds it right now,
 * the stored response when the key was already used within its time to live, or undefined.
 * The advisory lock is held until this transaction ends, so a duplicate that arrives later finds
 * either the committed record or a free key (the first attempt rolled back).
 */
export async function claimIdempotencyKey(
  db: Queryable,
  key: string,
  ttlHours: number,
): Promise<'busy' | StoredResponse | undefined> {
  const [lock] = await db.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_xact_lock(hashtextextended('stockroom.idempotency.' || $1, 0)) AS locked`,
    [key],
  );
  if (!lock!.locked) return 'busy';
  // A statement of its own, so that its snapshot is taken after the lock was: a statement reads
  // as of its start, and one that took the lock mid-way could miss the record a transaction
  // committed while releasing it, and write the movement a second time.
  const rows = await db.query<StoredResponse>(
    `SELECT request_hash AS "requestHash", status_code AS "statusCode", response_body AS "responseBody"
     FROM idempotency_keys WHERE key = $1 AND created_at > now() - make_interval(hours => $2)`,
    [key, ttlHours],
  );
  return rows[0];
}

export async function saveIdempotencyKey(db: Queryable, key: string, response: StoredResponse): Promise<void> {
  // An expired record of the same key is replaced.
  await db.query(
    `INSERT INTO idempotency_keys (key, request_hash, status_code, response_body) VALUES ($1, $2, $3, $4)
     ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status_code = excluded.status_code,
       response_body = excluded.response_body, created_at = now()`,
    [key, response.requestHash, response.statusCode, response.responseBody],
  );
}

export async function deleteExpiredIdempotencyKeys(db: Queryable, ttlHours: number): Promise<number> {
  const rows = await db.query<{ deleted: number }>(
    `WITH deleted AS (DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1) RETURNING 1)
     SELECT count(*)::int AS deleted FROM deleted`,
    [ttlHours],
  );
  return rows[0]!.deleted;
}
