import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { brokenLevelInvariants, NO_BROKEN_INVARIANTS } from '../support/ledger.ts';
import { createLocation, createProduct, stockUp } from '../support/factories.ts';
import { createHarness, listen, usingPostgres, type Harness } from '../support/helpers.ts';
import { countBy, httpClient, inParallel, statusAndCode, type HttpClient } from '../support/http-client.ts';

// Reservations under concurrency, through real HTTP (API.md, Reservations): holds never take more
// than is available, a reservation and an outbound racing for the last units let exactly one
// win, a fulfil and a cancel racing on one reservation let exactly one win, and parallel fulfils
// of one reservation write one movement. After every test each level's reserved is the sum of
// its active reservations' lines, its on-hand the sum of its ledger, and no level is below zero
// where its location forbids it. The database, not the process, guarantees all of it.

let h: Harness;
let post: HttpClient['post'];
let get: HttpClient['get'];

before(async () => {
  h = await createHarness({ dbPoolMax: 10, dbPoolAcquireTimeoutMs: 10_000 });
  ({ post, get } = httpClient(await listen(h.app), h.auth));
});
after(() => h.close());
afterEach(async () => {
  assert.deepEqual(await h.db.connection((db) => brokenLevelInvariants(db)), NO_BROKEN_INVARIANTS);
});

async function level(productId: string, locationId: string) {
  const page = await get(`/api/v1/stock?productId=${productId}&locationId=${locationId}`);
  assert.equal(page.items.length, 1);
  const { onHand, reserved, available } = page.items[0];
  return { onHand, reserved, available };
}

async function outbounds(productId: string): Promise<number> {
  return (await get(`/api/v1/movements?productId=${productId}&type=outbound&limit=500`)).items.length;
}

async function stocked(quantity: number) {
  const location = await createLocation(h.app);
  const product = await createProduct(h.app);
  await stockUp(h.app, product.id, location.id, quantity);
  return { location, product };
}

describe('concurrent reservations through real HTTP', () => {
  it('holds 100 units for exactly 100 of 300 simultaneous reservations and refuses the other 200 with insufficient_stock', async () => {
    const { location, product } = await stocked(100);

    const answers = await inParallel(300, () =>
      post('/api/v1/reservations', { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
    );

    assert.deepEqual(countBy(answers, statusAndCode), { '201': 100, '409 insufficient_stock': 200 });
    for (const refused of answers.filter((answer) => answer.status === 409)) {
      assert.deepEqual(refused.body.lines, [{ productId: product.id, locationId: location.id, requested: 1, available: 0 }]);
    }
    // Each hold saw the one before it: the reserved quantities after them are 1, 2, ..., 100, each once.
    const reserved = answers
      .filter((answer) => answer.status === 201)
      .map((answer) => answer.body.balances[0].reserved)
      .sort((a: number, b: number) => a - b);
    assert.deepEqual(
      reserved,
      Array.from({ length: 100 }, (_, index) => index + 1),
    );
    assert.deepEqual(await level(product.id, location.id), { onHand: 100, reserved: 100, available: 0 });
  });

  it('never over-reserves when multi-line reservations of varied sizes compete for little stock', async () => {
    const location = await createLocation(h.app);
    const products = [await createProduct(h.app), await createProduct(h.app), await createProduct(h.app)];
    for (const product of products) await stockUp(h.app, product.id, location.id, 20);
    const requests = Array.from({ length: 150 }, (_, index) => ({
      locationId: location.id,
      // Every order of the products, so that a deadlock would show.
      lines: [0, 1, 2]
        .map((offset) => products[(index + offset) % 3]!)
        .slice(0, 1 + (index % 3))
        .map((product, position) => ({ productId: product.id, quantity: 1 + ((index + position) % 4) })),
    }));

    const answers = await inParallel(requests.length, (index) => post('/api/v1/reservations', requests[index]));

    const outcomes = countBy(answers, statusAndCode);
    assert.deepEqual(
      Object.keys(outcomes).filter((outcome) => outcome !== '201' && outcome !== '409 insufficient_stock'),
      [],
      JSON.stringify(outcomes),
    );
    for (const product of products) {
      const held = answers
        .filter((answer) => answer.status === 201)
        .flatMap((answer) => answer.body.lines)
        .filter((line: { productId: string }) => line.productId === product.id)
        .reduce((sum: number, line: { quantity: number }) => sum + line.quantity, 0);
      const now = await level(product.id, location.id);
      assert.equal(now.reserved, held, 'reserved is what the accepted reservations hold');
      assert.ok(now.available >= 0, 'never more held than on hand');
    }
  });

  it('lets exactly one of a reservation and an outbound racing for the last units win', async () => {
    const rounds = 20;
    const winners: Record<string, number> = {};
    for (let round = 0; round < rounds; round += 1) {
      const { location, product } = await stocked(5);
      const line = [{ productId: product.id, quantity: 5 }];
      const [reservation, outbound] = await Promise.all([
        post('/api/v1/reservations', { locationId: location.id, lines: line }),
        post('/api/v1/movements', { type: 'outbound', locationId: location.id, lines: line }),
      ]);
      const outcome = [statusAndCode(reservation), statusAndCode(outbound)];
      assert.ok(
        (outcome[0] === '201' && outcome[1] === '409 insufficient_stock') ||
          (outcome[0] === '409 insufficient_stock' && outcome[1] === '201'),
        `round ${round}: exactly one wins, got ${outcome.join(' and ')}`,
      );
      const won = reservation.status === 201 ? 'reservation' : 'outbound';
      winners[won] = (winners[won] ?? 0) + 1;
      assert.deepEqual(
        await level(product.id, location.id),
        won === 'reservation' ? { onHand: 5, reserved: 5, available: 0 } : { onHand: 0, reserved: 0, available: 0 },
      );
    }
    assert.equal(
      Object.values(winners).reduce((a, b) => a + b, 0),
      rounds,
    );
  });

  it('lets exactly one of a fulfil and a cancel racing on one reservation win', async () => {
    const { location, product } = await stocked(1000);
    const reservations = [];
    for (let index = 0; index < 40; index += 1) {
      const made = await post('/api/v1/reservations', { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] });
      assert.equal(made.status, 201);
      reservations.push(made.body.id as string);
    }

    const races = await Promise.all(
      reservations.map(async (id, index) => {
        const fulfil = () => post(`/api/v1/reservations/${id}/fulfil`);
        const cancel = () => post(`/api/v1/reservations/${id}/cancel`);
        // Which one is sent first alternates.
        const [fulfilled, cancelled] =
          index % 2 === 0 ? await Promise.all([fulfil(), cancel()]) : (await Promise.all([cancel(), fulfil()])).reverse();
        return { fulfilled: fulfilled!, cancelled: cancelled! };
      }),
    );

    let fulfilledCount = 0;
    for (const { fulfilled, cancelled } of races) {
      const outcome = [statusAndCode(fulfilled), statusAndCode(cancelled)];
      assert.ok(
        (outcome[0] === '200' && outcome[1] === '409 conflict') || (outcome[0] === '409 conflict' && outcome[1] === '200'),
        `exactly one wins, got fulfil ${outcome[0]} and cancel ${outcome[1]}`,
      );
      if (fulfilled.status === 200) {
        fulfilledCount += 1;
        assert.match(cancelled.body.detail, /is fulfilled/);
      } else {
        assert.match(fulfilled.body.detail, /is cancelled/);
      }
    }
    assert.deepEqual(await level(product.id, location.id), {
      onHand: 1000 - 2 * fulfilledCount,
      reserved: 0,
      available: 1000 - 2 * fulfilledCount,
    });
    assert.equal(await outbounds(product.id), fulfilledCount, 'one movement per fulfilled reservation');
  });

  it('writes one movement for 30 simultaneous fulfils of one reservation, and refuses the rest with conflict', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { location, product } = await stocked(10);
      const made = await post('/api/v1/reservations', { locationId: location.id, lines: [{ productId: product.id, quantity: 4 }] });
      assert.equal(made.status, 201);

      const answers = await inParallel(30, () => post(`/api/v1/reservations/${made.body.id}/fulfil`));

      assert.deepEqual(countBy(answers, statusAndCode), { '200': 1, '409 conflict': 29 }, `round ${round}`);
      assert.equal(await outbounds(product.id), 1);
      assert.deepEqual(await level(product.id, location.id), { onHand: 6, reserved: 0, available: 6 });
    }
  });

  it('writes one movement for 30 simultaneous fulfils with one Idempotency-Key, replaying its answer to the rest', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { location, product } = await stocked(10);
      const made = await post('/api/v1/reservations', { locationId: location.id, lines: [{ productId: product.id, quantity: 4 }] });
      const key = `fulfil-${made.body.id}`;

      const answers = await inParallel(30, () =>
        post(`/api/v1/reservations/${made.body.id}/fulfil`, undefined, { 'idempotency-key': key }),
      );

      const counts = countBy(answers, statusAndCode);
      assert.deepEqual(
        Object.keys(counts).filter((outcome) => outcome !== '200' && outcome !== '409 idempotency_key_in_progress'),
        [],
        `round ${round}: every answer is the fulfilment or "in progress": ${JSON.stringify(counts)}`,
      );
      const fulfilled = answers.filter((answer) => answer.status === 200);
      assert.equal(fulfilled.filter((answer) => answer.headers.get('idempotent-replayed') !== 'true').length, 1);
      for (const answer of fulfilled) assert.equal(answer.text, fulfilled[0]!.text, 'a replay is the first answer, byte for byte');
      const later = await post(`/api/v1/reservations/${made.body.id}/fulfil`, undefined, { 'idempotency-key': key });
      assert.equal(later.status, 200);
      assert.equal(later.headers.get('idempotent-replayed'), 'true');
      assert.equal(later.text, fulfilled[0]!.text);
      assert.equal(await outbounds(product.id), 1);
    }
  });

  it('keeps every level consistent while reservations, fulfils, cancels and outbounds run at once on the same levels', async () => {
    const location = await createLocation(h.app);
    const products = [await createProduct(h.app), await createProduct(h.app)];
    for (const product of products) await stockUp(h.app, product.id, location.id, 60);
    const mixed = await inParallel(usingPostgres ? 200 : 100, async (index) => {
      const product = products[index % 2]!;
      const lines = [{ productId: product.id, quantity: 1 + (index % 3) }];
      if (index % 4 === 3) return post('/api/v1/movements', { type: 'outbound', locationId: location.id, lines });
      const made = await post('/api/v1/reservations', { locationId: location.id, lines });
      if (made.status !== 201) return made;
      return index % 4 === 0
        ? post(`/api/v1/reservations/${made.body.id}/fulfil`)
        : index % 4 === 1
          ? post(`/api/v1/reservations/${made.body.id}/cancel`)
          : made;
    });
    assert.deepEqual(
      mixed.filter((answer) => answer.status >= 500),
      [],
      'no server error',
    );
    for (const product of products) {
      const now = await level(product.id, location.id);
      assert.ok(now.available >= 0, `available is never negative: ${JSON.stringify(now)}`);
    }
  });
});
