import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { levelsDisagreeingWithLedger } from '../../support/ledger.ts';
import { createLocation, createProduct, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness, type TestApp } from '../../support/helpers.ts';
import { assertProblem, assertValidationError, TIMESTAMP, UUID } from '../../support/assertions.ts';
import { recordMovement as recordMovementAt } from '../../../src/services/movements.ts';

// The specification of POST /api/v1/movements and of the movement history (API.md, "Stock and
// the movement ledger"). Every refusal is also checked to have written nothing: no level changed
// and no movement added anywhere.

interface Level {
  productId: string;
  locationId: string;
  onHand: number;
  reserved: number;
  available: number;
}

function assertCreated(response: ApiResponse) {
  assert.equal(response.status, 201, `expected 201, got ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** The stored level of a product at a location, or undefined when none exists. */
async function levelOf(app: TestApp, productId: string, locationId: string): Promise<Level | undefined> {
  const response = await api(app, 'GET', `/api/v1/stock?productId=${productId}&locationId=${locationId}`);
  assert.equal(response.status, 200);
  assert.ok(response.body.items.length <= 1);
  const item = response.body.items[0];
  return item === undefined
    ? undefined
    : { productId: item.productId, locationId: item.locationId, onHand: item.onHand, reserved: item.reserved, available: item.available };
}

async function onHandOf(app: TestApp, productId: string, locationId: string): Promise<number> {
  return (await levelOf(app, productId, locationId))?.onHand ?? 0;
}

/** Every movement the history holds (newest first), following cursors. */
async function allMovements(app: TestApp, query = '', limit = 500): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page += 1) {
    const separator = query === '' ? '' : '&';
    const url: string = `/api/v1/movements?${query}${separator}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const response = await api(app, 'GET', url);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    items.push(...response.body.items);
    cursor = response.body.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error('the history did not end');
}

/** What a refused request must leave unchanged: the levels of these products, and the whole history. */
async function snapshot(app: TestApp, productIds: string[]) {
  const levels = [];
  for (const productId of productIds) {
    const response = await api(app, 'GET', `/api/v1/stock?productId=${productId}&limit=500`);
    assert.equal(response.status, 200);
    levels.push(response.body.items);
  }
  const movements = (await allMovements(app)).map((movement) => movement.id);
  return { levels, movements };
}

// One database for the whole file (creating one is slow); tests never depend on each other's
// data because each makes its own products and locations.
let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());
afterEach(async () => {
  assert.deepEqual(await h.db.connection((db) => levelsDisagreeingWithLedger(db)), [], 'every level equals the sum of its ledger');
});

describe('POST /api/v1/movements', () => {
  describe('recording each type', () => {
    it('records an inbound and answers the movement with the level after it', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const response = await recordMovement(h.app, {
        type: 'inbound',
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 5 }],
        reference: 'PO-1042',
        note: 'first delivery',
      });
      const movement = assertCreated(response);
      assert.match(String(response.headers['content-type']), /^application\/json/);
      const { id, createdAt, createdBy, ...rest } = movement;
      assert.match(id, UUID);
      assert.match(createdAt, TIMESTAMP);
      assert.ok(Math.abs(Date.parse(createdAt) - Date.now()) < 60_000, 'createdAt is now');
      const me = (await api(h.app, 'GET', '/api/v1/me')).body;
      assert.deepEqual(createdBy, { id: me.id, name: me.name }, 'the movement records who recorded it');
      assert.deepEqual(rest, {
        type: 'inbound',
        locationId: location.id,
        toLocationId: null,
        reference: 'PO-1042',
        note: 'first delivery',
        reason: null,
        lines: [{ productId: product.id, quantity: 5 }],
        balances: [{ productId: product.id, locationId: location.id, onHand: 5, reserved: 0, available: 5 }],
      });
      assert.deepEqual(await levelOf(h.app, product.id, location.id), movement.balances[0]);
    });

    it('adds an inbound to the stock already there', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      const movement = assertCreated(
        await recordMovement(h.app, { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 7 }] }),
      );
      assert.deepEqual(movement.balances, [{ productId: product.id, locationId: location.id, onHand: 12, reserved: 0, available: 12 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 12);
    });

    it('records an outbound and lowers the level by its quantity', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      const movement = assertCreated(
        await recordMovement(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 4 }] }),
      );
      assert.equal(movement.type, 'outbound');
      assert.deepEqual(movement.lines, [{ productId: product.id, quantity: 4 }]);
      assert.deepEqual(movement.balances, [{ productId: product.id, locationId: location.id, onHand: 6, reserved: 0, available: 6 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 6);
    });

    it('lets an outbound take exactly everything available', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 3);
      const movement = assertCreated(
        await recordMovement(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 3 }] }),
      );
      assert.deepEqual(movement.balances, [{ productId: product.id, locationId: location.id, onHand: 0, reserved: 0, available: 0 }]);
    });

    it('records a transfer: returns both balances and shows the line with its positive quantity', async () => {
      const from = await createLocation(h.app);
      const to = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, from.id, 10);
      const movement = assertCreated(
        await recordMovement(h.app, {
          type: 'transfer',
          locationId: from.id,
          toLocationId: to.id,
          lines: [{ productId: product.id, quantity: 4 }],
        }),
      );
      assert.equal(movement.type, 'transfer');
      assert.equal(movement.locationId, from.id);
      assert.equal(movement.toLocationId, to.id);
      assert.deepEqual(movement.lines, [{ productId: product.id, quantity: 4 }]);
      const balances = [...movement.balances].sort(
        (a: Level, b: Level) => (a.locationId === from.id ? -1 : 1) - (b.locationId === from.id ? -1 : 1),
      );
      assert.deepEqual(balances, [
        { productId: product.id, locationId: from.id, onHand: 6, reserved: 0, available: 6 },
        { productId: product.id, locationId: to.id, onHand: 4, reserved: 0, available: 4 },
      ]);
      assert.equal(await onHandOf(h.app, product.id, from.id), 6);
      assert.equal(await onHandOf(h.app, product.id, to.id), 4);
    });

    it('records an adjustment with a signed quantity, up and down', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      const down = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'damaged',
          lines: [{ productId: product.id, quantity: -3 }],
        }),
      );
      assert.equal(down.reason, 'damaged');
      assert.deepEqual(down.lines, [{ productId: product.id, quantity: -3 }]);
      assert.deepEqual(down.balances, [{ productId: product.id, locationId: location.id, onHand: 7, reserved: 0, available: 7 }]);
      const up = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'found',
          lines: [{ productId: product.id, quantity: 2 }],
        }),
      );
      assert.deepEqual(up.lines, [{ productId: product.id, quantity: 2 }]);
      assert.deepEqual(up.balances, [{ productId: product.id, locationId: location.id, onHand: 9, reserved: 0, available: 9 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 9);
    });

    it('records an adjustment from a countedQuantity, computing the delta from the level', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      const counted = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'stocktake',
          lines: [{ productId: product.id, countedQuantity: 7 }],
        }),
      );
      assert.deepEqual(counted.lines, [{ productId: product.id, quantity: -3, countedQuantity: 7 }]);
      assert.deepEqual(counted.balances, [{ productId: product.id, locationId: location.id, onHand: 7, reserved: 0, available: 7 }]);
      const higher = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'stocktake',
          lines: [{ productId: product.id, countedQuantity: 12 }],
        }),
      );
      assert.deepEqual(higher.lines, [{ productId: product.id, quantity: 5, countedQuantity: 12 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 12);
    });

    it('counts a level that never had a movement as zero', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const counted = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'stocktake',
          lines: [{ productId: product.id, countedQuantity: 4 }],
        }),
      );
      assert.deepEqual(counted.lines, [{ productId: product.id, quantity: 4, countedQuantity: 4 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 4);
    });

    it('records a count that matches as a zero adjustment that keeps the countedQuantity', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      const counted = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'stocktake',
          lines: [{ productId: product.id, countedQuantity: 10 }],
        }),
      );
      assert.deepEqual(counted.lines, [{ productId: product.id, quantity: 0, countedQuantity: 10 }]);
      assert.deepEqual(counted.balances, [{ productId: product.id, locationId: location.id, onHand: 10, reserved: 0, available: 10 }]);
      const history = await allMovements(h.app, `productId=${product.id}`);
      assert.equal(history.length, 2);
      assert.equal(history[0].id, counted.id);
      assert.deepEqual(history[0].lines, [{ productId: product.id, quantity: 0, countedQuantity: 10 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 10);
    });

    it('applies every line of a movement with several lines', async () => {
      const location = await createLocation(h.app);
      const first = await createProduct(h.app);
      const second = await createProduct(h.app);
      const third = await createProduct(h.app);
      const movement = assertCreated(
        await recordMovement(h.app, {
          type: 'inbound',
          locationId: location.id,
          lines: [
            { productId: first.id, quantity: 1 },
            { productId: second.id, quantity: 2 },
            { productId: third.id, quantity: 3 },
          ],
        }),
      );
      assert.deepEqual(movement.lines, [
        { productId: first.id, quantity: 1 },
        { productId: second.id, quantity: 2 },
        { productId: third.id, quantity: 3 },
      ]);
      assert.equal(movement.balances.length, 3);
      assert.equal(await onHandOf(h.app, first.id, location.id), 1);
      assert.equal(await onHandOf(h.app, second.id, location.id), 2);
      assert.equal(await onHandOf(h.app, third.id, location.id), 3);
    });
  });

  describe('validation', () => {
    /** Sends a movement that must be refused with 422 at `path`, and checks nothing was written. */
    async function refusesAt(movement: Record<string, unknown>, path: string, productIds: string[], headers: Record<string, string> = {}) {
      const before = await snapshot(h.app, productIds);
      const response = await recordMovement(h.app, movement, headers);
      assertValidationError(response, path);
      assert.deepEqual(await snapshot(h.app, productIds), before);
      return response;
    }

    it('requires a reason for an adjustment (422 at /reason) and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      await refusesAt({ type: 'adjustment', locationId: location.id, lines: [{ productId: product.id, quantity: -1 }] }, '/reason', [
        product.id,
      ]);
      await refusesAt(
        { type: 'adjustment', locationId: location.id, reason: '   ', lines: [{ productId: product.id, quantity: -1 }] },
        '/reason',
        [product.id],
      );
      await refusesAt({ type: 'adjustment', locationId: location.id, lines: [{ productId: product.id, countedQuantity: 1 }] }, '/reason', [
        product.id,
      ]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 5);
    });

    it('refuses a transfer to the location it comes from', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      await refusesAt(
        { type: 'transfer', locationId: location.id, toLocationId: location.id, lines: [{ productId: product.id, quantity: 1 }] },
        '/toLocationId',
        [product.id],
      );
    });

    it('refuses a transfer without toLocationId', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      await refusesAt({ type: 'transfer', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }, '/toLocationId', [
        product.id,
      ]);
    });

    it('refuses toLocationId on any movement other than a transfer', async () => {
      const location = await createLocation(h.app);
      const other = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      for (const type of ['inbound', 'outbound', 'adjustment']) {
        await refusesAt(
          { type, locationId: location.id, toLocationId: other.id, reason: 'r', lines: [{ productId: product.id, quantity: 1 }] },
          '/toLocationId',
          [product.id],
        );
      }
    });

    it('refuses a product that appears on two lines', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const other = await createProduct(h.app);
      await refusesAt(
        {
          type: 'inbound',
          locationId: location.id,
          lines: [
            { productId: product.id, quantity: 1 },
            { productId: other.id, quantity: 1 },
            { productId: product.id, quantity: 2 },
          ],
        },
        '/lines/2/productId',
        [product.id, other.id],
      );
    });

    it('refuses a zero or negative quantity on an outbound, an inbound and a transfer', async () => {
      const location = await createLocation(h.app);
      const other = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      for (const type of ['outbound', 'inbound', 'transfer']) {
        for (const quantity of [0, -1, -5]) {
          await refusesAt(
            {
              type,
              locationId: location.id,
              ...(type === 'transfer' ? { toLocationId: other.id } : {}),
              lines: [{ productId: product.id, quantity }],
            },
            '/lines/0/quantity',
            [product.id],
          );
        }
      }
      assert.equal(await onHandOf(h.app, product.id, location.id), 5);
    });

    it('refuses a line without a quantity on a movement other than an adjustment', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await refusesAt({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id }] }, '/lines/0/quantity', [product.id]);
    });

    it('refuses a quantity that is not an integer', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await refusesAt(
        { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1.5 }] },
        '/lines/0/quantity',
        [product.id],
      );
      await refusesAt(
        { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: '5' }] },
        '/lines/0/quantity',
        [product.id],
      );
    });

    it('refuses an adjustment of zero, and a line with both or neither of quantity and countedQuantity', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      const base = { type: 'adjustment', locationId: location.id, reason: 'count' };
      await refusesAt({ ...base, lines: [{ productId: product.id, quantity: 0 }] }, '/lines/0/quantity', [product.id]);
      await refusesAt({ ...base, lines: [{ productId: product.id, quantity: 1, countedQuantity: 6 }] }, '/lines/0', [product.id]);
      await refusesAt({ ...base, lines: [{ productId: product.id }] }, '/lines/0', [product.id]);
    });

    it('refuses a negative countedQuantity, and a countedQuantity on anything but an adjustment', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      await refusesAt(
        { type: 'adjustment', locationId: location.id, reason: 'count', lines: [{ productId: product.id, countedQuantity: -1 }] },
        '/lines/0/countedQuantity',
        [product.id],
      );
      await refusesAt(
        { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1, countedQuantity: 3 }] },
        '/lines/0/countedQuantity',
        [product.id],
      );
    });

    it('refuses a movement without lines', async () => {
      const location = await createLocation(h.app);
      await refusesAt({ type: 'inbound', locationId: location.id, lines: [] }, '/lines', []);
    });

    it('refuses 1001 lines', async () => {
      const location = await createLocation(h.app);
      const lines = Array.from({ length: 1001 }, () => ({ productId: randomUUID(), quantity: 1 }));
      await refusesAt({ type: 'inbound', locationId: location.id, lines }, '/lines', []);
    });

    it('refuses an unknown type and an unknown field', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await refusesAt({ type: 'theft', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }, '/type', [product.id]);
      await refusesAt(
        { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }], available: 3 },
        '/available',
        [product.id],
      );
    });

    it('accepts 1000 lines and applies every one of them', async () => {
      const location = await createLocation(h.app);
      const products: { id: string }[] = [];
      for (let batch = 0; batch < 20; batch += 1) {
        products.push(...(await Promise.all(Array.from({ length: 50 }, () => createProduct(h.app)))));
      }
      const lines = products.map((product, index) => ({ productId: product.id, quantity: index + 1 }));
      const movement = assertCreated(await recordMovement(h.app, { type: 'inbound', locationId: location.id, lines }));
      assert.deepEqual(movement.lines, lines);
      assert.equal(movement.balances.length, 1000);
      const onHand = new Map(movement.balances.map((balance: Level) => [balance.productId, balance.onHand]));
      for (const line of lines) assert.equal(onHand.get(line.productId), line.quantity);
      const stock = await api(h.app, 'GET', `/api/v1/stock?locationId=${location.id}&limit=500`);
      assert.equal(stock.body.items.length, 500);
      assert.equal(await onHandOf(h.app, products[999]!.id, location.id), 1000);
    });
  });

  describe('references', () => {
    it('answers 404 for an unknown product and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      const before = await snapshot(h.app, [product.id]);
      const response = await recordMovement(h.app, {
        type: 'inbound',
        locationId: location.id,
        lines: [
          { productId: product.id, quantity: 1 },
          { productId: randomUUID(), quantity: 1 },
        ],
      });
      assertProblem(response, 404, 'not_found');
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
    });

    it('answers 404 for an unknown location or destination and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      const before = await snapshot(h.app, [product.id]);
      assertProblem(
        await recordMovement(h.app, { type: 'inbound', locationId: randomUUID(), lines: [{ productId: product.id, quantity: 1 }] }),
        404,
        'not_found',
      );
      assertProblem(
        await recordMovement(h.app, {
          type: 'transfer',
          locationId: location.id,
          toLocationId: randomUUID(),
          lines: [{ productId: product.id, quantity: 1 }],
        }),
        404,
        'not_found',
      );
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
    });

    it('answers 409 conflict for an archived location, as source or destination, and writes nothing', async () => {
      const active = await createLocation(h.app);
      const archived = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, active.id, 5);
      await stockUp(h.app, product.id, archived.id, 5);
      const archiving = await api(h.app, 'PATCH', `/api/v1/locations/${archived.id}`, { archived: true });
      assert.equal(archiving.status, 200);
      const before = await snapshot(h.app, [product.id]);
      assertProblem(
        await recordMovement(h.app, { type: 'inbound', locationId: archived.id, lines: [{ productId: product.id, quantity: 1 }] }),
        409,
        'conflict',
      );
      assertProblem(
        await recordMovement(h.app, { type: 'outbound', locationId: archived.id, lines: [{ productId: product.id, quantity: 1 }] }),
        409,
        'conflict',
      );
      assertProblem(
        await recordMovement(h.app, {
          type: 'transfer',
          locationId: active.id,
          toLocationId: archived.id,
          lines: [{ productId: product.id, quantity: 1 }],
        }),
        409,
        'conflict',
      );
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
    });
  });

  describe('insufficient stock', () => {
    it('refuses an outbound larger than available with the short line, and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 3);
      const before = await snapshot(h.app, [product.id]);
      const response = await recordMovement(h.app, {
        type: 'outbound',
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 4 }],
      });
      assertProblem(response, 409, 'insufficient_stock');
      assert.deepEqual(response.body.lines, [{ productId: product.id, locationId: location.id, requested: 4, available: 3 }]);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await onHandOf(h.app, product.id, location.id), 3);
    });

    it('refuses an outbound where no stock was ever recorded, and creates no level', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const before = await snapshot(h.app, [product.id]);
      const response = await recordMovement(h.app, {
        type: 'outbound',
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 1 }],
      });
      assertProblem(response, 409, 'insufficient_stock');
      assert.deepEqual(response.body.lines, [{ productId: product.id, locationId: location.id, requested: 1, available: 0 }]);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await levelOf(h.app, product.id, location.id), undefined);
    });

    it('applies no line of a movement when only one of its lines is short', async () => {
      const location = await createLocation(h.app);
      const plenty = await createProduct(h.app);
      const short = await createProduct(h.app);
      const alsoPlenty = await createProduct(h.app);
      await stockUp(h.app, plenty.id, location.id, 10);
      await stockUp(h.app, short.id, location.id, 2);
      await stockUp(h.app, alsoPlenty.id, location.id, 10);
      const productIds = [plenty.id, short.id, alsoPlenty.id];
      const before = await snapshot(h.app, productIds);
      const response = await recordMovement(h.app, {
        type: 'outbound',
        locationId: location.id,
        lines: [
          { productId: plenty.id, quantity: 5 },
          { productId: short.id, quantity: 3 },
          { productId: alsoPlenty.id, quantity: 5 },
        ],
      });
      assertProblem(response, 409, 'insufficient_stock');
      assert.deepEqual(response.body.lines, [{ productId: short.id, locationId: location.id, requested: 3, available: 2 }]);
      assert.deepEqual(await snapshot(h.app, productIds), before);
      assert.equal(await onHandOf(h.app, plenty.id, location.id), 10);
      assert.equal(await onHandOf(h.app, short.id, location.id), 2);
      assert.equal(await onHandOf(h.app, alsoPlenty.id, location.id), 10);
      for (const productId of productIds) assert.equal((await allMovements(h.app, `productId=${productId}`)).length, 1);
    });

    it('refuses a transfer larger than available at its source, and writes nothing at either end', async () => {
      const from = await createLocation(h.app);
      const to = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, from.id, 2);
      const before = await snapshot(h.app, [product.id]);
      const response = await recordMovement(h.app, {
        type: 'transfer',
        locationId: from.id,
        toLocationId: to.id,
        lines: [{ productId: product.id, quantity: 3 }],
      });
      assertProblem(response, 409, 'insufficient_stock');
      assert.deepEqual(response.body.lines, [{ productId: product.id, locationId: from.id, requested: 3, available: 2 }]);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await levelOf(h.app, product.id, to.id), undefined);
    });

    it('refuses a negative adjustment below zero, and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 2);
      const before = await snapshot(h.app, [product.id]);
      const response = await recordMovement(h.app, {
        type: 'adjustment',
        locationId: location.id,
        reason: 'lost',
        lines: [{ productId: product.id, quantity: -3 }],
      });
      assertProblem(response, 409, 'insufficient_stock');
      assert.deepEqual(response.body.lines, [{ productId: product.id, locationId: location.id, requested: 3, available: 2 }]);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
    });

    it('lets stock go negative at a location that allows it', async () => {
      const location = await createLocation(h.app, { allowNegative: true });
      assert.equal(location.allowNegative, true);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 2);
      const outbound = assertCreated(
        await recordMovement(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] }),
      );
      assert.deepEqual(outbound.balances, [{ productId: product.id, locationId: location.id, onHand: -3, reserved: 0, available: -3 }]);
      const adjustment = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'shrinkage',
          lines: [{ productId: product.id, quantity: -2 }],
        }),
      );
      assert.deepEqual(adjustment.balances, [{ productId: product.id, locationId: location.id, onHand: -5, reserved: 0, available: -5 }]);
      const other = await createLocation(h.app);
      const transfer = assertCreated(
        await recordMovement(h.app, {
          type: 'transfer',
          locationId: location.id,
          toLocationId: other.id,
          lines: [{ productId: product.id, quantity: 1 }],
        }),
      );
      assert.equal(transfer.balances.find((balance: Level) => balance.locationId === location.id).onHand, -6);
      assert.equal(await onHandOf(h.app, product.id, location.id), -6);
      assert.equal(await onHandOf(h.app, product.id, other.id), 1);
    });
  });

  describe('expectedOnHand (compare-and-set)', () => {
    it('applies a movement whose expectedOnHand matches the level', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      const movement = assertCreated(
        await recordMovement(h.app, {
          type: 'adjustment',
          locationId: location.id,
          reason: 'stocktake',
          lines: [{ productId: product.id, countedQuantity: 8, expectedOnHand: 10 }],
        }),
      );
      assert.deepEqual(movement.lines, [{ productId: product.id, quantity: -2, countedQuantity: 8 }]);
      assert.equal(await onHandOf(h.app, product.id, location.id), 8);
      assertCreated(
        await recordMovement(h.app, {
          type: 'outbound',
          locationId: location.id,
          lines: [{ productId: product.id, quantity: 1, expectedOnHand: 8 }],
        }),
      );
      assert.equal(await onHandOf(h.app, product.id, location.id), 7);
    });

    it('treats a level that never had a movement as an on-hand of zero', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      assertCreated(
        await recordMovement(h.app, {
          type: 'inbound',
          locationId: location.id,
          lines: [{ productId: product.id, quantity: 3, expectedOnHand: 0 }],
        }),
      );
      assert.equal(await onHandOf(h.app, product.id, location.id), 3);
    });

    it('refuses a stocktake whose on-hand changed since it was counted (409 stale_quantity), and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      // The clerk counts 10; meanwhile a sale takes 2.
      assertCreated(
        await recordMovement(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] }),
      );
      const before = await snapshot(h.app, [product.id]);
      const response = await recordMovement(h.app, {
        type: 'adjustment',
        locationId: location.id,
        reason: 'stocktake',
        lines: [{ productId: product.id, countedQuantity: 9, expectedOnHand: 10 }],
      });
      assertProblem(response, 409, 'stale_quantity');
      assert.deepEqual(response.body.lines, [{ productId: product.id, locationId: location.id, expected: 10, actual: 8 }]);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await onHandOf(h.app, product.id, location.id), 8);
    });

    it('refuses the whole movement when one line of several is stale, listing only that line', async () => {
      const location = await createLocation(h.app);
      const fresh = await createProduct(h.app);
      const stale = await createProduct(h.app);
      await stockUp(h.app, fresh.id, location.id, 5);
      await stockUp(h.app, stale.id, location.id, 5);
      const before = await snapshot(h.app, [fresh.id, stale.id]);
      const response = await recordMovement(h.app, {
        type: 'outbound',
        locationId: location.id,
        lines: [
          { productId: fresh.id, quantity: 1, expectedOnHand: 5 },
          { productId: stale.id, quantity: 1, expectedOnHand: 6 },
        ],
      });
      assertProblem(response, 409, 'stale_quantity');
      assert.deepEqual(response.body.lines, [{ productId: stale.id, locationId: location.id, expected: 6, actual: 5 }]);
      assert.deepEqual(await snapshot(h.app, [fresh.id, stale.id]), before);
    });
  });

  describe('Idempotency-Key', () => {
    const inject = (movement: Record<string, unknown>, key: string) =>
      h.app.inject({
        method: 'POST',
        url: '/api/v1/movements',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, ...h.auth },
        payload: JSON.stringify(movement),
      });

    it('replays the first answer byte for byte with Idempotent-Replayed: true, and writes nothing again', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const movement = { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] };
      const key = `key-${randomUUID()}`;
      const first = await inject(movement, key);
      assert.equal(first.statusCode, 201);
      assert.equal(first.headers['idempotent-replayed'], undefined);
      const before = await snapshot(h.app, [product.id]);
      const replay = await inject(movement, key);
      assert.equal(replay.statusCode, 201);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal(replay.body, first.body);
      assert.match(String(replay.headers['content-type']), /^application\/json/);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await onHandOf(h.app, product.id, location.id), 5);
      const history = await allMovements(h.app, `productId=${product.id}`);
      assert.deepEqual(
        history.map((item) => item.id),
        [JSON.parse(first.body).id],
      );
    });

    it('keeps replaying the first answer after the level has changed', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 10);
      const movement = { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 4 }] };
      const key = `key-${randomUUID()}`;
      const first = await inject(movement, key);
      assert.equal(first.statusCode, 201);
      await stockUp(h.app, product.id, location.id, 1);
      const replay = await inject(movement, key);
      assert.equal(replay.statusCode, 201);
      assert.equal(replay.body, first.body);
      assert.equal(await onHandOf(h.app, product.id, location.id), 7);
    });

    it('refuses the same key with another body (422 idempotency_key_reused), and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const key = `key-${randomUUID()}`;
      const first = await inject({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] }, key);
      assert.equal(first.statusCode, 201);
      const before = await snapshot(h.app, [product.id]);
      const reused = await recordMovement(
        h.app,
        { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 6 }] },
        { 'idempotency-key': key },
      );
      assertProblem(reused, 422, 'idempotency_key_reused');
      assert.equal(reused.headers['idempotent-replayed'], undefined);
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await onHandOf(h.app, product.id, location.id), 5);
    });

    it('does not spend the key on a request that failed', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const movement = { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 3 }] };
      const key = `key-${randomUUID()}`;
      const before = await snapshot(h.app, [product.id]);
      const refused = await inject(movement, key);
      assert.equal(refused.statusCode, 409);
      assert.equal(JSON.parse(refused.body).code, 'insufficient_stock');
      assert.deepEqual(await snapshot(h.app, [product.id]), before);

      await stockUp(h.app, product.id, location.id, 5);
      const retried = await inject(movement, key);
      assert.equal(retried.statusCode, 201, retried.body);
      assert.equal(retried.headers['idempotent-replayed'], undefined);
      assert.equal(await onHandOf(h.app, product.id, location.id), 2);

      const replay = await inject(movement, key);
      assert.equal(replay.statusCode, 201);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal(replay.body, retried.body);
      assert.equal(await onHandOf(h.app, product.id, location.id), 2);
    });

    it('refuses an invalid key (422) and writes nothing', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const movement = { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] };
      const before = await snapshot(h.app, [product.id]);
      for (const key of ['has a space', 'k'.repeat(256), 'tab\there', 'ключ']) {
        const response = await recordMovement(h.app, movement, { 'idempotency-key': key });
        assertProblem(response, 422, 'validation_failed');
      }
      assert.deepEqual(await snapshot(h.app, [product.id]), before);
      assert.equal(await levelOf(h.app, product.id, location.id), undefined);
    });

    it('accepts a key of 255 printable characters', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const movement = { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] };
      const key = `${randomUUID()}~!#$%^&*()`.padEnd(255, 'x');
      const first = await inject(movement, key);
      assert.equal(first.statusCode, 201, first.body);
      const replay = await inject(movement, key);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal(replay.body, first.body);
      assert.equal(await onHandOf(h.app, product.id, location.id), 5);
    });
  });
});

describe('GET /api/v1/movements', () => {
  /** Records a movement and waits a little, so that the next one has a later createdAt. */
  async function record(movement: Record<string, unknown>) {
    const body = assertCreated(await recordMovement(h.app, movement));
    await sleep(5);
    return body;
  }

  it('lists movements newest first, each as it was recorded', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const first = await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] });
    const second = await record({ type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] });
    const third = await record({
      type: 'adjustment',
      locationId: location.id,
      reason: 'count',
      lines: [{ productId: product.id, countedQuantity: 1 }],
    });
    const mine = await allMovements(h.app, `productId=${product.id}`);
    const { balances: _1, ...thirdAsListed } = third;
    const { balances: _2, ...secondAsListed } = second;
    const { balances: _3, ...firstAsListed } = first;
    assert.deepEqual(mine, [thirdAsListed, secondAsListed, firstAsListed]);

    const everything = await allMovements(h.app);
    for (let i = 1; i < everything.length; i += 1) {
      assert.ok(everything[i - 1].id > everything[i].id, 'ids descend');
      assert.ok(everything[i - 1].createdAt >= everything[i].createdAt, 'createdAt never increases down the list');
    }
    assert.equal(everything[0].id, third.id);
  });

  it('filters by product', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const other = await createProduct(h.app);
    const both = await record({
      type: 'inbound',
      locationId: location.id,
      lines: [
        { productId: product.id, quantity: 1 },
        { productId: other.id, quantity: 1 },
      ],
    });
    await record({ type: 'inbound', locationId: location.id, lines: [{ productId: other.id, quantity: 1 }] });
    const mine = await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] });
    assert.deepEqual(
      (await allMovements(h.app, `productId=${product.id}`)).map((m) => m.id),
      [mine.id, both.id],
    );
  });

  it('filters by location, listing a transfer under both of its locations', async () => {
    const from = await createLocation(h.app);
    const to = await createLocation(h.app);
    const elsewhere = await createLocation(h.app);
    const product = await createProduct(h.app);
    const inbound = await record({ type: 'inbound', locationId: from.id, lines: [{ productId: product.id, quantity: 5 }] });
    const transfer = await record({
      type: 'transfer',
      locationId: from.id,
      toLocationId: to.id,
      lines: [{ productId: product.id, quantity: 2 }],
    });
    const outbound = await record({ type: 'outbound', locationId: to.id, lines: [{ productId: product.id, quantity: 1 }] });
    await record({ type: 'inbound', locationId: elsewhere.id, lines: [{ productId: product.id, quantity: 1 }] });
    assert.deepEqual(
      (await allMovements(h.app, `locationId=${from.id}`)).map((m) => m.id),
      [transfer.id, inbound.id],
    );
    assert.deepEqual(
      (await allMovements(h.app, `locationId=${to.id}`)).map((m) => m.id),
      [outbound.id, transfer.id],
    );
    assert.deepEqual(
      (await allMovements(h.app, `locationId=${to.id}&productId=${product.id}`)).map((m) => m.id),
      [outbound.id, transfer.id],
    );
    const listedTransfer = (await allMovements(h.app, `locationId=${to.id}`))[1];
    assert.deepEqual(listedTransfer.lines, [{ productId: product.id, quantity: 2 }]);
    assert.equal(listedTransfer.locationId, from.id);
    assert.equal(listedTransfer.toLocationId, to.id);
  });

  it('filters by type', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const inbound = await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] });
    const outbound = await record({ type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] });
    const adjustment = await record({
      type: 'adjustment',
      locationId: location.id,
      reason: 'found',
      lines: [{ productId: product.id, quantity: 1 }],
    });
    const laterInbound = await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] });
    const ids = async (type: string) => (await allMovements(h.app, `productId=${product.id}&type=${type}`)).map((m) => m.id);
    assert.deepEqual(await ids('inbound'), [laterInbound.id, inbound.id]);
    assert.deepEqual(await ids('outbound'), [outbound.id]);
    assert.deepEqual(await ids('adjustment'), [adjustment.id]);
    assert.deepEqual(await ids('transfer'), []);
    for (const movement of await allMovements(h.app, 'type=outbound')) assert.equal(movement.type, 'outbound');
    assertValidationError(await api(h.app, 'GET', '/api/v1/movements?type=theft'), '/type');
  });

  it('filters by time: from is inclusive, to is exclusive', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const line = [{ productId: product.id, quantity: 1 }];
    const first = await record({ type: 'inbound', locationId: location.id, lines: line });
    const second = await record({ type: 'inbound', locationId: location.id, lines: line });
    const third = await record({ type: 'inbound', locationId: location.id, lines: line });
    assert.ok(first.createdAt < second.createdAt && second.createdAt < third.createdAt, 'the movements have distinct times');
    const ids = async (query: string) => (await allMovements(h.app, `productId=${product.id}&${query}`)).map((m) => m.id);
    assert.deepEqual(await ids(`from=${second.createdAt}`), [third.id, second.id]);
    assert.deepEqual(await ids(`to=${second.createdAt}`), [first.id]);
    assert.deepEqual(await ids(`from=${second.createdAt}&to=${third.createdAt}`), [second.id]);
    assert.deepEqual(await ids(`from=${first.createdAt}&to=${first.createdAt}`), []);
    const afterThird = new Date(Date.parse(third.createdAt) + 1).toISOString();
    assert.deepEqual(await ids(`from=${afterThird}`), []);
    assertValidationError(await api(h.app, 'GET', '/api/v1/movements?from=yesterday'), '/from');
  });

  it('pages through the history with cursors, every movement exactly once', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const recorded = [];
    for (let i = 0; i < 7; i += 1) {
      recorded.push((await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: i + 1 }] })).id);
    }
    const first = await api(h.app, 'GET', `/api/v1/movements?productId=${product.id}&limit=3`);
    assert.equal(first.body.items.length, 3);
    assert.equal(typeof first.body.nextCursor, 'string');
    const second = await api(
      h.app,
      'GET',
      `/api/v1/movements?productId=${product.id}&limit=3&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    assert.equal(second.body.items.length, 3);
    const third = await api(
      h.app,
      'GET',
      `/api/v1/movements?productId=${product.id}&limit=3&cursor=${encodeURIComponent(second.body.nextCursor)}`,
    );
    assert.equal(third.body.items.length, 1);
    assert.equal(third.body.nextCursor, null);
    const paged = [...first.body.items, ...second.body.items, ...third.body.items].map((m) => m.id);
    assert.deepEqual(paged, [...recorded].reverse());

    // The whole history, in pages of 4, equals it in one page, with no duplicates.
    const all = (await allMovements(h.app, '', 500)).map((m) => m.id);
    const inPages = (await allMovements(h.app, '', 4)).map((m) => m.id);
    assert.deepEqual(inPages, all);
    assert.equal(new Set(inPages).size, inPages.length);
  });

  it('ends with a null cursor when the last page is exactly full', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] });
    await record({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] });
    const page = await api(h.app, 'GET', `/api/v1/movements?productId=${product.id}&limit=2`);
    assert.equal(page.body.items.length, 2);
    assert.equal(page.body.nextCursor, null);
  });

  describe('from and to as dates', () => {
    /** An inbound of `quantity` recorded as having happened at `at` (as the demo history loads it). */
    async function inboundAt(at: string, productId: string, locationId: string, quantity: number) {
      const result = await recordMovementAt(
        { db: h.db, actor: null },
        { type: 'inbound', locationId, lines: [{ productId, quantity }] },
        undefined,
        {
          occurredAt: new Date(at),
        },
      );
      return result.value.id;
    }
    /** Four movements around the UTC day 2001-03-15: just before it, at its first and last millisecond, and just after. */
    async function aroundTheDay() {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const ids = {
        dayBefore: await inboundAt('2001-03-14T23:59:59.999Z', product.id, location.id, 1),
        start: await inboundAt('2001-03-15T00:00:00.000Z', product.id, location.id, 10),
        end: await inboundAt('2001-03-15T23:59:59.999Z', product.id, location.id, 100),
        dayAfter: await inboundAt('2001-03-16T00:00:00.000Z', product.id, location.id, 1000),
      };
      const list = async (query: string) => (await allMovements(h.app, `productId=${product.id}&${query}`)).map((m) => m.id);
      return { ids, list };
    }

    it('reads a date as the whole UTC day: from its first millisecond, to its last', async () => {
      const { ids, list } = await aroundTheDay();
      assert.deepEqual(await list('from=2001-03-15'), [ids.dayAfter, ids.end, ids.start]);
      assert.deepEqual(
        await list('to=2001-03-15'),
        [ids.end, ids.start, ids.dayBefore],
        'to=<day> includes 23:59:59.999 of the day, not 00:00 of the next',
      );
      assert.deepEqual(await list('from=2001-03-15&to=2001-03-15'), [ids.end, ids.start], 'from=to=<day> is that day');
      assert.deepEqual(await list('from=2001-03-14&to=2001-03-16'), [ids.dayAfter, ids.end, ids.start, ids.dayBefore]);
      assert.deepEqual(await list('from=2001-03-16'), [ids.dayAfter]);
      assert.deepEqual(await list('to=2001-03-14'), [ids.dayBefore]);
    });

    it('keeps a timestamp to exclusive, and takes dates and timestamps together, offsets included', async () => {
      const { ids, list } = await aroundTheDay();
      assert.deepEqual(await list('to=2001-03-16T00:00:00Z'), [ids.end, ids.start, ids.dayBefore]);
      assert.deepEqual(await list('to=2001-03-15T23:59:59.999Z'), [ids.start, ids.dayBefore]);
      assert.deepEqual(await list('from=2001-03-15T12:00:00Z&to=2001-03-15'), [ids.end]);
      assert.deepEqual(await list('from=2001-03-14&to=2001-03-15T00:00:00.001Z'), [ids.start, ids.dayBefore]);
      // 01:00 at +01:00 is midnight UTC; a space for the T, and a lower-case z, as RFC 3339 allows.
      assert.deepEqual(await list(`from=${encodeURIComponent('2001-03-15T01:00:00+01:00')}&to=2001-03-15`), [ids.end, ids.start]);
      assert.deepEqual(await list(`from=${encodeURIComponent('2001-03-15 23:59:59.999z')}`), [ids.dayAfter, ids.end]);
    });

    it('takes 29 February in a leap year', async () => {
      assert.equal((await api(h.app, 'GET', '/api/v1/movements?from=2024-02-29&to=2024-02-29')).status, 200);
    });

    it('refuses a value that is neither, in words that show no regular expression', async () => {
      for (const [name, value] of [
        ['from', 'yesterday'],
        ['to', '1700000000'],
        ['from', '2026-9-1'],
        ['to', '01.09.2026'],
        ['from', '2026-09-01T10:15'],
      ]) {
        const response = await api(h.app, 'GET', `/api/v1/movements?${name}=${encodeURIComponent(value!)}`);
        assertValidationError(response, `/${name}`);
        assert.deepEqual(response.body.errors, [
          { path: `/${name}`, message: 'must be a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z)' },
        ]);
        assert.equal(
          response.body.detail,
          `the query string is invalid: /${name} must be a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z)`,
        );
        assert.doesNotMatch(response.body.detail, /[\^$\\]|\\d|\[0-9/, 'no regular expression');
      }
    });

    it('refuses a day or time the calendar does not have, as it refuses any other bad value', async () => {
      const impossible = [
        '2026-02-30',
        '2025-02-29',
        '2026-04-31',
        '2026-13-01',
        '2026-00-10',
        '2026-01-00',
        '0000-01-01',
        '2026-02-30T10:00:00Z',
        '2026-09-01T24:00:00Z',
        '2026-09-01T23:60:00Z',
        '2016-12-31T23:59:60Z',
        '2026-09-01T10:00:00+24:00',
      ];
      for (const value of impossible) {
        for (const name of ['from', 'to']) {
          const response = await api(h.app, 'GET', `/api/v1/movements?${name}=${encodeURIComponent(value)}`);
          assertValidationError(response, `/${name}`);
          assert.match(response.body.errors[0].message, /^must be a date \(2026-09-01\) or an RFC 3339 timestamp/, value);
        }
      }
    });

    it('refuses a from after to with 422 at /from, and takes a from equal to to', async () => {
      for (const [from, to] of [
        ['2001-03-16', '2001-03-15'],
        ['2001-03-16T00:00:00Z', '2001-03-15'],
        ['2001-03-15T10:00:00.001Z', '2001-03-15T10:00:00Z'],
      ]) {
        const response = await api(h.app, 'GET', `/api/v1/movements?from=${from}&to=${to}`);
        assertValidationError(response, '/from');
        assert.deepEqual(response.body.errors, [{ path: '/from', message: 'must not be after to' }]);
        assert.equal(response.body.detail, `the query string is invalid: /from must not be after to (${from} is after ${to})`);
      }
      for (const [from, to] of [
        ['2001-03-15', '2001-03-15'],
        ['2001-03-15T23:59:59.999Z', '2001-03-15'],
        ['2001-03-15T10:00:00Z', '2001-03-15T10:00:00Z'],
      ]) {
        assert.equal((await api(h.app, 'GET', `/api/v1/movements?from=${from}&to=${to}`)).status, 200, `${from}..${to}`);
      }
    });
  });

  it('refuses a cursor it did not issue (422)', async () => {
    for (const cursor of ['not-a-cursor', Buffer.from('{"id":1}').toString('base64url'), Buffer.from('["a","b"]').toString('base64url')]) {
      const response = await api(h.app, 'GET', `/api/v1/movements?cursor=${encodeURIComponent(cursor)}`);
      assertProblem(response, 422, 'validation_failed');
    }
  });

  it('refuses a well-formed cursor whose key is not a movement id (422, not 500)', async () => {
    for (const cursor of [Buffer.from('["not-a-uuid"]').toString('base64url'), Buffer.from('[42]').toString('base64url')]) {
      const response = await api(h.app, 'GET', `/api/v1/movements?cursor=${encodeURIComponent(cursor)}`);
      assertProblem(response, 422, 'validation_failed');
    }
  });

  it('refuses a limit outside 1..500 (422)', async () => {
    assertValidationError(await api(h.app, 'GET', '/api/v1/movements?limit=0'), '/limit');
    assertValidationError(await api(h.app, 'GET', '/api/v1/movements?limit=501'), '/limit');
  });
});

describe('GET /api/v1/movements/{id}', () => {
  it('answers the movement as it was recorded, without balances', async () => {
    const from = await createLocation(h.app);
    const to = await createLocation(h.app);
    const product = await createProduct(h.app);
    await stockUp(h.app, product.id, from.id, 5);
    const transfer = assertCreated(
      await recordMovement(h.app, {
        type: 'transfer',
        locationId: from.id,
        toLocationId: to.id,
        reference: 'T-7',
        note: 'restock the shop',
        lines: [{ productId: product.id, quantity: 3 }],
      }),
    );
    const response = await api(h.app, 'GET', `/api/v1/movements/${transfer.id}`);
    assert.equal(response.status, 200);
    const { balances: _balances, ...expected } = transfer;
    assert.deepEqual(response.body, expected);
  });

  it('answers 404 for an unknown movement and 422 for an id that is not a UUID', async () => {
    assertProblem(await api(h.app, 'GET', `/api/v1/movements/${randomUUID()}`), 404, 'not_found');
    assertValidationError(await api(h.app, 'GET', '/api/v1/movements/not-a-uuid'), '/id');
  });
});
