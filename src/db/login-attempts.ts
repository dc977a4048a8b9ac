import assert from 'node:assert/strict';
import type { Transaction } from './database.ts';

// Login attempts, counted in fixed windows per subject: a window starts at a subject's first
// attempt and lasts `windowS`. Every attempt counts against three subjects:
//   - the account: 'user:<id>' when the email found a user, else 'email:<lower(email)>';
//   - the client address: 'ip:<address>';
//   - the pair of the two: 'pair:<account>|ip:<address>'.
// The account is the user's id, not the email as typed, so that every spelling that finds the
// user counts in one place: the lookup folds case with PostgreSQL's lower(), which turns 'İ'
// into 'i' where JavaScript's toLowerCase() gives 'i' and a combining dot. An email that finds
// nobody is folded by the same lower() here, in SQL, so an unknown email is throttled exactly as
// a known one would be, and there is one normalisation, not two. ('user:' is a fixed-length id,
// so a pair's subject can't be mistaken for another's whatever the address.)

export type AttemptSubjectKind = 'account' | 'address' | 'pair';

export interface AttemptCount {
  kind: AttemptSubjectKind;
  subject: string;
  /** Attempts in the subject's window, this one included. */
  attempts: number;
  /** Seconds left in the subject's window. */
  windowLeftS: number;
}

/**
 * Counts one attempt against its three subjects in one statement, and answers their counts.
 * Called in the transaction that decides whether the attempt may go on, before its password is
 * checked, so that a burst of parallel guesses queues on the rows instead of slipping under a
 * limit together; the caller rolls the transaction back to refuse an attempt, which then counts
 * against nothing. Rows are upserted in one fixed order (by subject, in bytes), the order
 * `forgiveAttempt` locks them in too, so two logins can't deadlock on each other's rows.
 */
export async function countAttempt(
  tx: Transaction,
  attempt: { userId: string | null; email: string; address: string },
  windowS: number,
): Promise<AttemptCount[]> {
  const rows = await tx.query<AttemptCount>(
    `WITH account AS (
       SELECT CASE WHEN $1::uuid IS NULL THEN 'email:' || lower($2::text) ELSE 'user:' || $1::uuid END AS subject
     ), subjects (kind, subject) AS (
       SELECT 'account', subject FROM account
       UNION ALL SELECT 'address', 'ip:' || $3::text
       UNION ALL SELECT 'pair', 'pair:' || subject || '|ip:' || $3::text FROM account
     ), counted AS (
       INSERT INTO login_attempts AS f (subject, attempts, window_started_at)
       SELECT subject, 1, now() FROM subjects ORDER BY subject COLLATE "C"
       ON CONFLICT (subject) DO UPDATE SET
         attempts = CASE WHEN f.window_started_at > now() - make_interval(secs => $4) THEN f.attempts + 1 ELSE 1 END,
         window_started_at = CASE WHEN f.window_started_at > now() - make_interval(secs => $4) THEN f.window_started_at ELSE now() END
       RETURNING subject, attempts,
         greatest(1, ceil(extract(epoch FROM window_started_at + make_interval(secs => $4) - now())))::int AS "windowLeftS"
     )
     SELECT s.kind, c.subject, c.attempts, c."windowLeftS" FROM counted c JOIN subjects s USING (subject)`,
    [attempt.userId, attempt.email, attempt.address, windowS],
  );
  assert.equal(rows.length, 3, 'an attempt counts against its account, its address and the pair');
  return rows;
}

/**
 * Takes back a successful login's own attempt: the pair's count is deleted (the user's typing
 * errors from this address are forgiven), and the account's and the address's lose this one
 * attempt only. Resetting the account's count would hand an attacker guessing from other
 * addresses a fresh budget every time the user logs in.
 */
export async function forgiveAttempt(tx: Transaction, counted: readonly AttemptCount[]): Promise<void> {
  const subjects = (kind: AttemptSubjectKind) => counted.filter((count) => count.kind === kind).map((count) => count.subject);
  // The order `countAttempt` upserts in, so that this can't deadlock with a login being counted.
  await tx.query('SELECT subject FROM login_attempts WHERE subject = ANY($1::text[]) ORDER BY subject COLLATE "C" FOR UPDATE', [
    counted.map((count) => count.subject),
  ]);
  await tx.query('DELETE FROM login_attempts WHERE subject = ANY($1::text[])', [subjects('pair')]);
  // Never below zero: the window may have ended and started again since this attempt was counted.
  await tx.query('UPDATE login_attempts SET attempts = greatest(0, attempts - 1) WHERE subject = ANY($1::text[])', [
    [...subjects('account'), ...subjects('address')],
  ]);
}

/** Deletes up to `limit` finished windows (skipping rows another transaction holds); returns how many. */
export async function deleteExpiredAttempts(tx: Transaction, windowS: number, limit: number): Promise<number> {
  const rows = await tx.query(
    `DELETE FROM login_attempts WHERE subject IN (
       SELECT subject FROM login_attempts WHERE window_started_at < now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING subject`,
    [windowS, limit],
  );
  return rows.length;
}

/**
 * Forgets the login attempts counted against the user's account, from every address (its
 * subject 'user:<id>' and its pairs 'pair:user:<id>|ip:…'), so that a user whose
 * password was reset isn't locked out by the guesses that came before. The addresses' own
 * counts stay.
 */
export async function forgetAccountAttempts(tx: Transaction, userId: string): Promise<void> {
  await tx.query(
    `DELETE FROM login_attempts WHERE subject = 'user:' || $1::text OR starts_with(subject, 'pair:user:' || $1::text || '|')`,
    [userId],
  );
}
