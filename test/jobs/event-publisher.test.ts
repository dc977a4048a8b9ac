import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { insertEvents, publishEvents, readEvents } from '../../src/db/events.ts';
import type { EventSink } from '../../src/services/event-feed.ts';
import { createLocation } from '../support/factories.ts';
import { createHarness, usingPostgres, type Harness } from '../support/helpers.ts';

// The ordering guarantee (DESIGN.md, known pitfalls: sequence ids commit out of order). Writers
// insert their event, then hold their transaction open for a random while before committing, so
// that events commit in an order unlike the order their rows were numbered in. Readers that
// follow the public id — the feed's streams, and a reader that resumes after the last id it saw —
// must each see every event exactly once, and the ids must run without a gap.

let h: Harness;
let locationId: string;
before(async () => {
  h = await createHarness();
  locationId = (await createLocation(h.app)).id;
});
after(() => h.close());

const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

/** A sink that keeps what it is sent, as parsed messages. */
function collectingSink() {
  const received: { id: string; data: any }[] = [];
  let ended = false;
  const sink: EventSink = {
    write(text) {
      const id = /^id: (\d+)$/m.exec(text)?.[1];
      const data = /^data: (.*)$/m.exec(text)?.[1];
      if (id !== undefined && data !== undefined) received.push({ id, data: JSON.parse(data) });
      return true;
    },
    drained: () => Promise.resolve(),
    end() {
      ended = true;
    },
    get ended() {
      return ended;
    },
  };
  return { sink, received };
}

async function lastId(): Promise<bigint> {
  const [{ last }] = await sql<{ last: string }>('SELECT last_id::text AS last FROM event_counter');
  return BigInt(last);
}

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function assertEachOnceInOrder(received: { id: string; data: any }[], written: string[], start: bigint, who: string) {
  const ids = received.map((event) => BigInt(event.id));
  ids.forEach((id, index) => assert.equal(id, start + 1n + BigInt(index), `${who}: ids run without a gap or repeat`));
  assert.deepEqual(received.map((event) => event.data.key).sort(), [...written].sort(), `${who}: every event exactly once`);
}

describe('the publisher and the order readers see', () => {
  it('concurrent writers committing after random delays: streams and a resuming reader see every event once, ids without a gap', async () => {
    const writers = usingPostgres ? 16 : 4;
    const perWriter = usingPostgres ? 12 : 8;
    const start = await lastId();
    const follower = collectingSink();
    await h.events!.follow({ types: null, locationIds: [locationId] }, start, follower.sink);

    // A reader as a client resuming with Last-Event-ID does it: after the last id it has seen.
    const resumed: { id: string; data: any }[] = [];
    let writing = true;
    const reader = (async () => {
      let position = start;
      while (writing || resumed.length < writers * perWriter) {
        const page = await h.db.connection((db) => readEvents(db, { after: position.toString(), limit: 100 }));
        for (const event of page) resumed.push({ id: event.id, data: event.data });
        if (page.length > 0) position = BigInt(page.at(-1)!.id);
        else await sleep(Math.random() * 5);
      }
    })();

    const written: string[] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        for (let n = 0; n < perWriter; n += 1) {
          const key = `${writer}/${n}`;
          await h.db.transaction(async (tx) => {
            await insertEvents(tx, [{ type: 'stock.low', locationId, data: { key } }], []);
            await sleep(Math.random() * 30); // numbered now, committed later
          });
          written.push(key);
          h.events!.written();
        }
      }),
    );
    writing = false;
    await until(() => follower.received.length >= written.length, 'the stream to receive every event');
    await reader;
    await sleep(200); // a repeat, were there one, would arrive now
    assertEachOnceInOrder(follower.received, written, start, 'the stream');
    assertEachOnceInOrder(resumed, written, start, 'the resuming reader');
    h.events!.unfollow(follower.sink);
  });

  it('numbers an event only once its transaction has ended, and none of a transaction that rolled back', async () => {
    const start = await lastId();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const insertedYet = new Promise<void>((resolve) => (inserted = resolve));
    const open = h.db.transaction(async (tx) => {
      await insertEvents(tx, [{ type: 'stock.low', locationId, data: { key: 'held' } }], []);
      inserted();
      await held;
    });
    await insertedYet;
    await h.db
      .transaction(async (tx) => {
        await insertEvents(tx, [{ type: 'stock.low', locationId, data: { key: 'rolled back' } }], []);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    if (usingPostgres) {
      // Another writer commits meanwhile: its event waits behind the open transaction's, whose xid is lower.
      await h.db.transaction((tx) => insertEvents(tx, [{ type: 'stock.low', locationId, data: { key: 'later' } }], []));
      await sleep(300);
      assert.equal(await lastId(), start, 'nothing is published while an earlier transaction is open');
    }
    release();
    await open;
    await until(async () => (await lastId()) >= start + (usingPostgres ? 2n : 1n), 'publication');
    const events = await h.db.connection((db) => readEvents(db, { after: start.toString(), limit: 10 }));
    assert.deepEqual(
      events.map((event) => event.data.key),
      usingPostgres ? ['held', 'later'] : ['held'],
    );
  });

  // On PGlite the one connection runs them one after another: the same answer is expected.
  it('publishers racing each other give every id once', async () => {
    await h.jobs!.stop(); // this test's publishers only (the last test of the file)
    const start = await lastId();
    await h.db.transaction((tx) =>
      insertEvents(
        tx,
        Array.from({ length: 500 }, (_, index) => ({ type: 'stock.low' as const, locationId, data: { key: `race/${index}` } })),
        [],
      ),
    );
    const runs = await Promise.all(Array.from({ length: 6 }, () => h.db.transaction((tx) => publishEvents(tx, 37))));
    let published = runs.reduce((sum, run) => sum + run.published, 0);
    while (published < 500) published += (await h.db.transaction((tx) => publishEvents(tx, 100))).published;
    assert.equal(published, 500);
    const ids = await sql<{ id: string }>(`SELECT id::text AS id FROM events WHERE id > $1 ORDER BY events.id`, [start.toString()]);
    assert.deepEqual(
      ids.map((row) => BigInt(row.id)),
      Array.from({ length: 500 }, (_, index) => start + 1n + BigInt(index)),
    );
  });
});
