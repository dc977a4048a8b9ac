import type { Database } from '../../src/db/database.ts';
import { insertEvents, publishEvents as publish } from '../../src/db/events.ts';
import type { EventType } from '../../src/domain/events.ts';

// Events written and published straight through the db layer (src/db/events.ts), for the tests
// that need events without the changes that make them: the same statement a change's transaction
// runs (the event and its outbox deliveries), and the publisher's own numbering.

export interface TestEvent {
  type: EventType;
  locationId?: string | undefined;
  data: Record<string, unknown>;
}

/** Writes an event and its deliveries in one transaction, as a change does. */
export function insertEvent(db: Database, event: TestEvent): Promise<void> {
  return db.transaction((tx) => insertEvents(tx, [{ type: event.type, locationId: event.locationId ?? null, data: event.data }], []));
}

/** One run of the publisher (it may leave events a running transaction holds back); answers the ids it gave. */
export function publishEvents(db: Database): Promise<string[]> {
  return db.transaction(async (tx) => {
    const { published } = await publish(tx, 1000);
    const [{ last }] = (await tx.query<{ last: string }>('SELECT last_id::text AS last FROM event_counter')) as [{ last: string }];
    return Array.from({ length: published }, (_, index) => String(BigInt(last) - BigInt(published - 1 - index)));
  });
}

/**
 * Publishes until no event is left unpublished, as the publisher's retries do: an event waits
 * while a transaction older than its own (anywhere on the server) is still running. Answers the ids given.
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
