import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Database, Transaction } from '../../src/db/database.ts';
import { reservationExpiryJob, sweepExpiredReservations } from '../../src/jobs/reservation-expiry.ts';
import { expireReservations } from '../../src/services/reservations.ts';
import { brokenLevelInvariants, NO_BROKEN_INVARIANTS } from '../support/ledger.ts';
import { assertProblem } from '../support/assertions.ts';
import { createLocation, createProduct, stockUp } from '../support/factories.ts';
import { api, createHarness, usingPostgres, type Harness } from '../support/helpers.ts';

// The expiry of reservations (API.md, Reservations; src/jobs/reservation-expiry.ts): past its
// expiresAt a reservation becomes expired and releases its hold within RESERVATION_SWEEP_S,
// whichever instance notices first; two sweeps never expire one twice; a sweep that dies mid-way
// loses nothing.

const never = new AbortController().signal;

async function reserve(h: Harness, locationId: string, productId: string, quantity: number, expiresAt: string) {
  const response = await api(h.app, 'POST', '/api/v1/reservations', { locationId, lines: [{ productId, quantity }], expiresAt });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body as { id: string };
}

async function levelOf(h: Harness, productId: string, locationId: string) {
  const page = await api(h.app, 'GET', `/api/v1/stock?productId=${productId}&locationId=${locationId}`);
  const { onHand, reserved, available } = page.body.items[0];
  return { onHand, reserved, available };
}

const statusOf = async (h: Harness, id: string) => (await api(h.app, 'GET', `/api/v1/reservations/${id}`)).body.status as string;

describe('the reservation expiry job, as the server runs it', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness(); // with the server's jobs: the sweep every RESERVATION_SWEEP_S (1 s by default)
  });
  after(() => h.close());
  afterEach(async () => {
    assert.deepEqual(await h.db.connection((db) => brokenLevelInvariants(db)), NO_BROKEN_INVARIANTS);
  });

  it('runs every RESERVATION_SWEEP_S seconds', () => {
    const job = reservationExpiryJob(h.db, { reservationSweepS: 7 }, { info: () => undefined });
    assert.equal(job.name, 'reservation-expiry');
    assert.equal(job.intervalMs, 7000);
  });

  it('expires a reservation past its expiresAt and releases its hold within the sweep interval, leaving others', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    await stockUp(h.app, product.id, location.id, 10);
    const expiresAt = new Date(Date.now() + 1500);
    const soon = await reserve(h, location.id, product.id, 3, expiresAt.toISOString());
    const later = await reserve(h, location.id, product.id, 2, new Date(Date.now() + 3_600_000).toISOString());
    assert.deepEqual(await levelOf(h, product.id, location.id), { onHand: 10, reserved: 5, available: 5 });

    // Due at expiresAt, released within the sweep interval (1 s) and a run's time after it.
    while ((await statusOf(h, soon.id)) === 'active') {
      assert.ok(Date.now() < expiresAt.getTime() + 1000 + 2000, 'expired within the sweep interval');
      await sleep(50);
    }
    assert.ok(Date.now() >= expiresAt.getTime(), 'not before its time');
    assert.equal(await statusOf(h, soon.id), 'expired');
    assert.equal(await statusOf(h, later.id), 'active');
    assert.deepEqual(await levelOf(h, product.id, location.id), { onHand: 10, reserved: 2, available: 8 });
    const fulfil = await api(h.app, 'POST', `/api/v1/reservations/${soon.id}/fulfil`);
    assert.equal(fulfil.status, 409);
    assert.match(fulfil.body.detail, /is expired/);
  });
});

describe('sweeping expired reservations', () => {
  let h: Harness;
  const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

  before(async () => {
    h = await createHarness({}, { jobs: false }); // the tests sweep themselves
  });
  after(() => h.close());
  afterEach(async () => {
    assert.deepEqual(await h.db.connection((db) => brokenLevelInvariants(db)), NO_BROKEN_INVARIANTS);
  });

  /** `count` reservations of `quantity` each on one new level, their expiresAt already past (as if time had passed). */
  async function dueReservations(count: number, quantity = 1) {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    await stockUp(h.app, product.id, location.id, count * quantity + 10);
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) {
      ids.push((await reserve(h, location.id, product.id, quantity, new Date(Date.now() + 3_600_000).toISOString())).id);
    }
    await sql(`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = ANY($1::uuid[])`, [ids]);
    return { location, product, ids };
  }

  const statuses = async (ids: string[]) =>
    (
      await sql<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM reservations WHERE id = ANY($1::uuid[]) GROUP BY status ORDER BY status`,
        [ids],
      )
    ).map((row) => `${row.status} ${row.n}`);

  it('expires what is due in bounded batches until a batch comes back short, and leaves the rest', async () => {
    const due = await dueReservations(10, 2);
    const future = await reserve(h, due.location.id, due.product.id, 1, new Date(Date.now() + 3_600_000).toISOString());
    const timeless = (
      await api(h.app, 'POST', '/api/v1/reservations', { locationId: due.location.id, lines: [{ productId: due.product.id, quantity: 1 }] })
    ).body;
    const fulfilled = await reserve(h, due.location.id, due.product.id, 1, new Date(Date.now() + 3_600_000).toISOString());
    assert.equal((await api(h.app, 'POST', `/api/v1/reservations/${fulfilled.id}/fulfil`)).status, 200);
    await sql(`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1`, [fulfilled.id]);
    assert.deepEqual(await levelOf(h, due.product.id, due.location.id), { onHand: 29, reserved: 22, available: 7 });

    const batches: number[] = [];
    // The harness's database, recording what each transaction expired.
    const db = {
      transaction: (work: (tx: Transaction) => Promise<number>, options: object) =>
        h.db.transaction(work, options).then((expired) => {
          batches.push(expired);
          return expired;
        }),
    } as unknown as Database;
    const expired = await sweepExpiredReservations(db, { reservationSweepS: 1, batchReservationsMax: 3 }, never);

    assert.equal(expired, 10);
    assert.deepEqual(batches, [3, 3, 3, 1], 'batches of at most 3, until one comes back short');
    assert.deepEqual(await statuses(due.ids), ['expired 10']);
    assert.equal(await statusOf(h, future.id), 'active');
    assert.equal(await statusOf(h, timeless.id), 'active', 'a reservation without expiresAt never expires');
    assert.equal(await statusOf(h, fulfilled.id), 'fulfilled', 'a fulfilled reservation stays fulfilled');
    assert.deepEqual(await levelOf(h, due.product.id, due.location.id), { onHand: 29, reserved: 2, available: 27 });
    assert.equal(await sweepExpiredReservations(h.db, { reservationSweepS: 1 }, never), 0, 'nothing is left to expire');
  });

  it('loses nothing when a sweep dies mid-way: its batch rolls back whole, and the next sweep expires it', async () => {
    const due = await dueReservations(5, 3);
    await assert.rejects(
      h.db.transaction(async (tx) => {
        assert.equal(await expireReservations({ db: h.db, actor: null, tx }, 100), 5);
        throw new Error('the process died here');
      }),
      /the process died here/,
    );
    assert.deepEqual(await statuses(due.ids), ['active 5']);
    assert.deepEqual(await levelOf(h, due.product.id, due.location.id), { onHand: 25, reserved: 15, available: 10 });

    assert.equal(await sweepExpiredReservations(h.db, { reservationSweepS: 1 }, never), 5);
    assert.deepEqual(await statuses(due.ids), ['expired 5']);
    assert.deepEqual(await levelOf(h, due.product.id, due.location.id), { onHand: 25, reserved: 0, available: 25 });
  });

  it('never expires one reservation twice when sweeps run at once, as on several instances', async () => {
    const due = await dueReservations(60, 1);
    const sweepers = 4;
    const counts = await Promise.all(
      Array.from({ length: sweepers }, () => sweepExpiredReservations(h.db, { reservationSweepS: 1, batchReservationsMax: 5 }, never)),
    );
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      60,
      `each reservation expired by exactly one sweep (${counts.join(' + ')})`,
    );
    assert.deepEqual(await statuses(due.ids), ['expired 60']);
    assert.deepEqual(await levelOf(h, due.product.id, due.location.id), { onHand: 70, reserved: 0, available: 70 });
  });

  it('lets a fulfil and the sweep race on a reservation past its time: the fulfil is refused, and it is expired exactly once', async () => {
    const rounds = usingPostgres ? 20 : 10;
    for (let round = 0; round < rounds; round += 1) {
      const due = await dueReservations(1, 4);
      const [fulfil, swept] = await Promise.all([
        api(h.app, 'POST', `/api/v1/reservations/${due.ids[0]}/fulfil`),
        sweepExpiredReservations(h.db, { reservationSweepS: 1 }, never),
      ]);
      // Its time has passed: the fulfil is refused whether or not the sweep got there first.
      assertProblem(fulfil, 409, 'conflict');
      // A sweep that met the fulfil's lock skipped the reservation, rather than wait: the next one takes it.
      const next = await sweepExpiredReservations(h.db, { reservationSweepS: 1 }, never);
      assert.equal(swept + next, 1, `round ${round}: expired once (${swept} + ${next})`);
      assert.deepEqual(await statuses(due.ids), ['expired 1']);
      assert.deepEqual(await levelOf(h, due.product.id, due.location.id), { onHand: 14, reserved: 0, available: 14 });
    }
  });

  it('stops between batches when the signal aborts', async () => {
    const due = await dueReservations(4, 1);
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await assert.rejects(
      sweepExpiredReservations(h.db, { reservationSweepS: 1, batchReservationsMax: 2 }, controller.signal),
      /shutting down/,
    );
    assert.deepEqual(await statuses(due.ids), ['active 4']);
    assert.equal(await sweepExpiredReservations(h.db, { reservationSweepS: 1 }, never), 4);
  });
});
