import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { signDelivery } from '../../../src/domain/webhooks.ts';
import { claimDeliveries, recordAttempt } from '../../../src/services/webhooks.ts';
import { assertProblem, assertValidationError, TIMESTAMP, UNKNOWN_ID, UUID } from '../../support/assertions.ts';
import { insertEvent, publishAll } from '../../support/events.ts';
import { createUser } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness } from '../../support/helpers.ts';

// The specification of webhook management (API.md, Events): admin-only CRUD, the secret shown
// at creation and rotation only, the validation of URLs and event types, the refusal of targets
// on loopback, private and link-local networks, and the log of deliveries. Sending is
// test/jobs/webhook-sender.test.ts's. The app here runs no jobs, so nothing is ever sent.

/** A public address that needs no DNS: nothing is sent to it here. */
const PUBLIC_URL = 'https://93.184.216.34/hooks/stockroom';

let h: Harness;
const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));
const countWebhooks = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM webhooks'))[0]!.n;

function assertStatus(response: ApiResponse, status: number) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

async function createWebhook(fields: Record<string, unknown> = {}) {
  return assertStatus(await api(h.app, 'POST', '/api/v1/webhooks', { url: PUBLIC_URL, events: ['stock.changed'], ...fields }), 201);
}

before(async () => {
  h = await createHarness({ webhookAllowPrivateNetworks: false }, { jobs: false });
});
after(() => h.close());

describe('POST /api/v1/webhooks', () => {
  it('creates a webhook and answers it with its secret, this once', async () => {
    const created = await createWebhook({ events: ['stock.changed', 'reservation.created'], description: 'ERP sync' });
    assert.match(created.id, UUID);
    assert.match(created.secret, /^whsec_[A-Za-z0-9+/]{32}$/);
    assert.equal(Buffer.from(created.secret.slice(6), 'base64').length, 24);
    assert.deepEqual(
      { url: created.url, events: created.events, description: created.description, enabled: created.enabled },
      { url: PUBLIC_URL, events: ['stock.changed', 'reservation.created'], description: 'ERP sync', enabled: true },
    );
    assert.match(created.createdAt, TIMESTAMP);
    assert.match(created.updatedAt, TIMESTAMP);

    const read = assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${created.id}`), 200);
    const { secret: _secret, ...withoutSecret } = created;
    assert.deepEqual(read, withoutSecret);
    const listed = assertStatus(await api(h.app, 'GET', '/api/v1/webhooks?limit=500'), 200);
    const item = listed.items.find((webhook: { id: string }) => webhook.id === created.id);
    assert.deepEqual(item, withoutSecret);
    assert.ok(!JSON.stringify(listed).includes(created.secret), 'the list shows no secret');
  });

  it('gives every webhook a secret of its own; a description is optional', async () => {
    const [a, b] = [await createWebhook(), await createWebhook()];
    assert.notEqual(a.secret, b.secret);
    assert.equal(a.description, null);
  });

  it('refuses unknown event types, an empty or repeated list, and a missing URL with 422, writing nothing', async () => {
    const before = await countWebhooks();
    const post = (body: unknown) => api(h.app, 'POST', '/api/v1/webhooks', body);
    assertValidationError(await post({ url: PUBLIC_URL, events: ['stock.changed', 'stock.stolen'] }), '/events/1');
    assertValidationError(await post({ url: PUBLIC_URL, events: [] }), '/events');
    assertValidationError(await post({ url: PUBLIC_URL, events: ['stock.low', 'stock.low'] }), '/events');
    assertValidationError(await post({ url: PUBLIC_URL }), '/events');
    assertValidationError(await post({ events: ['stock.low'] }), '/url');
    assertValidationError(await post({ url: PUBLIC_URL, events: ['stock.low'], secret: 'whsec_mine' }), '/secret');
    assertValidationError(await post({ url: PUBLIC_URL, events: ['stock.low'], description: 'x'.repeat(501) }), '/description');
    assert.equal(await countWebhooks(), before);
  });

  it('refuses a URL that is not http(s), has credentials, or is not a URL, with 422 at /url', async () => {
    const before = await countWebhooks();
    for (const url of [
      'ftp://93.184.216.34/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      '93.184.216.34/hook',
      'https://user:secret@93.184.216.34/hook',
      'https://token@93.184.216.34/hook',
      'not a url',
    ]) {
      assertValidationError(await api(h.app, 'POST', '/api/v1/webhooks', { url, events: ['stock.low'] }), '/url');
    }
    assert.equal(await countWebhooks(), before);
  });

  it('refuses URLs on loopback, private and link-local networks, by address or by name, and names that do not resolve', async () => {
    const before = await countWebhooks();
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://10.1.2.3/hook',
      'http://192.168.1.10/hook',
      'http://172.20.0.1/hook',
      'http://100.64.0.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/hook',
      'http://[fd00::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://0.0.0.0/hook',
      'http://localhost:3000/hook',
      'http://nothing-here.invalid/hook',
    ]) {
      const response = await api(h.app, 'POST', '/api/v1/webhooks', { url, events: ['stock.low'] });
      assertValidationError(response, '/url');
      assert.match(response.body.errors[0].message, /loopback, private|does not resolve/, url);
    }
    assert.equal(await countWebhooks(), before);
  });

  it('is for admins only: a manager gets 403 and writes nothing', async () => {
    const manager = await createUser(h.app, { role: 'manager' });
    const before = await countWebhooks();
    assertProblem(await api(h.app, 'POST', '/api/v1/webhooks', { url: PUBLIC_URL, events: ['stock.low'] }, manager.auth), 403, 'forbidden');
    assert.equal(await countWebhooks(), before);
    const webhook = await createWebhook();
    for (const [method, url, body] of [
      ['GET', '/api/v1/webhooks', undefined],
      ['GET', `/api/v1/webhooks/${webhook.id}`, undefined],
      ['PATCH', `/api/v1/webhooks/${webhook.id}`, { rotateSecret: true }],
      ['DELETE', `/api/v1/webhooks/${webhook.id}`, undefined],
      ['GET', `/api/v1/webhooks/${webhook.id}/deliveries`, undefined],
    ] as const) {
      assertProblem(await api(h.app, method, url, body, manager.auth), 403, 'forbidden');
    }
    assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}`), 200);
  });
});

describe('with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true', () => {
  let open: Harness;
  before(async () => {
    open = await createHarness({ webhookAllowPrivateNetworks: true }, { jobs: false });
  });
  after(() => open.close());

  it('accepts URLs on loopback, private and link-local networks, but still not a name that does not resolve', async () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://10.1.2.3/hook',
      'http://169.254.169.254/x',
      'http://[::1]/hook',
      'http://localhost/hook',
    ]) {
      assertStatus(await api(open.app, 'POST', '/api/v1/webhooks', { url, events: ['stock.low'] }), 201);
    }
    assertValidationError(
      await api(open.app, 'POST', '/api/v1/webhooks', { url: 'http://nothing-here.invalid/', events: ['stock.low'] }),
      '/url',
    );
  });
});

describe('GET /api/v1/webhooks', () => {
  it('lists newest first, a page at a time, with a cursor', async () => {
    const made = [await createWebhook(), await createWebhook(), await createWebhook()].map((webhook) => webhook.id);
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await api(h.app, 'GET', `/api/v1/webhooks?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      assertStatus(page, 200);
      assert.ok(page.body.items.length <= 2);
      all.push(...page.body.items.map((webhook: { id: string }) => webhook.id));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    assert.equal(new Set(all).size, all.length, 'no webhook on two pages');
    assert.deepEqual(
      all.filter((id) => made.includes(id)),
      [...made].reverse(),
    );
    assert.equal(all.length, await countWebhooks());
  });

  it('refuses a cursor it did not issue with 422', async () => {
    assertValidationError(await api(h.app, 'GET', '/api/v1/webhooks?cursor=bm9wZQ'), '/cursor');
  });
});

describe('PATCH /api/v1/webhooks/{id}', () => {
  it('changes the URL, events, description and enabled, keeping the secret', async () => {
    const webhook = await createWebhook({ description: 'before' });
    const changed = assertStatus(
      await api(h.app, 'PATCH', `/api/v1/webhooks/${webhook.id}`, {
        url: 'https://93.184.216.35/other',
        events: ['stock.low', 'movement.recorded'],
        description: null,
        enabled: false,
      }),
      200,
    );
    assert.deepEqual(
      { url: changed.url, events: changed.events, description: changed.description, enabled: changed.enabled },
      { url: 'https://93.184.216.35/other', events: ['stock.low', 'movement.recorded'], description: null, enabled: false },
    );
    assert.equal(changed.secret, undefined, 'no secret unless rotated');
    assert.deepEqual(await sql('SELECT secret FROM webhooks WHERE id = $1', [webhook.id]), [{ secret: webhook.secret }]);
    assert.deepEqual(assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}`), 200), changed);
  });

  it('rotates the secret: the answer carries the new one, which signs from now on, and the old one no longer verifies', async () => {
    const webhook = await createWebhook();
    const rotated = assertStatus(await api(h.app, 'PATCH', `/api/v1/webhooks/${webhook.id}`, { rotateSecret: true }), 200);
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, webhook.secret);
    const [stored] = await sql<{ secret: string }>('SELECT secret FROM webhooks WHERE id = $1', [webhook.id]);
    assert.equal(stored!.secret, rotated.secret);
    const body = '{"type":"stock.low"}';
    const headers = signDelivery(stored!.secret, '1', Math.floor(Date.now() / 1000), body);
    assert.deepEqual(new Webhook(rotated.secret).verify(body, { ...headers }), { type: 'stock.low' });
    assert.throws(() => new Webhook(webhook.secret).verify(body, { ...headers }), WebhookVerificationError);
  });

  it('refuses a URL on a private network with 422 and changes nothing', async () => {
    const webhook = await createWebhook();
    for (const url of ['http://127.0.0.1/x', 'http://169.254.169.254/', 'http://localhost/', 'ftp://93.184.216.34/']) {
      assertValidationError(await api(h.app, 'PATCH', `/api/v1/webhooks/${webhook.id}`, { url, enabled: false }), '/url');
    }
    const read = assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}`), 200);
    assert.equal(read.url, PUBLIC_URL);
    assert.equal(read.enabled, true);
  });

  it('refuses an empty change, rotateSecret other than true, unknown types and fields with 422; an unknown id is 404', async () => {
    const webhook = await createWebhook();
    const patch = (body: unknown, id = webhook.id) => api(h.app, 'PATCH', `/api/v1/webhooks/${id}`, body);
    assertProblem(await patch({}), 422, 'validation_failed');
    assertValidationError(await patch({ rotateSecret: false }), '/rotateSecret');
    assertValidationError(await patch({ events: ['stock.moved'] }), '/events/0');
    assertValidationError(await patch({ events: [] }), '/events');
    assertValidationError(await patch({ secret: 'whsec_mine' }), '/secret');
    assertProblem(await patch({ enabled: false }, UNKNOWN_ID), 404, 'not_found');
    assert.equal(assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}`), 200).updatedAt, webhook.updatedAt);
  });
});

describe('DELETE /api/v1/webhooks/{id}', () => {
  it('deletes the webhook with its deliveries; again is 404', async () => {
    const webhook = await createWebhook({ events: ['stock.low'] });
    await insertEvent(h.db, { type: 'stock.low', data: { productId: UNKNOWN_ID } });
    assert.equal((await sql('SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1', [webhook.id])).length, 1);
    assert.equal((await api(h.app, 'DELETE', `/api/v1/webhooks/${webhook.id}`)).status, 204);
    assertProblem(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}`), 404, 'not_found');
    assert.deepEqual(await sql('SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1', [webhook.id]), []);
    assertProblem(await api(h.app, 'DELETE', `/api/v1/webhooks/${webhook.id}`), 404, 'not_found');
  });
});

describe('GET /api/v1/webhooks/{id}/deliveries', () => {
  const settings = { webhookRetryBaseMs: 60_000, webhookRetryMaxMs: 3_600_000, webhookMaxAttempts: 2 };
  const attemptResult = (statusCode: number | null, error: string | null) => ({
    attemptedAt: new Date(),
    durationMs: 12,
    statusCode,
    error,
  });

  it("lists a webhook's deliveries newest first with each attempt's log, filtered by status, a page at a time", async () => {
    // Subscribed to stock.low only: the other events make no delivery for it.
    const webhook = await createWebhook({ events: ['stock.low'] });
    await sql('UPDATE webhooks SET enabled = false WHERE id <> $1', [webhook.id]);
    for (let i = 0; i < 3; i += 1) {
      await insertEvent(h.db, { type: 'stock.low', data: { n: i } });
      await insertEvent(h.db, { type: 'stock.changed', data: { n: i } });
    }
    const unpublished = await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}/deliveries`);
    assert.deepEqual(
      assertStatus(unpublished, 200).items.map((d: { eventId: string | null; status: string }) => [d.eventId, d.status]),
      [
        [null, 'pending'],
        [null, 'pending'],
        [null, 'pending'],
      ],
    );
    await publishAll(h.db);

    // Three attempts by hand, as the sender makes them: one delivered, one failed twice (its last), one failed once.
    const ctx = { db: h.db, actor: null };
    const claim = () => claimDeliveries(ctx, { limit: 10, leaseMs: 0, attemptsMax: 2 });
    const first = await claim();
    assert.equal(first.length, 3);
    first.sort((a, b) => Number(a.eventId) - Number(b.eventId));
    assert.equal(await recordAttempt(ctx, first[0]!, attemptResult(200, null), settings), 'delivered');
    assert.equal(await recordAttempt(ctx, first[1]!, attemptResult(503, null), settings), 'retry');
    assert.equal(await recordAttempt(ctx, first[2]!, attemptResult(null, 'connect ECONNREFUSED'), settings), 'retry');
    await sql(`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1`, [first[1]!.id]);
    const second = await claim();
    assert.deepEqual(
      second.map((d) => [d.id, d.attempt]),
      [[first[1]!.id, 2]],
    );
    assert.equal(await recordAttempt(ctx, second[0]!, attemptResult(500, null), settings), 'failed');

    const page = assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}/deliveries`), 200);
    assert.equal(page.nextCursor, null);
    assert.deepEqual(
      page.items.map((d: { id: string }) => d.id),
      [first[2]!.id, first[1]!.id, first[0]!.id],
      'newest first',
    );
    const [retrying, failed, delivered] = page.items;
    assert.deepEqual(
      {
        eventId: delivered.eventId,
        eventType: delivered.eventType,
        status: delivered.status,
        attempts: delivered.attempts,
        next: delivered.nextAttemptAt,
      },
      { eventId: first[0]!.eventId, eventType: 'stock.low', status: 'delivered', attempts: 1, next: null },
    );
    assert.deepEqual(delivered.log, [
      { attemptedAt: delivered.log[0].attemptedAt, statusCode: 200, durationMs: 12, error: null, nextAttemptAt: null },
    ]);
    assert.match(delivered.log[0].attemptedAt, TIMESTAMP);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts, 2);
    assert.equal(failed.nextAttemptAt, null);
    assert.deepEqual(
      failed.log.map((a: { statusCode: number; nextAttemptAt: string | null }) => [a.statusCode, a.nextAttemptAt === null]),
      [
        [503, false],
        [500, true],
      ],
    );
    assert.equal(retrying.status, 'pending');
    assert.deepEqual(
      retrying.log.map((a: { statusCode: number | null; error: string | null }) => [a.statusCode, a.error]),
      [[null, 'connect ECONNREFUSED']],
    );
    // The next attempt about a base's wait away (jitter takes up to a quarter off), told in the log too.
    const waitMs = Date.parse(retrying.nextAttemptAt) - Date.parse(retrying.log[0].attemptedAt);
    assert.ok(waitMs > 60_000 * 0.75 - 1000 && waitMs <= 60_000 + 1000, `next attempt ${waitMs} ms later`);
    assert.equal(retrying.log[0].nextAttemptAt, retrying.nextAttemptAt);

    const onlyFailed = assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}/deliveries?status=failed`), 200);
    assert.deepEqual(
      onlyFailed.items.map((d: { id: string }) => d.id),
      [failed.id],
    );
    const firstPage = assertStatus(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}/deliveries?limit=2`), 200);
    assert.deepEqual(
      firstPage.items.map((d: { id: string }) => d.id),
      [retrying.id, failed.id],
    );
    const secondPage = assertStatus(
      await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}/deliveries?limit=2&cursor=${firstPage.nextCursor}`),
      200,
    );
    assert.deepEqual(secondPage, { items: [delivered], nextCursor: null });
  });

  it('answers 404 for a webhook that does not exist, and 422 for an unknown status', async () => {
    assertProblem(await api(h.app, 'GET', `/api/v1/webhooks/${UNKNOWN_ID}/deliveries`), 404, 'not_found');
    const webhook = await createWebhook();
    assertValidationError(await api(h.app, 'GET', `/api/v1/webhooks/${webhook.id}/deliveries?status=lost`), '/status');
  });
});
