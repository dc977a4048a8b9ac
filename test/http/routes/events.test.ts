import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { trimEvents } from '../../../src/jobs/event-retention.ts';
import { assertProblem } from '../../support/assertions.ts';
import { publishAll } from '../../support/events.ts';
import { openEventStream, type EventStreamClient, type StreamMessage } from '../../support/event-stream.ts';
import { createLocation, createProduct, createUser, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, listen, TEST_ADMIN, type Harness } from '../../support/helpers.ts';
import { startReceiver, verified } from '../../support/webhook-receiver.ts';

// The event stream (API.md, Events) over real HTTP, with the background jobs running as in
// production (the publisher numbers events and wakes the feed).

let h: Harness;
let base: string;
const open: EventStreamClient[] = [];
before(async () => {
  // The webhook receiver listens on 127.0.0.1.
  h = await createHarness({ eventsHeartbeatS: 1, webhookAllowPrivateNetworks: true });
  base = await listen(h.app);
});
after(() => h.close());
afterEach(() => {
  for (const stream of open.splice(0)) stream.close();
});

const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

/** A stream from now: after every event of what the test did before. */
async function stream(query = '', headers: Record<string, string> = h.auth): Promise<EventStreamClient> {
  await publishAll(h.db); // what the test did before is published: the stream starts after it
  // Its headers come once its start is fixed: whatever the test does next comes after it.
  const client = await openEventStream(`${base}/api/v1/events${query}`, headers);
  open.push(client);
  return client;
}

function ok<T = any>(response: { status: number; body: T }, status = 200): T {
  assert.ok(
    response.status === status || (status === 200 && response.status === 201),
    `got ${response.status}: ${JSON.stringify(response.body)}`,
  );
  return response.body;
}

const types = (messages: StreamMessage[]) => messages.map((message) => message.event);
const ids = (messages: StreamMessage[]) => messages.map((message) => Number(message.id));

function assertConsecutive(messages: StreamMessage[]) {
  const seen = ids(messages);
  for (let index = 1; index < seen.length; index += 1)
    assert.equal(seen[index], seen[index - 1]! + 1, `ids run without a gap: ${seen.join(',')}`);
}

describe('GET /api/v1/events', () => {
  it('streams a movement as movement.recorded then one stock.changed per level, with the balances it left', async () => {
    const product = await createProduct(h.app);
    const location = await createLocation(h.app);
    const client = await stream();
    assert.equal(client.status, 200);
    assert.match(client.headers.get('content-type') ?? '', /^text\/event-stream/);
    const movement = ok(
      await recordMovement(h.app, { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 7 }] }),
    );
    const messages = await client.waitFor(2);
    assert.deepEqual(types(messages), ['movement.recorded', 'stock.changed']);
    assert.deepEqual(messages[0]!.data, {
      movementId: movement.id,
      type: 'inbound',
      locationId: location.id,
      toLocationId: null,
      reference: null,
      createdAt: movement.createdAt,
    });
    assert.deepEqual(messages[1]!.data, {
      productId: product.id,
      locationId: location.id,
      onHand: 7,
      reserved: 0,
      available: 7,
      movementId: movement.id,
      reservationId: null,
    });
    assertConsecutive(messages);
  });

  it('a transfer changes two levels; a refused movement writes no event', async () => {
    const product = await createProduct(h.app);
    const from = await createLocation(h.app);
    const to = await createLocation(h.app);
    await stockUp(h.app, product.id, from.id, 5);
    const client = await stream();
    const refused = await recordMovement(h.app, { type: 'outbound', locationId: from.id, lines: [{ productId: product.id, quantity: 6 }] });
    assert.equal(refused.status, 409);
    ok(
      await recordMovement(h.app, {
        type: 'transfer',
        locationId: from.id,
        toLocationId: to.id,
        lines: [{ productId: product.id, quantity: 2 }],
      }),
    );
    const messages = await client.waitFor(3);
    await sleep(200);
    assert.deepEqual(types(client.messages), ['movement.recorded', 'stock.changed', 'stock.changed'], 'nothing of the refused outbound');
    const levels = messages.slice(1).map((message) => [message.data.locationId, message.data.onHand]);
    assert.deepEqual(
      levels.sort(),
      [
        [from.id, 3],
        [to.id, 2],
      ].sort(),
    );
  });

  it('stock.low fires when available crosses the reorder point, not on every change below it', async () => {
    const product = await createProduct(h.app, { reorderPoint: 5 });
    const location = await createLocation(h.app);
    await stockUp(h.app, product.id, location.id, 10);
    const client = await stream(`?types=stock.low,stock.changed`);
    const ship = (quantity: number) =>
      recordMovement(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity }] });
    ok(await ship(3)); // 7: above
    ok(await ship(3)); // 4: crosses
    ok(await ship(1)); // 3: still below
    await stockUp(h.app, product.id, location.id, 10); // 13
    ok(await ship(8)); // 5: crosses again (at the point)
    const messages = await client.waitFor(7);
    await sleep(200);
    assert.deepEqual(types(client.messages), [
      'stock.changed',
      'stock.changed',
      'stock.low',
      'stock.changed',
      'stock.changed',
      'stock.changed',
      'stock.low',
    ]);
    assert.deepEqual(messages[2]!.data, { productId: product.id, locationId: location.id, available: 4, reorderPoint: 5 });
    assert.equal(messages[6]!.data.available, 5);
  });

  it('a reservation: created, then fulfilled as one stock.changed naming the movement and the reservation, and no false stock.low', async () => {
    const product = await createProduct(h.app, { reorderPoint: 2 });
    const location = await createLocation(h.app);
    await stockUp(h.app, product.id, location.id, 10);
    const client = await stream();
    const reservation = ok(
      await api(h.app, 'POST', '/api/v1/reservations', {
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 4 }],
        reference: 'order-1',
      }),
      201,
    );
    ok(await api(h.app, 'POST', `/api/v1/reservations/${reservation.id}/fulfil`));
    const messages = await client.waitFor(5);
    await sleep(200);
    assert.deepEqual(types(client.messages), [
      'reservation.created',
      'stock.changed',
      'movement.recorded',
      'reservation.fulfilled',
      'stock.changed',
    ]);
    assert.deepEqual(messages[0]!.data, { reservationId: reservation.id, locationId: location.id, reference: 'order-1' });
    assert.deepEqual(messages[1]!.data, {
      productId: product.id,
      locationId: location.id,
      onHand: 10,
      reserved: 4,
      available: 6,
      movementId: null,
      reservationId: reservation.id,
    });
    const fulfilled = messages[4]!.data;
    assert.equal(fulfilled.onHand, 6);
    assert.equal(fulfilled.reserved, 0);
    assert.equal(fulfilled.available, 6);
    assert.equal(fulfilled.reservationId, reservation.id);
    assert.equal(fulfilled.movementId, messages[2]!.data.movementId);
    assertConsecutive(messages);
  });

  it('resumes after Last-Event-ID (header or query) with no gap and no repeat', async () => {
    const product = await createProduct(h.app);
    const location = await createLocation(h.app);
    const first = await stream();
    for (let index = 0; index < 3; index += 1) await stockUp(h.app, product.id, location.id, 1);
    const seen = await first.waitFor(6);
    first.close();
    const lastSeen = seen[1]!.id!; // as if the connection dropped after the first movement
    for (let index = 0; index < 2; index += 1) await stockUp(h.app, product.id, location.id, 1);
    const resumed = await stream('', { ...h.auth, 'last-event-id': lastSeen });
    const again = await resumed.waitFor(8);
    assert.deepEqual(
      ids(again),
      [...Array(8).keys()].map((index) => Number(lastSeen) + 1 + index),
    );
    assert.deepEqual(
      again.slice(0, 4).map((message) => message.data),
      seen.slice(2).map((message) => message.data),
    );
    const byQuery = await stream(`?lastEventId=${lastSeen}`);
    assert.deepEqual(ids(await byQuery.waitFor(8)), ids(again));
  });

  it('starts with event: reset when the id it resumes from is past retention, or from another database', async () => {
    const product = await createProduct(h.app);
    const location = await createLocation(h.app);
    const first = await stream();
    await stockUp(h.app, product.id, location.id, 1);
    await stockUp(h.app, product.id, location.id, 1);
    const seen = await first.waitFor(4);
    // Everything published so far falls out of retention.
    await sql(`UPDATE events SET published_at = published_at - interval '100 hours' WHERE id IS NOT NULL`);
    assert.ok((await trimEvents(h.db, { eventsRetentionHours: 72 }, new AbortController().signal)) >= 4);
    const [{ last }] = await sql<{ last: string }>('SELECT last_id::text AS last FROM event_counter');
    const stale = await stream('', { ...h.auth, 'last-event-id': seen[0]!.id! });
    await stale.until(() => stale.messages.length > 0, 'the reset');
    assert.deepEqual(stale.messages[0], { id: last, event: 'reset', data: { lastEventId: last } });
    const future = await stream(`?lastEventId=${BigInt(last) + 1000n}`);
    await future.until(() => future.messages.length > 0, 'the reset');
    assert.equal(future.messages[0]!.event, 'reset');
    // After the reset it follows.
    await stockUp(h.app, product.id, location.id, 1);
    const after = await stale.waitFor(2);
    assert.equal(Number(after[0]!.id), Number(last) + 1);
    // The last retained id itself (and the one before the oldest) can still be resumed from.
    const fresh = await stream(`?lastEventId=${last}`);
    await stockUp(h.app, product.id, location.id, 1);
    await fresh.waitFor(2);
    assert.notEqual(fresh.messages[0]!.event, 'reset');
  });

  it('filters by type and location; a clerk sees only its locations and may not ask for another', async () => {
    const product = await createProduct(h.app);
    const mine = await createLocation(h.app);
    const other = await createLocation(h.app);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [mine.id] });
    const clerkAuth = { authorization: `Bearer ${clerk.token}` };
    const clerkStream = await stream('', clerkAuth);
    const onlyOther = await stream(`?locationId=${other.id}&types=movement.recorded`);
    assertProblem(await api(h.app, 'GET', `/api/v1/events?locationId=${other.id}`, undefined, clerkAuth), 403, 'forbidden');
    await stockUp(h.app, product.id, other.id, 5);
    await stockUp(h.app, product.id, mine.id, 5);
    ok(
      await recordMovement(h.app, {
        type: 'transfer',
        locationId: other.id,
        toLocationId: mine.id,
        lines: [{ productId: product.id, quantity: 1 }],
      }),
    );
    await onlyOther.waitFor(2);
    const clerkSaw = await clerkStream.waitFor(4);
    await sleep(200);
    assert.deepEqual(types(onlyOther.messages), ['movement.recorded', 'movement.recorded']);
    assert.equal(onlyOther.messages[1]!.data.type, 'transfer');
    // The clerk: its own inbound (2), the transfer (at both ends) and its own level's change.
    assert.deepEqual(types(clerkStream.messages), ['movement.recorded', 'stock.changed', 'movement.recorded', 'stock.changed']);
    assert.ok(clerkSaw.every((message) => message.data.locationId === mine.id || message.data.toLocationId === mine.id));
  });

  it('refuses what it cannot serve with a problem: no credentials, an unknown type, a malformed id', async () => {
    assertProblem(await api(h.app, 'GET', '/api/v1/events', undefined, { authorization: undefined }), 401, 'unauthenticated');
    assertProblem(await api(h.app, 'GET', '/api/v1/events?types=stock.changed,stock.gone'), 422, 'validation_failed');
    assertProblem(await api(h.app, 'GET', '/api/v1/events?lastEventId=abc'), 422, 'validation_failed');
    assertProblem(await api(h.app, 'GET', '/api/v1/events', undefined, { 'last-event-id': '-1' }), 422, 'validation_failed');
    assertProblem(await api(h.app, 'GET', '/api/v1/events?locationId=nope'), 422, 'validation_failed');
  });

  it('authenticates with the session cookie, as EventSource does', async () => {
    const session = await api(h.app, 'POST', '/api/v1/auth/login', TEST_ADMIN, { authorization: undefined });
    const cookie = String(session.headers['set-cookie']).split(';')[0]!;
    const client = await stream('', { cookie });
    assert.equal(client.status, 200);
  });

  it('a cancelled and an expired reservation release their holds with their events', async () => {
    const product = await createProduct(h.app);
    const location = await createLocation(h.app);
    await stockUp(h.app, product.id, location.id, 10);
    const client = await stream('?types=reservation.cancelled,reservation.expired,stock.changed');
    const hold = (body: Record<string, unknown> = {}) =>
      api(h.app, 'POST', '/api/v1/reservations', { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }], ...body });
    const cancelled = ok(await hold(), 201);
    ok(await api(h.app, 'POST', `/api/v1/reservations/${cancelled.id}/cancel`));
    // The harness runs the expiry sweep every second.
    const expiring = ok(await hold({ expiresAt: new Date(Date.now() + 300).toISOString(), reference: 'soon' }), 201);
    const messages = await client.waitFor(6, 5000);
    // Each transaction: what happened to the reservation, then the level it changed.
    assert.deepEqual(types(messages), [
      'stock.changed',
      'reservation.cancelled',
      'stock.changed',
      'stock.changed',
      'reservation.expired',
      'stock.changed',
    ]);
    assert.deepEqual(messages[1]!.data, { reservationId: cancelled.id, locationId: location.id, reference: null });
    assert.deepEqual(messages[4]!.data, { reservationId: expiring.id, locationId: location.id, reference: 'soon' });
    assert.deepEqual(
      messages.filter((message) => message.event === 'stock.changed').map((message) => message.data.reserved),
      [2, 0, 2, 0],
    );
  });

  it('ends a stream whose user is disabled, or whose locations change, at the next heartbeat', async () => {
    const location = await createLocation(h.app);
    const other = await createLocation(h.app);
    const disabled = await createUser(h.app, { role: 'clerk', locationIds: [location.id] });
    const moved = await createUser(h.app, { role: 'clerk', locationIds: [location.id] });
    const kept = await createUser(h.app, { role: 'clerk', locationIds: [location.id] });
    const streams = await Promise.all([disabled, moved, kept].map((user) => stream('', { authorization: `Bearer ${user.token}` })));
    ok(await api(h.app, 'PATCH', `/api/v1/users/${disabled.user.id}`, { disabled: true }));
    ok(await api(h.app, 'PATCH', `/api/v1/users/${moved.user.id}`, { locationIds: [other.id] }));
    await Promise.all([streams[0]!.ended, streams[1]!.ended]);
    assert.equal(streams[2]!.isEnded(), false, 'a stream whose credential still holds goes on');
  });

  it('a change reaches a subscribed webhook too: signed, with the id the stream gives the event as webhook-id', async () => {
    const receiver = await startReceiver();
    try {
      const webhook = ok(
        await api(h.app, 'POST', '/api/v1/webhooks', { url: `${receiver.base}/hook`, events: ['movement.recorded'] }),
        201,
      );
      const product = await createProduct(h.app);
      const location = await createLocation(h.app);
      const client = await stream('?types=movement.recorded');
      const movement = await stockUp(h.app, product.id, location.id, 3);
      const [event] = await client.waitFor(1);
      await receiver.until(() => receiver.requests.some((request) => request.answered === 204), 10_000, 'the delivery');
      const [delivery] = receiver.requests;
      assert.equal(delivery!.webhookId, event!.id);
      assert.deepEqual(verified(webhook.secret, delivery!), {
        type: 'movement.recorded',
        timestamp: movement.createdAt,
        data: event!.data,
      });
      ok(await api(h.app, 'DELETE', `/api/v1/webhooks/${webhook.id}`), 204);
    } finally {
      await receiver.close();
    }
  });

  it('sends a comment line every heartbeat', async () => {
    const client = await stream();
    await client.until(() => client.comments.includes('keep-alive'), 'a heartbeat', 3000);
  });
});
