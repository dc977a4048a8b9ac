import type { EventType } from '../domain/events.ts';
import type { DeliveryStatus } from '../domain/webhooks.ts';
import type { Queryable, Transaction } from './database.ts';
import { Conditions, onlyRow, partialSet, type SettableColumn } from './sql.ts';

// Webhooks, their outbox of deliveries and the log of attempts (migration 0007). The deliveries
// themselves are written with their event, in the transaction of the change; this module reads
// them, and claims and settles them for the sender (src/jobs/webhook-sender.ts).

export interface WebhookRow {
  id: string;
  url: string;
  events: EventType[];
  description: string | null;
  secret: string;
  enabled: boolean;
  createdById: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, url, events, description, secret, enabled, created_by AS "createdById",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function insertWebhook(
  tx: Transaction,
  webhook: Pick<WebhookRow, 'id' | 'url' | 'events' | 'description' | 'secret' | 'createdById'>,
): Promise<WebhookRow> {
  const rows = await tx.query<WebhookRow>(
    `INSERT INTO webhooks (id, url, events, description, secret, created_by)
     VALUES ($1, $2, $3::text[], $4, $5, $6)
     RETURNING ${COLUMNS}`,
    [webhook.id, webhook.url, webhook.events, webhook.description, webhook.secret, webhook.createdById],
  );
  return onlyRow(rows, 'INSERT INTO webhooks');
}

export async function findWebhook(db: Queryable, id: string): Promise<WebhookRow | undefined> {
  const rows = await db.query<WebhookRow>(`SELECT ${COLUMNS} FROM webhooks WHERE id = $1`, [id]);
  return rows[0];
}

/** Newest first, ties broken by id; `limit + 1` rows at most. */
export async function listWebhooks(
  db: Queryable,
  filter: { after?: [createdAt: Date, id: string] | undefined; limit: number },
): Promise<WebhookRow[]> {
  const where = new Conditions();
  if (filter.after !== undefined) where.add('(created_at, id) < ($?, $?)', ...filter.after);
  return db.query<WebhookRow>(
    `SELECT ${COLUMNS} FROM webhooks ${where.where()}
     ORDER BY created_at DESC, id DESC LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

export interface WebhookChanges {
  url?: string | undefined;
  events?: EventType[] | undefined;
  /** null clears it. */
  description?: string | null | undefined;
  enabled?: boolean | undefined;
  secret?: string | undefined;
}

const SETTABLE: { readonly [Field in keyof WebhookChanges]-?: SettableColumn } = {
  url: ['url', 'text'],
  events: ['events', 'text[]'],
  description: ['description', 'text'],
  enabled: ['enabled', 'boolean'],
  secret: ['secret', 'text'],
};

/** Sets the given fields; undefined when there is no such webhook. */
export async function updateWebhook(tx: Transaction, id: string, changes: WebhookChanges): Promise<WebhookRow | undefined> {
  const sql = new Conditions();
  const rows = await tx.query<WebhookRow>(
    `UPDATE webhooks SET ${partialSet(sql, changes, SETTABLE)} WHERE id = ${sql.param(id)} RETURNING ${COLUMNS}`,
    sql.params,
  );
  return rows[0];
}

/** Deletes a webhook, and with it (ON DELETE CASCADE) its deliveries and their log; false when there was none. */
export async function deleteWebhook(tx: Transaction, id: string): Promise<boolean> {
  const rows = await tx.query('DELETE FROM webhooks WHERE id = $1 RETURNING id', [id]);
  return rows.length > 0;
}

// ---- Deliveries and their log -----------------------------------------------------------------

export interface DeliveryRow {
  id: string;
  /** The event's public id; null until the publisher has numbered it (it is not sent before). */
  eventId: string | null;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  createdAt: Date;
}

export interface AttemptRow {
  deliveryId: string;
  attemptedAt: Date;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  nextAttemptAt: Date | null;
}

/** A webhook's deliveries, newest first, ties broken by id; `limit + 1` rows at most. */
export async function listDeliveries(
  db: Queryable,
  webhookId: string,
  filter: { status?: DeliveryStatus | undefined; after?: [createdAt: Date, id: string] | undefined; limit: number },
): Promise<DeliveryRow[]> {
  const where = new Conditions().add('d.webhook_id = $?', webhookId);
  if (filter.status !== undefined) where.add('d.status = $?', filter.status);
  if (filter.after !== undefined) where.add('(d.created_at, d.id) < ($?, $?)', ...filter.after);
  return db.query<DeliveryRow>(
    `SELECT d.id, e.id::text AS "eventId", e.type AS "eventType", d.status, d.attempts,
       d.next_attempt_at AS "nextAttemptAt", d.created_at AS "createdAt"
     FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
     ${where.where()}
     ORDER BY d.created_at DESC, d.id DESC LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

/** The attempts of several deliveries in one query, oldest first. */
export async function findAttempts(db: Queryable, deliveryIds: string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  return db.query<AttemptRow>(
    `SELECT delivery_id AS "deliveryId", attempted_at AS "attemptedAt", status_code AS "statusCode",
       duration_ms AS "durationMs", error, next_attempt_at AS "nextAttemptAt"
     FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])
     ORDER BY delivery_id, id`,
    [deliveryIds],
  );
}

/** A delivery a sender has claimed, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  /** The attempt this claim is: the delivery's `attempts` after the claim. */
  attempt: number;
  webhookId: string;
  url: string;
  secret: string;
  eventId: string;
  eventType: string;
  eventData: unknown;
  eventCreatedAt: Date;
}

/**
 * Claims up to `limit` due deliveries: pending, their time come, their event published and their
 * webhook enabled (a disabled webhook's deliveries wait, pending, until it is enabled again).
 * The rows are locked with SKIP LOCKED, so two senders never claim the same one, and each claim
 * counts an attempt and moves `next_attempt_at` a lease ahead, all in this one statement: while
 * the lease runs no sender sees the delivery as due, and if its sender dies the delivery is due
 * again when the lease ends. A claimed delivery that has used up its attempts (its last sender
 * died before recording the outcome) is marked failed instead, and not answered.
 */
export async function claimDueDeliveries(
  tx: Transaction,
  options: { limit: number; leaseMs: number; attemptsMax: number },
): Promise<ClaimedDelivery[]> {
  return tx.query<ClaimedDelivery>(
    `WITH due AS (
       SELECT d.id FROM webhook_deliveries d
       JOIN events e ON e.seq = d.event_seq
       JOIN webhooks w ON w.id = d.webhook_id
       WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.id IS NOT NULL AND w.enabled
       ORDER BY d.next_attempt_at
       LIMIT $1
       FOR UPDATE OF d SKIP LOCKED
     ),
     claimed AS (
       UPDATE webhook_deliveries d
       SET attempts = d.attempts + CASE WHEN d.attempts < $3 THEN 1 ELSE 0 END,
           status = CASE WHEN d.attempts < $3 THEN 'pending' ELSE 'failed' END,
           next_attempt_at = CASE WHEN d.attempts < $3
             THEN date_trunc('milliseconds', now()) + $2::double precision * interval '1 millisecond' ELSE d.next_attempt_at END,
           updated_at = date_trunc('milliseconds', now())
       FROM due WHERE d.id = due.id
       RETURNING d.id, d.attempts, d.status, d.webhook_id, d.event_seq
     )
     SELECT c.id, c.attempts AS attempt, w.id AS "webhookId", w.url, w.secret, e.id::text AS "eventId",
       e.type AS "eventType", e.data AS "eventData", e.created_at AS "eventCreatedAt"
     FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.seq = c.event_seq
     WHERE c.status = 'pending'`,
    [options.limit, options.leaseMs, options.attemptsMax],
  );
}

/**
 * Locks a delivery until the transaction ends and reads its state; undefined when it is gone
 * (its webhook was deleted). Taken before its attempt is logged, so that a concurrent delete
 * waits rather than removes the row the log refers to.
 */
export async function lockDelivery(tx: Transaction, id: string): Promise<{ status: DeliveryStatus; attempts: number } | undefined> {
  const rows = await tx.query<{ status: DeliveryStatus; attempts: number }>(
    'SELECT status, attempts FROM webhook_deliveries WHERE id = $1 FOR UPDATE',
    [id],
  );
  return rows[0];
}

export async function insertAttempt(tx: Transaction, attempt: AttemptRow): Promise<void> {
  await tx.query(
    `INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, duration_ms, error, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [attempt.deliveryId, attempt.attemptedAt, attempt.statusCode, attempt.durationMs, attempt.error, attempt.nextAttemptAt],
  );
}

/**
 * Settles a delivery (locked by this transaction) after an attempt: delivered or failed, or
 * pending again `retryInMs` from now by the database's clock, which every sender shares.
 * Answers when it is next due (null unless pending).
 */
export async function settleDelivery(
  tx: Transaction,
  id: string,
  outcome: { status: 'delivered' | 'failed' } | { status: 'pending'; retryInMs: number },
): Promise<Date | null> {
  const retryInMs = outcome.status === 'pending' ? outcome.retryInMs : null;
  const rows = await tx.query<{ nextAttemptAt: Date | null }>(
    `UPDATE webhook_deliveries
     SET status = $2,
         next_attempt_at = CASE WHEN $3::double precision IS NULL THEN next_attempt_at
           ELSE date_trunc('milliseconds', now()) + $3::double precision * interval '1 millisecond' END,
         updated_at = date_trunc('milliseconds', now())
     WHERE id = $1
     RETURNING CASE WHEN status = 'pending' THEN next_attempt_at END AS "nextAttemptAt"`,
    [id, outcome.status, retryInMs],
  );
  return onlyRow(rows, 'UPDATE webhook_deliveries (one locked by this transaction)').nextAttemptAt;
}
