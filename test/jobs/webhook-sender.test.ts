import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { WebhookVerificationError } from 'standardwebhooks';
import type { EventType } from '../../src/domain/events.ts';
import { backgroundJobs } from '../../src/jobs/background-jobs.ts';
import { sendWebhooks, webhookSenderJob, type WebhookSenderOptions, type WebhookSettings } from '../../src/jobs/webhook-sender.ts';
import { claimDeliveries } from '../../src/services/webhooks.ts';
import { insertEvent, publishAll } from '../support/events.ts';
import { api, createHarness, type Harness } from '../support/helpers.ts';
import { startReceiver, verified, type Receiver } from '../support/webhook-receiver.ts';

// The webhook sender (API.md, Events; src/jobs/webhook-sender.ts) against a real receiver on
// 127.0.0.1 that verifies every delivery with the published Standard Webhooks verifier: what is
// sent, when it is retried, when it gives up, what it refuses to reach, and that two senders on
// one database never send one delivery at once. Waits and timeouts are small so that it runs fast.

// The timeout is generous (the test that wants one to pass sets its own): an answer that comes
// after it, on a machine busy elsewhere, makes a legitimate retry that tests counting requests
// would take for a double send.
const SETTINGS: WebhookSettings = {
  webhookTimeoutMs: 3000,
  webhookMaxAttempts: 4,
  webhookRetryBaseMs: 40,
  webhookRetryMaxMs: 200,
  webhookConcurrency: 8,
  webhookAllowPrivateNetworks: true,
  dbPoolMax: 10,
};
const POLL_MS = 25;

let h: Harness;
let receiver: Receiver;
const warnings: string[] = [];
const log = { info: () => undefined, warn: (_details: object, message: string) => void warnings.push(message) };
const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

/** Runs a sender until `stop()`, which answers how long it took to return. */
function runSender(settings: Partial<WebhookSettings> = {}, options: WebhookSenderOptions = {}) {
  const controller = new AbortController();
  const running = sendWebhooks(h.db, { ...SETTINGS, ...settings }, log, controller.signal, { pollMs: POLL_MS, ...options });
  return {
    running,
    async stop() {
      const started = Date.now();
      controller.abort(new Error('test over'));
      await running;
      return Date.now() - started;
    },
  };
}

/** A webhook made through the API, to the receiver unless told otherwise. */
async function createWebhook(fields: Record<string, unknown> = {}): Promise<{ id: string; secret: string; url: string }> {
  const response = await api(h.app, 'POST', '/api/v1/webhooks', { url: `${receiver.base}/hook`, events: ['stock.changed'], ...fields });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

/** Writes and publishes events of one type; answers their public ids. */
async function publish(type: EventType, count = 1, data: (index: number) => Record<string, unknown> = (index) => ({ index })) {
  for (let index = 0; index < count; index += 1) await insertEvent(h.db, { type, data: data(index) });
  return publishAll(h.db);
}

async function deliveriesOf(webhookId: string) {
  const response = await api(h.app, 'GET', `/api/v1/webhooks/${webhookId}/deliveries?limit=500`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.items as {
    id: string;
    eventId: string;
    status: string;
    attempts: number;
    nextAttemptAt: string | null;
    log: { statusCode: number | null; error: string | null; durationMs: number; nextAttemptAt: string | null }[];
  }[];
}

async function settled(webhookId: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const deliveries = await deliveriesOf(webhookId);
    if (deliveries.length > 0 && deliveries.every((delivery) => delivery.status !== 'pending')) return deliveries;
    assert.ok(Date.now() < deadline, `settled within ${timeoutMs} ms: ${JSON.stringify(deliveries.map((d) => [d.status, d.attempts]))}`);
    await sleep(20);
  }
}

before(async () => {
  h = await createHarness({ webhookAllowPrivateNetworks: true }, { jobs: false });
});
after(() => h.close());
beforeEach(async () => {
  receiver = await startReceiver();
  warnings.length = 0;
  // Each test sees only its own webhooks' deliveries.
  await sql('DELETE FROM webhooks');
});
afterEach(() => receiver.close());

describe('the webhook sender', () => {
  it('POSTs a published event once, signed so that standardwebhooks verifies it, and logs the 2xx', async () => {
    const webhook = await createWebhook({ events: ['stock.changed'] });
    await insertEvent(h.db, { type: 'reservation.created', data: { reservationId: 'r' } }); // not subscribed to
    const [, eventId] = await publish('stock.changed', 1, () => ({ productId: 'p', onHand: 5 }));
    const [event] = await sql<{ createdAt: Date }>('SELECT created_at AS "createdAt" FROM events WHERE id = $1', [eventId]);
    const sender = runSender();
    try {
      const [delivery] = await settled(webhook.id);
      await sleep(200);
      assert.equal(receiver.requests.length, 1, 'sent once');
      const [request] = receiver.requests;
      assert.equal(request!.path, '/hook');
      assert.equal(request!.headers['content-type'], 'application/json');
      assert.equal(request!.webhookId, eventId);
      assert.deepEqual(verified(webhook.secret, request!), {
        type: 'stock.changed',
        timestamp: event!.createdAt.toISOString(),
        data: { productId: 'p', onHand: 5 },
      });
      assert.ok(Math.abs(Number(request!.headers['webhook-timestamp']) - Date.now() / 1000) < 5);
      assert.deepEqual(
        { eventId: delivery!.eventId, status: delivery!.status, attempts: delivery!.attempts, next: delivery!.nextAttemptAt },
        { eventId, status: 'delivered', attempts: 1, next: null },
      );
      assert.deepEqual(
        delivery!.log.map((attempt) => [attempt.statusCode, attempt.error, attempt.nextAttemptAt]),
        [[204, null, null]],
      );
    } finally {
      await sender.stop();
    }
  });

  it('sends nothing for an event that is not published yet, and sends it once it is', async () => {
    const webhook = await createWebhook();
    await insertEvent(h.db, { type: 'stock.changed', data: {} });
    const sender = runSender();
    try {
      await sleep(300);
      assert.equal(receiver.requests.length, 0);
      assert.deepEqual(
        (await deliveriesOf(webhook.id)).map((d) => [d.status, d.attempts]),
        [['pending', 0]],
      );
      await publishAll(h.db);
      await settled(webhook.id);
      assert.equal(receiver.requests.length, 1);
    } finally {
      await sender.stop();
    }
  });

  it('retries a delivery that failed N times until a 2xx, with the same webhook-id and a log row per attempt', async () => {
    const webhook = await createWebhook();
    receiver.reply = (request) => (request.seenBefore < 2 ? { status: 500 } : { status: 200 });
    const [eventId] = await publish('stock.changed');
    const sender = runSender();
    try {
      const [delivery] = await settled(webhook.id);
      assert.equal(delivery!.status, 'delivered');
      assert.equal(delivery!.attempts, 3);
      assert.deepEqual(
        receiver.requests.map((request) => request.webhookId),
        [eventId, eventId, eventId],
      );
      for (const request of receiver.requests) verified(webhook.secret, request);
      assert.deepEqual(
        delivery!.log.map((attempt) => [attempt.statusCode, attempt.nextAttemptAt !== null]),
        [
          [500, true],
          [500, true],
          [200, false],
        ],
      );
    } finally {
      await sender.stop();
    }
  });

  it('abandons an attempt that gets no answer within WEBHOOK_TIMEOUT_MS, logs it and retries', async () => {
    const webhook = await createWebhook();
    receiver.reply = (request) => (request.seenBefore === 0 ? 'hang' : { status: 202 });
    await publish('stock.changed');
    const sender = runSender({ webhookTimeoutMs: 300 });
    try {
      const [delivery] = await settled(webhook.id);
      assert.equal(delivery!.status, 'delivered');
      const timedOut = delivery!.log[0]!;
      assert.equal(timedOut.statusCode, null);
      assert.match(timedOut.error ?? '', /no answer within WEBHOOK_TIMEOUT_MS \(300 ms\)/);
      assert.ok(timedOut.durationMs >= 290 && timedOut.durationMs < 2000, `${timedOut.durationMs} ms`);
      assert.notEqual(timedOut.nextAttemptAt, null, 'retried');
      // Then answered (a slow machine may time out a 202 too, and retry once more).
      assert.equal(delivery!.log.at(-1)!.statusCode, 202);
      assert.equal(receiver.requests.length, delivery!.log.length);
    } finally {
      await sender.stop();
    }
  });

  it('marks a delivery failed once WEBHOOK_MAX_ATTEMPTS attempts have failed, and sends it no more', async () => {
    const webhook = await createWebhook();
    receiver.reply = () => ({ status: 503 });
    await publish('stock.changed');
    const sender = runSender({ webhookMaxAttempts: 3 });
    try {
      const [delivery] = await settled(webhook.id);
      assert.deepEqual([delivery!.status, delivery!.attempts, delivery!.nextAttemptAt], ['failed', 3, null]);
      assert.deepEqual(
        delivery!.log.map((attempt) => [attempt.statusCode, attempt.nextAttemptAt !== null]),
        [
          [503, true],
          [503, true],
          [503, false],
        ],
      );
      await sleep(400);
      assert.equal(receiver.requests.length, 3);
    } finally {
      await sender.stop();
    }
  });

  it('does not follow a redirect: a 3xx is a failed attempt, and the target of its Location is never asked', async () => {
    const webhook = await createWebhook();
    receiver.reply = (request) => (request.path === '/hook' ? { status: 307, location: `${receiver.base}/elsewhere` } : { status: 200 });
    await publish('stock.changed');
    const sender = runSender({ webhookMaxAttempts: 2 });
    try {
      const [delivery] = await settled(webhook.id);
      assert.equal(delivery!.status, 'failed');
      assert.deepEqual(
        delivery!.log.map((attempt) => attempt.statusCode),
        [307, 307],
      );
      assert.match(delivery!.log[0]!.error ?? '', /redirects are not followed/);
      assert.deepEqual(
        receiver.requests.map((request) => request.path),
        ['/hook', '/hook'],
      );
    } finally {
      await sender.stop();
    }
  });

  it('logs a refused connection as an error and retries it', async () => {
    const closed = await startReceiver();
    await closed.close();
    const webhook = await createWebhook({ url: `${closed.base}/hook` });
    await publish('stock.changed');
    const sender = runSender({ webhookMaxAttempts: 2 });
    try {
      const [delivery] = await settled(webhook.id);
      assert.equal(delivery!.status, 'failed');
      assert.deepEqual(
        delivery!.log.map((attempt) => attempt.statusCode),
        [null, null],
      );
      assert.match(delivery!.log[0]!.error ?? '', /ECONNREFUSED/);
    } finally {
      await sender.stop();
    }
  });

  it('checks the target again at delivery time: a URL allowed when made is refused without connecting when private networks are not', async () => {
    // Made while WEBHOOK_ALLOW_PRIVATE_NETWORKS was true (the harness); sent by a sender without it.
    const byAddress = await createWebhook({ url: `${receiver.base}/hook` });
    const byName = await createWebhook({ url: `http://localhost:${receiver.port}/hook` });
    await publish('stock.changed');
    const sender = runSender({ webhookAllowPrivateNetworks: false, webhookMaxAttempts: 2 });
    try {
      for (const webhook of [byAddress, byName]) {
        const [delivery] = await settled(webhook.id);
        assert.equal(delivery!.status, 'failed');
        assert.equal(delivery!.log.length, 2);
        for (const attempt of delivery!.log) {
          assert.equal(attempt.statusCode, null);
          assert.match(attempt.error ?? '', /loopback, private, link-local or reserved address/);
        }
      }
      assert.equal(receiver.requests.length, 0, 'the receiver was never reached');
    } finally {
      await sender.stop();
    }
  });

  it('connects to the address it resolved a name to, sending the name as Host', async () => {
    const webhook = await createWebhook({ url: `http://localhost:${receiver.port}/hook` });
    await publish('stock.changed');
    const sender = runSender();
    try {
      const [delivery] = await settled(webhook.id);
      assert.equal(delivery!.status, 'delivered');
      assert.equal(receiver.requests[0]!.headers.host, `localhost:${receiver.port}`);
    } finally {
      await sender.stop();
    }
  });

  it('sends nothing to a disabled webhook: its deliveries wait, pending, and go out once it is enabled again', async () => {
    const webhook = await createWebhook();
    await publish('stock.changed', 2);
    assert.equal((await api(h.app, 'PATCH', `/api/v1/webhooks/${webhook.id}`, { enabled: false })).status, 200);
    const sender = runSender();
    try {
      await sleep(300);
      assert.equal(receiver.requests.length, 0);
      assert.deepEqual(
        (await deliveriesOf(webhook.id)).map((d) => [d.status, d.attempts]),
        [
          ['pending', 0],
          ['pending', 0],
        ],
      );
      // Events while it is disabled make no delivery for it.
      await insertEvent(h.db, { type: 'stock.changed', data: {} });
      assert.equal((await api(h.app, 'PATCH', `/api/v1/webhooks/${webhook.id}`, { enabled: true })).status, 200);
      const deliveries = await settled(webhook.id);
      assert.deepEqual(
        deliveries.map((d) => d.status),
        ['delivered', 'delivered'],
      );
      assert.equal(receiver.requests.length, 2);
    } finally {
      await sender.stop();
    }
  });

  it('signs with the rotated secret from the rotation on: the old one no longer verifies', async () => {
    const webhook = await createWebhook();
    const rotated = await api(h.app, 'PATCH', `/api/v1/webhooks/${webhook.id}`, { rotateSecret: true });
    await publish('stock.changed');
    const sender = runSender();
    try {
      await settled(webhook.id);
      const [request] = receiver.requests;
      assert.ok(verified(rotated.body.secret, request!));
      assert.throws(() => verified(webhook.secret, request!), WebhookVerificationError);
    } finally {
      await sender.stop();
    }
  });

  it('at stop aborts the attempts in flight and returns promptly; their leases make them due again, and they are sent', async () => {
    const webhook = await createWebhook();
    receiver.reply = (request) => (request.seenBefore === 0 ? 'hang' : { status: 200 });
    const [eventId] = await publish('stock.changed');
    const sender = runSender({ webhookTimeoutMs: 30_000 });
    await receiver.until(() => receiver.requests.length === 1, 5000, 'the first attempt');
    const tookMs = await sender.stop();
    assert.ok(tookMs < 500, `stopped in ${tookMs} ms`);
    const [leased] = await deliveriesOf(webhook.id);
    assert.deepEqual([leased!.status, leased!.attempts, leased!.log], ['pending', 1, []], 'an aborted attempt is not logged');
    assert.ok(Date.parse(leased!.nextAttemptAt!) > Date.now() + 30_000, 'leased past the attempt timeout');

    // Another sender finds it due once the lease has run out (here: made to run out).
    await sql('UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1', [leased!.id]);
    const next = runSender();
    try {
      const [delivery] = await settled(webhook.id);
      assert.deepEqual([delivery!.status, delivery!.attempts], ['delivered', 2]);
      assert.deepEqual(
        receiver.requests.map((request) => request.webhookId),
        [eventId, eventId],
      );
    } finally {
      await next.stop();
    }
  });

  it('is woken by onPublished at once, without waiting for its poll', async () => {
    const webhook = await createWebhook();
    const listeners = new Set<() => void>();
    const onPublished = (listener: () => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    };
    const sender = runSender({}, { pollMs: 60_000, onPublished });
    try {
      await sleep(100); // its first look found nothing; the next poll is a minute away
      await publish('stock.changed');
      const woken = Date.now();
      for (const listener of listeners) listener();
      await settled(webhook.id, 2000);
      assert.ok(Date.now() - woken < 2000);
    } finally {
      await sender.stop();
    }
    assert.equal(listeners.size, 0, 'unsubscribed at stop');
  });
});

describe('several senders on one database', () => {
  it('claim disjoint deliveries when they claim at once', async () => {
    await createWebhook({ url: 'http://127.0.0.1:9/never-sent' });
    await publish('stock.changed', 30);
    const ctx = { db: h.db, actor: null };
    const claims = await Promise.all(Array.from({ length: 12 }, () => claimDeliveries(ctx, { limit: 4, leaseMs: 60_000, attemptsMax: 5 })));
    const ids = claims.flat().map((delivery) => delivery.id);
    assert.equal(ids.length, 30, 'every due delivery claimed');
    assert.equal(new Set(ids).size, 30, 'none claimed twice');
    assert.deepEqual(await claimDeliveries(ctx, { limit: 4, leaseMs: 60_000, attemptsMax: 5 }), [], 'leased: none is due');
  });

  it('never send one delivery twice at once, and send every one', async () => {
    const webhook = await createWebhook();
    let calls = 0;
    // Slow answers keep attempts in flight; one in four fails, so retries mix in.
    receiver.reply = () => ((calls += 1) % 4 === 0 ? { status: 500, delayMs: 20 } : { status: 200, delayMs: 20 });
    const eventIds = await publish('stock.changed', 40);
    const senders = [runSender({ webhookConcurrency: 4 }), runSender({ webhookConcurrency: 4 })];
    try {
      const deliveries = await settled(webhook.id, 15_000);
      assert.ok(deliveries.every((delivery) => delivery.status === 'delivered'));
      assert.equal(receiver.maxInFlightPerId(), 1, 'no webhook-id was ever in flight twice at once');
      const delivered = receiver.deliveredIds();
      assert.deepEqual([...delivered.keys()].sort(), [...eventIds].sort(), 'every event delivered');
      assert.ok(
        [...delivered.values()].every((times) => times === 1),
        'each delivered once',
      );
    } finally {
      await Promise.all(senders.map((sender) => sender.stop()));
    }
  });
});

describe('the sender as a job', () => {
  it('is one of the jobs every instance runs, one run from start to stop', async () => {
    const job = webhookSenderJob(h.db, SETTINGS, log);
    assert.equal(job.name, 'webhook-sender');
    assert.equal(job.firstRunMs, 0);
    const jobs = backgroundJobs(h.db, { ...h.config, ...SETTINGS }, { ...log, error: () => undefined } as never, undefined);
    const webhook = await createWebhook();
    await publish('stock.changed');
    jobs.start();
    try {
      await settled(webhook.id);
    } finally {
      await jobs.stop();
    }
  });
});
