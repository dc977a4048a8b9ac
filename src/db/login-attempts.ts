import type { Queryable } from './database.ts';

// Login attempts counted per subject ('email:…', 'ip:…') in fixed windows: a window starts at
// the first attempt and lasts `windowS`. An attempt is counted before its password is checked,
// in one atomic upsert, so that a burst of parallel guesses can't all slip under the limit;
// a successful login then takes its attempt back.

export interface AttemptCount {
  subject: string;
  attempts: number;
  /** Seconds left in the subject's window. */
  windowLeftS: number;
}

export async function countAttempt(db: Queryable, subjects: string[], windowS: number): Promise<AttemptCount[]> {
  return db.query<AttemptCount>(
    `INSERT INTO login_attempts AS f (subject, attempts, window_started_at)
     SELECT subject, 1, now() FROM unnest($1::text[]) AS subject
     ON CONFLICT (subject) DO UPDATE SET
       attempts = CASE WHEN f.window_started_at > now() - make_interval(secs => $2) THEN f.attempts + 1 ELSE 1 END,
       window_started_at = CASE WHEN f.window_started_at > now() - make_interval(secs => $2) THEN f.window_started_at ELSE now() END
     RETURNING subject, attempts,
       greatest(1, ceil(extract(epoch FROM window_started_at + make_interval(secs => $2) - now())))::int AS "windowLeftS"`,
    [subjects, windowS],
  );
}

/** Takes back a successful login's attempt: its account starts afresh, its address loses one. */
export async function forgiveAttempt(db: Queryable, accountSubject: string, addressSubject: string): Promise<void> {
  await db.query('DELETE FROM login_attempts WHERE subject = $1', [accountSubject]);
  await db.query('UPDATE login_attempts SET attempts = greatest(0, attempts - 1) WHERE subject = $1', [addressSubject]);
}

export async function deleteExpiredAttempts(db: Queryable, windowS: number): Promise<number> {
  const rows = await db.query(
    'DELETE FROM login_attempts WHERE window_started_at < now() - make_interval(secs => $1) RETURNING subject',
    [windowS],
  );
  return rows.length;
}
