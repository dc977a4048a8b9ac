import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { levelsDisagreeingWithLedger } from '../../support/ledger.ts';
import { createLocation, createProduct, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness, type TestApp } from '../../support/helpers.ts';
import { assertProblem, assertValidationError } from '../../support/assertions.ts';
import { recordMovement as recordMovementAt } from '../../../src/services/movements.ts';

// The specification of the stock queries (API.md, "Stock and the movement ledger"): levels with
// their filters and pages, levels as of a past time computed from the ledger, and one product's
// level at every location.

async function move(app: TestApp, movement: Record<string, unknown>) {
  const response = await recordMovement(app, movement);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

async function stock(app: TestApp, query: string) {
  const response = await api(app, 'GET', `/api/v1/stock?${query}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body as { items: any[]; nextCursor: string | null };
}

/** Every level a query matches, following cursors. */
async function allStock(app: TestApp, query: string, limit: number) {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page += 1) {
    const body = await stock(app, `${query}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    assert.ok(body.items.length <= limit);
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error('the stock list did not end');
}

/** Every location the API lists, archived or not. */
async function allLocations(app: TestApp) {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const response: ApiResponse = await api(
      app,
      'GET',
      `/api/v1/locations?limit=500${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    assert.equal(response.status, 200);
    items.push(...response.body.items);
    cursor = response.body.nextCursor;
  } while (cursor !== null);
  return items;
}

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());
afterEach(async () => {
  assert.deepEqual(await h.db.connection((db) => levelsDisagreeingWithLedger(db)), [], 'every level equals the sum of its ledger');
});

describe('GET /api/v1/stock', () => {
  it('lists a level with its product, location and available quantity', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app, { reorderPoint: 4 });
    await stockUp(h.app, product.id, location.id, 9);
    const page = await stock(h.app, `productId=${product.id}`);
    assert.deepEqual(page, {
      items: [
        {
          productId: product.id,
          sku: product.sku,
          productName: product.name,
          locationId: location.id,
          locationCode: location.code,
          onHand: 9,
          reserved: 0,
          available: 9,
          reorderPoint: 4,
        },
      ],
      nextCursor: null,
    });
  });

  it('filters by location, by product, and by both', async () => {
    const north = await createLocation(h.app);
    const south = await createLocation(h.app);
    const apples = await createProduct(h.app);
    const pears = await createProduct(h.app);
    await stockUp(h.app, apples.id, north.id, 1);
    await stockUp(h.app, apples.id, south.id, 2);
    await stockUp(h.app, pears.id, north.id, 3);
    const levels = (items: any[]) =>
      items.map((item) => [item.productId, item.locationId, item.onHand]).sort((a, b) => String(a).localeCompare(String(b)));
    const sorted = (rows: (string | number)[][]) => rows.sort((a, b) => String(a).localeCompare(String(b)));

    assert.deepEqual(
      levels((await stock(h.app, `locationId=${north.id}`)).items),
      sorted([
        [apples.id, north.id, 1],
        [pears.id, north.id, 3],
      ]),
    );
    assert.deepEqual(levels((await stock(h.app, `locationId=${south.id}`)).items), [[apples.id, south.id, 2]]);
    assert.deepEqual(
      levels((await stock(h.app, `productId=${apples.id}`)).items),
      sorted([
        [apples.id, north.id, 1],
        [apples.id, south.id, 2],
      ]),
    );
    assert.deepEqual(levels((await stock(h.app, `productId=${pears.id}`)).items), [[pears.id, north.id, 3]]);
    assert.deepEqual(levels((await stock(h.app, `productId=${pears.id}&locationId=${north.id}`)).items), [[pears.id, north.id, 3]]);
    assert.deepEqual((await stock(h.app, `productId=${pears.id}&locationId=${south.id}`)).items, []);
    assert.deepEqual((await stock(h.app, `productId=${randomUUID()}`)).items, []);
  });

  it('lists only levels at or below their reorder point with belowReorder=true', async () => {
    const location = await createLocation(h.app);
    const below = await createProduct(h.app, { reorderPoint: 5 });
    const at = await createProduct(h.app, { reorderPoint: 5 });
    const above = await createProduct(h.app, { reorderPoint: 5 });
    const soldOut = await createProduct(h.app, { reorderPoint: 0 });
    const noReorderPoint = await createProduct(h.app);
    await stockUp(h.app, below.id, location.id, 3);
    await stockUp(h.app, at.id, location.id, 5);
    await stockUp(h.app, above.id, location.id, 6);
    await stockUp(h.app, soldOut.id, location.id, 2);
    await move(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: soldOut.id, quantity: 2 }] });
    await stockUp(h.app, noReorderPoint.id, location.id, 1);

    const items = (await stock(h.app, `locationId=${location.id}&belowReorder=true`)).items;
    assert.deepEqual(items.map((item) => item.productId).sort(), [below.id, at.id, soldOut.id].sort());
    for (const item of items) assert.ok(item.available <= item.reorderPoint);
    assert.equal((await stock(h.app, `locationId=${location.id}`)).items.length, 5);

    // Selling one of `above` brings it to its reorder point, and into the list.
    await move(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: above.id, quantity: 1 }] });
    const after = (await stock(h.app, `locationId=${location.id}&belowReorder=true`)).items.map((item) => item.productId);
    assert.ok(after.includes(above.id));
    assert.equal(after.length, 4);
  });

  it('pages through the levels with cursors, each level exactly once', async () => {
    const location = await createLocation(h.app);
    const products = [];
    for (let i = 0; i < 7; i += 1) {
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, i + 1);
      products.push(product);
    }
    const first = await stock(h.app, `locationId=${location.id}&limit=3`);
    assert.equal(first.items.length, 3);
    assert.equal(typeof first.nextCursor, 'string');
    const paged = await allStock(h.app, `locationId=${location.id}`, 3);
    assert.equal(paged.length, 7);
    assert.deepEqual(paged.slice(0, 3), first.items);
    assert.deepEqual(paged.map((item) => item.productId).sort(), products.map((product) => product.id).sort());
    assert.deepEqual(paged, (await stock(h.app, `locationId=${location.id}&limit=500`)).items, 'pages concatenate to the whole list');

    // And over every level there is, with a page size that does not divide it.
    const all = await allStock(h.app, '', 500);
    const inPages = await allStock(h.app, '', 4);
    assert.ok(all.length >= 7);
    assert.deepEqual(inPages, all);
    assert.equal(new Set(inPages.map((item) => `${item.productId}/${item.locationId}`)).size, inPages.length);
  });

  it('names what a refused id is in words, not as a regular expression', async () => {
    const response = await api(h.app, 'GET', '/api/v1/stock?productId=not-a-uuid');
    assert.deepEqual(response.body.errors, [{ path: '/productId', message: 'must be a UUID (0190a5b2-7c3e-7000-8000-000000000000)' }]);
    assert.doesNotMatch(response.body.detail, /[\^$\\]|\[0-9/);
  });

  it('refuses a cursor it did not issue, and a limit outside 1..500 (422)', async () => {
    for (const cursor of ['not-a-cursor', Buffer.from('["only-one"]').toString('base64url')]) {
      assertProblem(await api(h.app, 'GET', `/api/v1/stock?cursor=${encodeURIComponent(cursor)}`), 422, 'validation_failed');
    }
    assertProblem(await api(h.app, 'GET', '/api/v1/stock?limit=0'), 422, 'validation_failed');
    assertProblem(await api(h.app, 'GET', '/api/v1/stock?limit=501'), 422, 'validation_failed');
    assertProblem(await api(h.app, 'GET', '/api/v1/stock?productId=not-a-uuid'), 422, 'validation_failed');
  });

  it('refuses a well-formed cursor whose key is not a level (422, not 500)', async () => {
    const cursor = Buffer.from('["not-a-uuid","nor-this"]').toString('base64url');
    assertProblem(await api(h.app, 'GET', `/api/v1/stock?cursor=${cursor}`), 422, 'validation_failed');
  });

  describe('asOf', () => {
    it('answers onHand as the ledger had it at each point in time', async () => {
      const from = await createLocation(h.app);
      const to = await createLocation(h.app);
      const product = await createProduct(h.app);
      const steps: Record<string, unknown>[] = [
        { type: 'inbound', locationId: from.id, lines: [{ productId: product.id, quantity: 10 }] },
        { type: 'outbound', locationId: from.id, lines: [{ productId: product.id, quantity: 3 }] },
        { type: 'transfer', locationId: from.id, toLocationId: to.id, lines: [{ productId: product.id, quantity: 4 }] },
        { type: 'adjustment', locationId: to.id, reason: 'stocktake', lines: [{ productId: product.id, countedQuantity: 6 }] },
        { type: 'adjustment', locationId: from.id, reason: 'damaged', lines: [{ productId: product.id, quantity: -1 }] },
        { type: 'inbound', locationId: to.id, lines: [{ productId: product.id, quantity: 5 }] },
      ];
      // A point before any movement, then one after each; the running totals from the ledger.
      const points: { at: string; onHand: Map<string, number> }[] = [];
      const running = new Map([
        [from.id, 0],
        [to.id, 0],
      ]);
      await sleep(5);
      points.push({ at: new Date().toISOString(), onHand: new Map(running) });
      const recorded = [];
      for (const step of steps) {
        await sleep(5);
        const movement = await move(h.app, step);
        recorded.push(movement);
        for (const balance of movement.balances) running.set(balance.locationId, balance.onHand);
        await sleep(5);
        points.push({ at: new Date().toISOString(), onHand: new Map(running) });
      }
      assert.deepEqual(
        [...running],
        [
          [from.id, 2],
          [to.id, 11],
        ],
      );

      for (const point of points) {
        const items = await allStock(h.app, `productId=${product.id}&asOf=${point.at}`, 500);
        const onHand = new Map(items.map((item) => [item.locationId, item.onHand]));
        assert.deepEqual(onHand, point.onHand, `as of ${point.at}`);
        for (const item of items) {
          assert.equal(item.reserved, 0);
          assert.equal(item.available, item.onHand);
        }
      }

      // A movement counts from its own createdAt on: asOf takes the ledger up to and including it.
      const transfer = recorded[2]!;
      const atTransfer = await stock(h.app, `productId=${product.id}&locationId=${to.id}&asOf=${transfer.createdAt}`);
      assert.equal(atTransfer.items[0].onHand, 4);
      const justBefore = new Date(Date.parse(transfer.createdAt) - 1).toISOString();
      const beforeTransfer = await stock(h.app, `productId=${product.id}&locationId=${to.id}&asOf=${justBefore}`);
      assert.equal(beforeTransfer.items[0].onHand, 0);

      // Without asOf, the current levels.
      const now = await allStock(h.app, `productId=${product.id}`, 500);
      assert.deepEqual(new Map(now.map((item) => [item.locationId, item.onHand])), running);
    });

    it('applies belowReorder to the level as it was then', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app, { reorderPoint: 5 });
      await stockUp(h.app, product.id, location.id, 10);
      await sleep(5);
      const whenPlenty = new Date().toISOString();
      await sleep(5);
      await move(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 8 }] });
      assert.equal((await stock(h.app, `productId=${product.id}&belowReorder=true`)).items.length, 1);
      assert.equal((await stock(h.app, `productId=${product.id}&belowReorder=true&asOf=${whenPlenty}`)).items.length, 0);
    });

    it('reads a date as the end of that UTC day: its closing stock', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const inboundAt = (at: string, quantity: number) =>
        recordMovementAt(
          { db: h.db, actor: null },
          { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity }] },
          undefined,
          {
            occurredAt: new Date(at),
          },
        );
      await inboundAt('2002-07-09T23:59:59.999Z', 1);
      await inboundAt('2002-07-10T00:00:00.000Z', 10);
      await inboundAt('2002-07-10T23:59:59.999Z', 100);
      await inboundAt('2002-07-11T00:00:00.000Z', 1000);
      const onHandAsOf = async (asOf: string) =>
        (await stock(h.app, `productId=${product.id}&asOf=${encodeURIComponent(asOf)}`)).items[0].onHand;
      assert.equal(await onHandAsOf('2002-07-08'), 0);
      assert.equal(await onHandAsOf('2002-07-09'), 1);
      assert.equal(await onHandAsOf('2002-07-10'), 111, 'the last millisecond of the day counts, the next midnight does not');
      assert.equal(await onHandAsOf('2002-07-11'), 1111);
      // A timestamp is that instant, movements at it included.
      assert.equal(await onHandAsOf('2002-07-10T00:00:00Z'), 11);
      assert.equal(await onHandAsOf('2002-07-10T23:59:59.998Z'), 11);
      assert.equal(await onHandAsOf('2002-07-10T23:59:59.999Z'), 111);
      assert.equal(await onHandAsOf('2002-07-11T01:00:00+01:00'), 1111);
    });

    it('refuses an asOf that is neither a date nor a timestamp (422), in words', async () => {
      for (const asOf of ['yesterday', '2026-09', '10:15:00Z', '2026-02-30', '2026-09-01T24:00:00Z']) {
        const response = await api(h.app, 'GET', `/api/v1/stock?asOf=${encodeURIComponent(asOf)}`);
        assertValidationError(response, '/asOf');
        assert.deepEqual(response.body.errors, [
          { path: '/asOf', message: 'must be a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z)' },
        ]);
        assert.match(response.body.detail, /date/);
        assert.doesNotMatch(response.body.detail, /[\^$\\]|\\d|\[0-9/, 'no regular expression');
      }
    });
  });
});

describe('GET /api/v1/products/{id}/stock', () => {
  it('answers the level at every active location, zeros included, and the total', async () => {
    const product = await createProduct(h.app, { reorderPoint: 3 });
    const first = await createLocation(h.app);
    const second = await createLocation(h.app, { allowNegative: true });
    const empty = await createLocation(h.app);
    await stockUp(h.app, product.id, first.id, 10);
    await move(h.app, { type: 'transfer', locationId: first.id, toLocationId: second.id, lines: [{ productId: product.id, quantity: 4 }] });
    await move(h.app, { type: 'outbound', locationId: second.id, lines: [{ productId: product.id, quantity: 5 }] });

    const response = await api(h.app, 'GET', `/api/v1/products/${product.id}/stock`);
    assert.equal(response.status, 200);
    const body = response.body;
    assert.equal(body.productId, product.id);
    assert.equal(body.sku, product.sku);
    assert.equal(body.productName, product.name);
    assert.equal(body.reorderPoint, 3);

    const active = (await allLocations(h.app)).filter((location) => !location.archived);
    assert.deepEqual(body.levels.map((level: any) => level.locationId).sort(), active.map((location) => location.id).sort());
    const levelAt = (locationId: string) => body.levels.find((level: any) => level.locationId === locationId);
    assert.deepEqual(levelAt(first.id), {
      locationId: first.id,
      locationCode: first.code,
      locationName: first.name,
      onHand: 6,
      reserved: 0,
      available: 6,
    });
    assert.deepEqual(levelAt(second.id), {
      locationId: second.id,
      locationCode: second.code,
      locationName: second.name,
      onHand: -1,
      reserved: 0,
      available: -1,
    });
    assert.deepEqual(levelAt(empty.id), {
      locationId: empty.id,
      locationCode: empty.code,
      locationName: empty.name,
      onHand: 0,
      reserved: 0,
      available: 0,
    });
    for (const level of body.levels) {
      if (![first.id, second.id].includes(level.locationId)) assert.deepEqual([level.onHand, level.reserved, level.available], [0, 0, 0]);
    }
    assert.deepEqual(body.total, { onHand: 5, reserved: 0, available: 5 });
  });

  it('leaves out an archived location with nothing, and keeps one that still holds stock', async () => {
    const product = await createProduct(h.app);
    const archivedEmpty = await createLocation(h.app);
    const archivedHolding = await createLocation(h.app);
    await stockUp(h.app, product.id, archivedHolding.id, 2);
    for (const location of [archivedEmpty, archivedHolding]) {
      assert.equal((await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { archived: true })).status, 200);
    }
    const body = (await api(h.app, 'GET', `/api/v1/products/${product.id}/stock`)).body;
    const ids = body.levels.map((level: any) => level.locationId);
    assert.ok(!ids.includes(archivedEmpty.id));
    assert.ok(ids.includes(archivedHolding.id));
    assert.deepEqual(body.total, { onHand: 2, reserved: 0, available: 2 });
  });

  it('answers zeros everywhere for a product that never moved', async () => {
    const product = await createProduct(h.app);
    const location = await createLocation(h.app);
    const body = (await api(h.app, 'GET', `/api/v1/products/${product.id}/stock`)).body;
    assert.ok(body.levels.some((level: any) => level.locationId === location.id));
    for (const level of body.levels) assert.deepEqual([level.onHand, level.reserved, level.available], [0, 0, 0]);
    assert.deepEqual(body.total, { onHand: 0, reserved: 0, available: 0 });
  });

  it('answers 404 for an unknown product and 422 for an id that is not a UUID', async () => {
    assertProblem(await api(h.app, 'GET', `/api/v1/products/${randomUUID()}/stock`), 404, 'not_found');
    assertProblem(await api(h.app, 'GET', '/api/v1/products/not-a-uuid/stock'), 422, 'validation_failed');
  });
});
