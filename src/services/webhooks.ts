import * as webhooks from '../db/webhooks.ts';
import { NEWEST_FIRST, readPage, type PageQuery } from '../domain/cursor.ts';
import { notFound, validationFailed } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { groupBy } from '../domain/group.ts';
import { checkWebhookUrl, hostOf, newWebhookSecret, retryDelayMs, type DeliveryStatus, type RetrySchedule } from '../domain/webhooks.ts';
import type { EventType } from '../domain/events.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { resolveTarget, TargetRefusedError, type Resolver } from './webhook-targets.ts';

// Webhooks (API.md, Events): an admin subscribes a URL to event types; each event of those types
// is then POSTed to it, signed with the webhook's secret, until a 2xx answers it or its attempts
// run out. The secret is shown when it is made (at creation, and when rotated) and never again;
// a rotated secret signs every attempt from then on, retries of older events included.

const presentWebhook = (row: webhooks.WebhookRow) => ({
  id: row.id,
  url: row.url,
  events: row.events,
  description: row.description,
  enabled: row.enabled,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export type Webhook = ReturnType<typeof presentWebhook>;

const presentDelivery = (row: webhooks.DeliveryRow & { log: webhooks.AttemptRow[] }) => ({
  id: row.id,
  eventId: row.eventId,
  eventType: row.eventType,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: row.status === 'pending' ? row.nextAttemptAt.toISOString() : null,
  createdAt: row.createdAt.toISOString(),
  log: row.log.map((attempt) => ({
    attemptedAt: attempt.attemptedAt.toISOString(),
    statusCode: attempt.statusCode,
    durationMs: attempt.durationMs,
    error: attempt.error,
    nextAttemptAt: attempt.nextAttemptAt?.toISOString() ?? null,
  })),
});

/** Where a webhook may point: WEBHOOK_ALLOW_PRIVATE_NETWORKS, and (in tests) the resolver of names. */
export interface TargetPolicy {
  allowPrivateNetworks: boolean;
  resolver?: Resolver | undefined;
}

/**
 * Refuses a URL that is not http(s), carries credentials, or whose host does not resolve or
 * resolves to an address no delivery may reach (422 at `/url`). The sender checks again at each
 * attempt: what a name resolves to can change.
 */
async function checkTarget(url: string, policy: TargetPolicy): Promise<void> {
  const errors = checkWebhookUrl(url);
  if (errors.length > 0) throw validationFailed(errors);
  try {
    await resolveTarget(hostOf(new URL(url)), policy.allowPrivateNetworks, policy.resolver);
  } catch (error) {
    if (error instanceof TargetRefusedError) throw validationFailed([{ path: '/url', message: error.message }], `url: ${error.message}`);
    throw error;
  }
}

export interface WebhookInput {
  url: string;
  events: readonly EventType[];
  description?: string | undefined;
}

export async function createWebhook(ctx: UseCaseContext, input: WebhookInput, policy: TargetPolicy) {
  await checkTarget(input.url, policy);
  const secret = newWebhookSecret();
  const row = await inTransaction(ctx, (tx) =>
    webhooks.insertWebhook(tx, {
      id: uuidv7(),
      url: input.url,
      events: [...new Set(input.events)],
      description: input.description ?? null,
      secret,
      createdById: ctx.actor?.id ?? null,
    }),
  );
  return { ...presentWebhook(row), secret };
}

export function listWebhooks(ctx: UseCaseContext, query: PageQuery) {
  return readPage(
    query,
    NEWEST_FIRST,
    (after) => reading(ctx, (db) => webhooks.listWebhooks(db, { after: after && [new Date(after[0]), after[1]], limit: query.limit })),
    presentWebhook,
  );
}

export async function getWebhook(ctx: UseCaseContext, id: string): Promise<Webhook> {
  const row = await reading(ctx, (db) => webhooks.findWebhook(db, id));
  if (row === undefined) throw notFound('webhook', id);
  return presentWebhook(row);
}

export interface WebhookChanges {
  url?: string | undefined;
  events?: readonly EventType[] | undefined;
  description?: string | null | undefined;
  enabled?: boolean | undefined;
  /** A new secret replaces the old at once; the answer carries it, this once. */
  rotateSecret?: true | undefined;
}

/**
 * Changes a webhook. Disabling one stops its deliveries: those already waiting stay pending and
 * are sent when it is enabled again, and none is written for the events in between.
 */
export async function updateWebhook(
  ctx: UseCaseContext,
  id: string,
  changes: WebhookChanges,
  policy: TargetPolicy,
): Promise<Webhook & { secret?: string }> {
  if (changes.url !== undefined) await checkTarget(changes.url, policy);
  const secret = changes.rotateSecret === true ? newWebhookSecret() : undefined;
  const row = await inTransaction(ctx, (tx) =>
    webhooks.updateWebhook(tx, id, {
      url: changes.url,
      events: changes.events === undefined ? undefined : [...new Set(changes.events)],
      description: changes.description,
      enabled: changes.enabled,
      secret,
    }),
  );
  if (row === undefined) throw notFound('webhook', id);
  return secret === undefined ? presentWebhook(row) : { ...presentWebhook(row), secret };
}

/** Deletes a webhook with its deliveries, sent or not, and their log. */
export async function deleteWebhook(ctx: UseCaseContext, id: string): Promise<void> {
  const deleted = await inTransaction(ctx, (tx) => webhooks.deleteWebhook(tx, id));
  if (!deleted) throw notFound('webhook', id);
}

/** A webhook's deliveries, newest first, each with the log of its attempts (one query for the page's logs). */
export async function listDeliveries(ctx: UseCaseContext, webhookId: string, query: PageQuery & { status?: DeliveryStatus | undefined }) {
  return readPage(
    query,
    NEWEST_FIRST,
    (after) =>
      reading(ctx, async (db) => {
        if ((await webhooks.findWebhook(db, webhookId)) === undefined) throw notFound('webhook', webhookId);
        const rows = await webhooks.listDeliveries(db, webhookId, {
          status: query.status,
          after: after && [new Date(after[0]), after[1]],
          limit: query.limit,
        });
        const attempts = await webhooks.findAttempts(
          db,
          rows.slice(0, query.limit).map((row) => row.id),
        );
        const byDelivery = groupBy(attempts, (attempt) => attempt.deliveryId);
        return rows.map((row) => ({ ...row, log: byDelivery.get(row.id) ?? [] }));
      }),
    presentDelivery,
  );
}

// ---- The sender's use cases (src/jobs/webhook-sender.ts) --------------------------------------

/**
 * Claims up to `limit` due deliveries for one sender, in one short transaction (see
 * `claimDueDeliveries`): each is leased to it for `leaseMs`.
 */
export function claimDeliveries(ctx: UseCaseContext, options: { limit: number; leaseMs: number; attemptsMax: number }) {
  return inTransaction(ctx, (tx) => webhooks.claimDueDeliveries(tx, options));
}

/** What one attempt came to: the answer's status, or why there was none. */
export interface AttemptResult {
  attemptedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
}

export type Settlement = 'delivered' | 'retry' | 'failed' | 'stale' | 'gone';

/**
 * Logs an attempt and settles its delivery, in one transaction: delivered on a 2xx; otherwise
 * pending again after the backoff (API.md), or failed once its attempts are used up. An attempt
 * whose lease ran out and whose delivery another sender has claimed since (or settled) is logged
 * but settles nothing: the newer claim decides. One whose webhook was deleted meanwhile is gone.
 */
export function recordAttempt(
  ctx: UseCaseContext,
  claimed: Pick<webhooks.ClaimedDelivery, 'id' | 'attempt'>,
  result: AttemptResult,
  schedule: RetrySchedule & { webhookMaxAttempts: number },
): Promise<Settlement> {
  return inTransaction(ctx, async (tx) => {
    const current = await webhooks.lockDelivery(tx, claimed.id);
    if (current === undefined) return 'gone';
    const log = { deliveryId: claimed.id, ...result, nextAttemptAt: null as Date | null };
    if (current.status !== 'pending' || current.attempts !== claimed.attempt) {
      await webhooks.insertAttempt(tx, log);
      return 'stale';
    }
    const succeeded = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    let settlement: Settlement;
    if (succeeded) {
      settlement = 'delivered';
      await webhooks.settleDelivery(tx, claimed.id, { status: 'delivered' });
    } else if (claimed.attempt >= schedule.webhookMaxAttempts) {
      settlement = 'failed';
      await webhooks.settleDelivery(tx, claimed.id, { status: 'failed' });
    } else {
      settlement = 'retry';
      log.nextAttemptAt = await webhooks.settleDelivery(tx, claimed.id, {
        status: 'pending',
        retryInMs: retryDelayMs(claimed.attempt, schedule),
      });
    }
    await webhooks.insertAttempt(tx, log);
    return settlement;
  });
}
