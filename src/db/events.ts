import type { Queryable, Transaction } from './database.ts';
import type { EventFilter, MergedLevelChange, NewEvent, PublishedEvent } from '../domain/events.ts';

// The events table (migration 0007): written by changes, numbered by the publisher, read by
// streams and the webhook sender, trimmed by retention. Ids are bigints: they travel as decimal
// strings, never as JavaScript numbers.

/** NOTIFY channel on which a publisher tells every instance that events were published (payload: the last id). */
export const EVENTS_CHANNEL = 'stockroom_events';
/** The advisory lock that makes one publisher at a time, across instances. */
const PUBLISHER_LOCK = 0x5354_4b45_5654; // "STKEVT"

/**
 * Writes a transaction's events in one statement: the ones given, one stock.changed per level,
 * and stock.low for each level whose availability crossed its product's reorder point (from above
 * it to at or below it; the product's reorder point is read here to save a round trip) — and,
 * in the same statement, the outbox: a delivery per event for every enabled webhook subscribed
 * to its type. Order within the transaction: the given events, then each level's change and its low.
 */
export async function insertEvents(tx: Transaction, events: readonly NewEvent[], levels: readonly MergedLevelChange[]): Promise<void> {
  await tx.query(
    `WITH given AS (
       SELECT * FROM json_to_recordset($1::json) AS g (ord int, type text, location_id uuid, to_location_id uuid, data jsonb)
     ), levels AS (
       SELECT * FROM json_to_recordset($2::json)
         AS l (ord int, product_id uuid, location_id uuid, on_hand bigint, reserved bigint, available bigint,
               available_before bigint, movement_id uuid, reservation_id uuid)
     ), written AS (
       SELECT 0 AS part, ord, 0 AS sub, type, location_id, to_location_id, data FROM given
       UNION ALL
       SELECT 1, l.ord, 0, 'stock.changed', l.location_id, NULL,
              jsonb_build_object('productId', l.product_id, 'locationId', l.location_id, 'onHand', l.on_hand,
                                 'reserved', l.reserved, 'available', l.available,
                                 'movementId', l.movement_id, 'reservationId', l.reservation_id)
       FROM levels l
       UNION ALL
       SELECT 1, l.ord, 1, 'stock.low', l.location_id, NULL,
              jsonb_build_object('productId', l.product_id, 'locationId', l.location_id,
                                 'available', l.available, 'reorderPoint', p.reorder_point)
       FROM levels l JOIN products p ON p.id = l.product_id
       WHERE l.available_before > p.reorder_point AND l.available <= p.reorder_point
     ), inserted AS (
       INSERT INTO events (type, location_id, to_location_id, data)
       SELECT type, location_id, to_location_id, data FROM written ORDER BY part, ord, sub
       RETURNING seq, type
     )
     INSERT INTO webhook_deliveries (webhook_id, event_seq)
     SELECT w.id, i.seq FROM inserted i JOIN webhooks w ON w.enabled AND i.type = ANY (w.events)`,
    [
      JSON.stringify(
        events.map((event, ord) => ({
          ord,
          type: event.type,
          location_id: event.locationId,
          to_location_id: event.toLocationId ?? null,
          data: event.data,
        })),
      ),
      JSON.stringify(
        levels.map((level, ord) => ({
          ord,
          product_id: level.productId,
          location_id: level.locationId,
          on_hand: level.onHand,
          reserved: level.reserved,
          available: level.available,
          available_before: level.availableBefore,
          movement_id: level.movementId,
          reservation_id: level.reservationId,
        })),
      ),
    ],
  );
}

export interface Publication {
  /** How many events this run numbered. */
  published: number;
  /** The last id given, by this run or before it (as NOTIFY carries it); undefined when another publisher held the lock. */
  lastId?: string;
  /** Whether unpublished events are left: more than one batch, or written by transactions still running (or another publisher holds the lock). */
  pending: boolean;
}

/**
 * Numbers up to `limit` events whose transactions every snapshot has passed — their xid is below
 * the oldest transaction still running, so none of them can still commit or roll back, and none
 * with a lower xid can appear later — in (xid, seq) order, continuing the counter. One publisher
 * at a time: a run that can't take the advisory lock does nothing (another is publishing).
 * On PostgreSQL it tells every instance (NOTIFY, delivered at commit).
 */
export async function publishEvents(tx: Transaction, limit: number): Promise<Publication> {
  const [lock] = await tx.query<{ taken: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS taken', [PUBLISHER_LOCK]);
  if (!lock!.taken) return { published: 0, pending: true };
  const published = await tx.query<{ id: string }>(
    `WITH ready AS (
       SELECT seq, row_number() OVER (ORDER BY xid, seq) AS n
       FROM (SELECT seq, xid FROM events
             WHERE id IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY xid, seq LIMIT $1) AS due
     ), counter AS (
       UPDATE event_counter SET last_id = last_id + (SELECT count(*) FROM ready)
       WHERE EXISTS (SELECT 1 FROM ready)
       RETURNING last_id - (SELECT count(*) FROM ready) AS base
     )
     UPDATE events e SET id = counter.base + ready.n, published_at = clock_timestamp()
     FROM ready, counter
     WHERE e.seq = ready.seq
     RETURNING e.id::text AS id`,
    [limit],
  );
  const [state] = await tx.query<{ lastId: string; pending: boolean }>(
    `SELECT last_id::text AS "lastId", EXISTS (SELECT 1 FROM events WHERE id IS NULL) AS pending FROM event_counter`,
  );
  if (published.length > 0) await tx.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, state!.lastId]);
  return { published: published.length, lastId: state!.lastId, pending: state!.pending };
}

export interface EventBounds {
  /** The last id published (0 before the first). */
  lastId: string;
  /** The oldest id still retained; null when none is. */
  oldestId: string | null;
}

export async function eventBounds(db: Queryable): Promise<EventBounds> {
  const [row] = await db.query<EventBounds>(
    `SELECT last_id::text AS "lastId", (SELECT min(id) FROM events)::text AS "oldestId" FROM event_counter`,
  );
  return row!;
}

export interface EventRange {
  /** Events after this id… */
  after: string;
  /** …up to this one, when given. */
  upTo?: string | undefined;
  filter?: EventFilter | undefined;
  limit: number;
}

/** Published events in id order. */
export async function readEvents(db: Queryable, range: EventRange): Promise<PublishedEvent[]> {
  return db.query<PublishedEvent>(
    `SELECT id::text AS id, type, location_id AS "locationId", to_location_id AS "toLocationId", data, created_at AS "createdAt"
     FROM events
     WHERE id > $1::bigint AND ($2::bigint IS NULL OR id <= $2::bigint)
       AND ($3::text[] IS NULL OR type = ANY ($3::text[]))
       AND ($4::uuid[] IS NULL OR location_id = ANY ($4::uuid[]) OR to_location_id = ANY ($4::uuid[]))
     ORDER BY events.id -- the column: "id" alone is the text it is answered as, which sorts 10 before 9
     LIMIT $5`,
    [range.after, range.upTo ?? null, range.filter?.types ?? null, range.filter?.locationIds ?? null, range.limit],
  );
}

/**
 * The newest id retention may delete up to: every event published over `retentionHours` ago (by
 * the database's clock), but none an
 * undelivered webhook delivery still needs — of an enabled webhook: a disabled one's pending
 * deliveries wait for it only as long as their events are retained, or one forgotten webhook
 * would keep every event from then on. Events are deleted as a prefix of ids, so a stream
 * resuming after a retained id finds every later one (see eventBounds).
 */
export async function retentionBoundary(db: Queryable, retentionHours: number): Promise<string | null> {
  const [row] = await db.query<{ boundary: string | null }>(
    `SELECT least(
       (SELECT id FROM events
        WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => $1)
        ORDER BY published_at DESC LIMIT 1),
       (SELECT min(e.id) - 1 FROM webhook_deliveries d
        JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.id = d.webhook_id
        WHERE d.status = 'pending' AND w.enabled)
     )::text AS boundary`,
    [retentionHours],
  );
  return row!.boundary;
}

/** Deletes up to `limit` of the oldest events with ids up to `boundary` (their deliveries and attempts with them); answers how many. */
export async function deleteEventsUpTo(tx: Transaction, boundary: string, limit: number): Promise<number> {
  const rows = await tx.query(
    `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE id <= $1::bigint ORDER BY id LIMIT $2) RETURNING 1`,
    [boundary, limit],
  );
  return rows.length;
}
