import type { Database } from '../../src/db/database.ts';

// Events as the finished system writes them, for the webhook tests until the real writers are
// merged (issue 12, events): the change's transaction inserts its event and, in the same
// transaction, one delivery per enabled webhook subscribed to its type (the outbox); a publisher,
// one at a time, later gives the events below the horizon their public ids from event_counter,
// in (xid, seq) order. Deliveries are sent only once their event is published.

export interface TestEvent {
  type: string;
  locationId?: string | undefined;
  data: unknown;
}

/** Writes an event and its deliveries in one transaction, as a change does; answers its seq. */
export function insertEvent(db: Database, event: TestEvent): Promise<{ seq: string }> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ seq: string }>(
      'INSERT INTO events (type, location_id, data) VALUES ($1, $2, $3::jsonb) RETURNING seq::text AS seq',
      [event.type, event.locationId ?? null, JSON.stringify(event.data)],
    );
    const seq = row!.seq;
    await tx.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_seq)
       SELECT w.id, $1::bigint FROM webhooks w WHERE w.enabled AND $2 = ANY(w.events)`,
      [seq, event.type],
    );
    return { seq };
  });
}

/**
 * Numbers the events whose transactions every snapshot has passed, in (xid, seq) order, after
 * the last id given (event_counter), and stamps their publication; one publisher at a time.
 * Answers the ids it gave.
 */
export function publishEvents(db: Database): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('stockroom test publisher'))`);
    const rows = await tx.query<{ id: string }>(
      `WITH batch AS (
         SELECT seq, row_number() OVER (ORDER BY xid, seq) AS n FROM events
         WHERE id IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot())
       ),
       counter AS (
         UPDATE event_counter SET last_id = last_id + (SELECT count(*) FROM batch)
         RETURNING last_id - (SELECT count(*) FROM batch) AS base
       )
       UPDATE events e SET id = counter.base + batch.n, published_at = clock_timestamp()
       FROM batch, counter WHERE e.seq = batch.seq
       RETURNING e.id::text AS id`,
    );
    return rows.map((row) => row.id).sort((a, b) => Number(a) - Number(b));
  });
}

/**
 * Publishes until no event is left unpublished, as the real publisher's retries do: an event
 * waits while a transaction older than its own (anywhere on the server) is still running.
 * Answers the ids given.
 */
export async function publishAll(db: Database, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const ids: string[] = [];
  for (;;) {
    ids.push(...(await publishEvents(db)));
    const [left] = await db.connection((c) => c.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE id IS NULL'));
    if (left!.n === 0) return ids;
    if (Date.now() > deadline) throw new Error(`${left!.n} events still unpublished after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
