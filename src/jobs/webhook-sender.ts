import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config.ts';
import type { ClaimedDelivery } from '../db/webhooks.ts';
import type { Database } from '../db/database.ts';
import { hostOf, signDelivery } from '../domain/webhooks.ts';
import { checkedLookup, resolveTarget, type Resolver } from '../services/webhook-targets.ts';
import { claimDeliveries, recordAttempt, type AttemptResult } from '../services/webhooks.ts';
import { poolTaken } from './pool.ts';
import type { JobProgressLog } from './batches.ts';
import type { Job, JobLog } from './supervisor.ts';
import { Wake } from './wake.ts';

// The webhook sender (API.md, Events): every instance runs one, and they share the outbox
// (`webhook_deliveries`) through the database alone. A sender claims due deliveries in one short
// transaction that leases each to it (`claimDueDeliveries`), sends them with at most
// WEBHOOK_CONCURRENCY in flight, and records each outcome in a transaction of its own. Nothing is
// held open while a request is in flight, and a sender that dies mid-attempt only delays its
// deliveries until their leases end. So a delivery is sent at least once, never by two senders
// at once; a receiver may see one again (same webhook-id) when an answer is lost with its sender.

/** How often a sender looks for due deliveries when nothing wakes it sooner. */
export const WEBHOOK_POLL_MS = 500;
/**
 * What a lease adds to the attempt's own timeout (which covers resolving the name too): the time
 * to record the outcome (`RECORD_TIMEOUT_MS`) and some slack for the instances' clocks. Only a
 * sender that died waits it out; the others never see a leased delivery as due.
 */
export const LEASE_MARGIN_MS = 10_000;
/** How long recording an outcome may take; past it the delivery is retried when its lease ends. */
const RECORD_TIMEOUT_MS = 5000;
/**
 * Polls in a row a sender skips while every connection of the pool is taken or a request waits
 * for one: background work yields the pool to requests, though never for longer than this many
 * polls (10 s at WEBHOOK_POLL_MS), so that a busy instance still sends.
 */
const BUSY_POLLS_SKIPPED_MAX = 20;
/** A claim that fails (the database unreachable) is tried again later, backing off up to this. */
const CLAIM_BACKOFF_MAX_MS = 30_000;
/** How long after a run ended by an error the supervisor starts another (a run lasts until stop). */
const RESTART_MS = 1000;
/** The most of an error's text an attempt's log keeps. */
const ERROR_LENGTH_MAX = 500;
const USER_AGENT = 'Stockroom-Webhooks/1';

export type WebhookSettings = Pick<
  Config,
  | 'webhookTimeoutMs'
  | 'webhookMaxAttempts'
  | 'webhookRetryBaseMs'
  | 'webhookRetryMaxMs'
  | 'webhookConcurrency'
  | 'webhookAllowPrivateNetworks'
  | 'dbPoolMax'
>;

export interface WebhookSenderOptions {
  /**
   * Subscribes to "events were published" and answers the unsubscribe: the sender then looks for
   * deliveries at once rather than at its next poll.
   */
  onPublished?: ((listener: () => void) => () => void) | undefined;
  /** How often to look for due deliveries; WEBHOOK_POLL_MS unless a test asks otherwise. */
  pollMs?: number | undefined;
  /** How names are resolved; the system's resolver unless a test gives its own. */
  resolver?: Resolver | undefined;
}

/** The sender as a job: one run lasts from start to stop. */
export function webhookSenderJob(
  db: Database,
  config: WebhookSettings,
  log: JobLog & JobProgressLog,
  options: WebhookSenderOptions = {},
): Job {
  return {
    name: 'webhook-sender',
    intervalMs: RESTART_MS,
    firstRunMs: 0,
    run: (signal) => sendWebhooks(db, config, log, signal, options),
  };
}

/**
 * Sends due deliveries until the signal aborts. At stop, the attempts in flight are aborted (not
 * recorded: their leases make them due again) and waited for, so it returns promptly.
 */
export async function sendWebhooks(
  db: Database,
  settings: WebhookSettings,
  log: JobLog & JobProgressLog,
  signal: AbortSignal,
  options: WebhookSenderOptions = {},
): Promise<void> {
  const pollMs = options.pollMs ?? WEBHOOK_POLL_MS;
  const claim = { leaseMs: settings.webhookTimeoutMs + LEASE_MARGIN_MS, attemptsMax: settings.webhookMaxAttempts };
  const inFlight = new Set<Promise<void>>();
  const wake = new Wake();
  const unsubscribe = options.onPublished?.(() => wake.set());
  let failures = 0;
  let busyPolls = 0;
  try {
    while (!signal.aborted) {
      const free = settings.webhookConcurrency - inFlight.size;
      if (free > 0 && poolTaken(db, settings.dbPoolMax) && busyPolls < BUSY_POLLS_SKIPPED_MAX) {
        busyPolls += 1;
        await wake.wait(pollMs, signal);
        continue;
      }
      busyPolls = 0;
      if (free > 0) {
        let claimed: ClaimedDelivery[];
        try {
          claimed = await claimDeliveries({ db, actor: null, signal }, { ...claim, limit: free });
          failures = 0;
        } catch (error) {
          if (signal.aborted) break;
          failures += 1;
          log.warn({ err: error, failures }, 'the webhook sender could not claim deliveries; will retry');
          await wake.wait(Math.min(pollMs * 2 ** failures, CLAIM_BACKOFF_MAX_MS), signal);
          continue;
        }
        for (const delivery of claimed) {
          const sending = sendOne(db, settings, log, signal, options.resolver, delivery).finally(() => {
            inFlight.delete(sending);
            wake.set(); // a free slot: more may be due
          });
          inFlight.add(sending);
        }
        // Every free slot taken: more may be due at once, as soon as a slot frees.
        if (claimed.length === free) continue;
      }
      await wake.wait(pollMs, signal);
    }
  } finally {
    unsubscribe?.();
    await Promise.allSettled(inFlight);
  }
}

/** One attempt at a claimed delivery, and its outcome recorded; never rejects. */
async function sendOne(
  db: Database,
  settings: WebhookSettings,
  log: JobLog & JobProgressLog,
  stop: AbortSignal,
  resolver: Resolver | undefined,
  delivery: ClaimedDelivery,
): Promise<void> {
  const result = await attempt(delivery, settings, stop, resolver);
  if (result === 'stopped') return;
  try {
    const settlement = await recordAttempt({ db, actor: null, signal: AbortSignal.timeout(RECORD_TIMEOUT_MS) }, delivery, result, settings);
    if (settlement === 'failed') {
      log.warn(
        { deliveryId: delivery.id, webhookId: delivery.webhookId, eventId: delivery.eventId, attempts: delivery.attempt },
        'a webhook delivery failed after its last attempt',
      );
    }
  } catch (error) {
    log.warn({ err: error, deliveryId: delivery.id }, 'a webhook attempt could not be recorded; it is retried when its lease ends');
  }
}

/**
 * POSTs the event to the webhook's URL, signed for this attempt. Any answer is a result, as is a
 * refused target, a failed connection or no answer within WEBHOOK_TIMEOUT_MS; an attempt
 * aborted because the sender stops is none.
 */
async function attempt(
  delivery: ClaimedDelivery,
  settings: WebhookSettings,
  stop: AbortSignal,
  resolver: Resolver | undefined,
): Promise<AttemptResult | 'stopped'> {
  const body = JSON.stringify({ type: delivery.eventType, timestamp: delivery.eventCreatedAt.toISOString(), data: delivery.eventData });
  const attemptedAt = new Date();
  const headers = signDelivery(delivery.secret, delivery.eventId, Math.floor(attemptedAt.getTime() / 1000), body);
  // One controller aborted by the timeout or the stop, rather than AbortSignal.any: on Node.js 20
  // a signal made by any() from a long-lived one (the stop) is kept alive with it.
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort(new Error('timed out'));
  }, settings.webhookTimeoutMs);
  const onStop = () => abort.abort(stop.reason);
  stop.addEventListener('abort', onStop, { once: true });
  if (stop.aborted) onStop();
  const started = performance.now();
  let statusCode: number | null = null;
  let error: string | null = null;
  try {
    const url = new URL(delivery.url);
    const lookup = checkedLookup(settings.webhookAllowPrivateNetworks, resolver);
    // A connection to an IP literal resolves nothing, so its lookup is never asked: check it here.
    const host = hostOf(url);
    if (isIP(host) !== 0) await resolveTarget(host, settings.webhookAllowPrivateNetworks, resolver);
    const answer = await post(url, { ...headers, 'content-type': 'application/json' }, body, abort.signal, lookup);
    statusCode = answer.statusCode;
    if (statusCode >= 300 && statusCode < 400) {
      error = `redirects are not followed${answer.location === undefined ? '' : ` (Location: ${answer.location})`}`;
    }
  } catch (caught) {
    if (stop.aborted) return 'stopped';
    error = timedOut
      ? `no answer within WEBHOOK_TIMEOUT_MS (${settings.webhookTimeoutMs} ms)`
      : caught instanceof Error
        ? caught.message
        : String(caught);
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', onStop);
  }
  const durationMs = Math.round(performance.now() - started);
  return { attemptedAt, durationMs, statusCode, error: error?.slice(0, ERROR_LENGTH_MAX) ?? null };
}

/**
 * One POST on a connection of its own (no keep-alive: each attempt resolves and checks its
 * target again), through `lookup`. Resolves with the answer's status once its head arrives; the
 * body is not read. Redirects are not followed (node:http never does).
 */
function post(
  url: URL,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
  lookup: LookupFunction,
): Promise<{ statusCode: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? https.request : http.request;
    const request = send(
      url,
      {
        method: 'POST',
        agent: false,
        lookup,
        signal,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), 'user-agent': USER_AGENT },
      },
      (response) => {
        resolve({ statusCode: response.statusCode ?? 0, location: response.headers.location });
        response.destroy();
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
