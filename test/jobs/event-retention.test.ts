import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventBounds, insertEvents, publishEvents } from '../../src/db/events.ts';
import { uuidv7 } from '../../src/domain/ids.ts';
import { trimEvents } from '../../src/jobs/event-retention.ts';
import { createLocation } from '../support/factories.ts';
import { createHarness, type Harness } from '../support/helpers.ts';

// Retention (API.md, Events: EVENTS_RETENTION_HOURS): events published longer ago than that are
// deleted in batches, always as a prefix of ids — so that a stream resuming after any retained id
// finds every later one — and never one an undelivered webhook delivery still needs.

let h: Harness;
let locationId: string;
before(async () => {
  h = await createHarness({}, { jobs: false }); // this file publishes by itself
  locationId = (await createLocation(h.app)).id;
});
after(() => h.close());

const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));
const never = new AbortController().signal;

async function writeAndPublish(count: number, type: 'stock.low' | 'movement.recorded' = 'stock.low') {
  await h.db.transaction((tx) =>
    insertEvents(
      tx,
      Array.from({ length: count }, (_, index) => ({ type, locationId, data: { index } })),
      [],
    ),
  );
  while ((await h.db.transaction((tx) => publishEvents(tx, 1000))).pending);
}

/** Ages the events with these ids (inclusive) by `hours`. */
const age = (from: number, to: number, hours: number) =>
  sql(`UPDATE events SET published_at = published_at - make_interval(hours => $3) WHERE id BETWEEN $1 AND $2`, [from, to, hours]);

describe('event retention', () => {
  it('deletes the events past retention in batches, oldest first, and keeps the rest', async () => {
    await writeAndPublish(25);
    const { lastId } = await h.db.connection(eventBounds);
    const last = Number(lastId);
    await age(last - 24, last - 5, 80); // the first 20 are old
    const deleted = await trimEvents(h.db, { eventsRetentionHours: 72, batchEventsMax: 6 }, never);
    assert.ok(deleted >= 20, `deleted ${deleted}`);
    const bounds = await h.db.connection(eventBounds);
    assert.equal(bounds.oldestId, String(last - 4));
    assert.equal(bounds.lastId, lastId, 'the counter is kept');
    assert.equal(await trimEvents(h.db, { eventsRetentionHours: 72 }, never), 0, 'nothing more is due');
  });

  it('deletes only a prefix of ids, whatever the publication times say: what is left runs without a hole to the last', async () => {
    await writeAndPublish(5);
    const last = Number((await h.db.connection(eventBounds)).lastId);
    // Publication times grow with ids; were a clock to step back, an old one could sit among young ones.
    await age(last - 4, last - 4, 80);
    await age(last - 2, last - 2, 80);
    await trimEvents(h.db, { eventsRetentionHours: 72 }, never);
    const left = (await sql<{ id: number }>(`SELECT id FROM events ORDER BY id`)).map((row) => Number(row.id));
    assert.ok(left.length > 0 && left.at(-1) === last);
    assert.deepEqual(
      left,
      Array.from({ length: left.length }, (_, index) => left[0]! + index),
      'no hole',
    );
    assert.ok(left[0]! > last - 4, 'the oldest is gone');
  });

  it('keeps every event from the oldest one a pending webhook delivery needs', async () => {
    const webhookId = uuidv7();
    await sql(`INSERT INTO webhooks (id, url, events, secret) VALUES ($1, 'https://example.com/hook', '{movement.recorded}', 'whsec_x')`, [
      webhookId,
    ]);
    await writeAndPublish(4, 'movement.recorded');
    const last = Number((await h.db.connection(eventBounds)).lastId);
    await sql(
      `UPDATE webhook_deliveries SET status = 'delivered' WHERE webhook_id = $1 AND event_seq IN (SELECT seq FROM events WHERE id <= $2)`,
      [webhookId, last - 2],
    );
    await age(0, last, 80);
    await trimEvents(h.db, { eventsRetentionHours: 72 }, never);
    const left = await sql<{ id: number }>(`SELECT id FROM events ORDER BY id`);
    assert.deepEqual(
      left.map((row) => Number(row.id)),
      [last - 1, last],
      'from the first event still pending delivery',
    );
    assert.equal(
      (await sql(`SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1`, [webhookId])).length,
      2,
      'delivered ones go with their events',
    );
  });

  it("a disabled webhook's pending deliveries hold nothing back: they go with their events", async () => {
    // The enabled one above still holds its last two events: deliver them, so that only this one counts.
    await sql(`UPDATE webhook_deliveries SET status = 'delivered'`);
    const webhookId = uuidv7();
    await sql(`INSERT INTO webhooks (id, url, events, secret) VALUES ($1, 'https://example.com/off', '{stock.low}', 'whsec_x')`, [
      webhookId,
    ]);
    await writeAndPublish(3);
    await sql(`UPDATE webhooks SET enabled = false WHERE id = $1`, [webhookId]);
    const last = Number((await h.db.connection(eventBounds)).lastId);
    await age(0, last, 80);
    await trimEvents(h.db, { eventsRetentionHours: 72 }, never);
    assert.equal((await h.db.connection(eventBounds)).oldestId, null, 'every event is gone');
    assert.equal((await sql(`SELECT 1 FROM webhook_deliveries WHERE webhook_id = $1`, [webhookId])).length, 0);
  });
});
