import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { levelsDisagreeingWithLedger } from '../../support/ledger.ts';
import { createLocation, createProduct, recordMovement } from '../../support/factories.ts';
import { api, createHarness, type Harness, type TestApp } from '../../support/helpers.ts';

// A model-based property test of the movement ledger: random sequences of movements over 3
// products and 3 locations (the last one allows negative stock) go through the API and through a
// few lines of in-memory arithmetic, and must agree on every answer and every level.

const PRODUCTS = 3;
const LOCATIONS = 3;
const NEGATIVE_ALLOWED = 2; // the index of the location created with allowNegative: true

type Expectation = { kind: 'none' } | { kind: 'right' } | { kind: 'wrong'; offset: number };

interface LineCommand {
  product: number;
  /** A positive quantity; for an adjustment a non-zero delta, or the counted quantity. */
  amount: number;
  counted: boolean;
  expect: Expectation;
}

interface Command {
  type: 'inbound' | 'outbound' | 'transfer' | 'adjustment';
  from: number;
  to: number;
  lines: LineCommand[];
}

const expectationArb: fc.Arbitrary<Expectation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'right' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: -3, max: 3 })
      .filter((offset) => offset !== 0)
      .map((offset) => ({ kind: 'wrong' as const, offset })),
  },
);

const commandArb: fc.Arbitrary<Command> = fc
  .record({
    type: fc.constantFrom('inbound', 'outbound', 'transfer', 'adjustment') as fc.Arbitrary<Command['type']>,
    from: fc.integer({ min: 0, max: LOCATIONS - 1 }),
    step: fc.integer({ min: 1, max: LOCATIONS - 1 }),
    products: fc.uniqueArray(fc.integer({ min: 0, max: PRODUCTS - 1 }), { minLength: 1, maxLength: PRODUCTS }),
    amounts: fc.array(
      fc.record({
        quantity: fc.integer({ min: 1, max: 12 }),
        delta: fc.integer({ min: -12, max: 12 }).filter((delta) => delta !== 0),
        count: fc.integer({ min: 0, max: 15 }),
        counted: fc.boolean(),
        expect: expectationArb,
      }),
      { minLength: PRODUCTS, maxLength: PRODUCTS },
    ),
  })
  .map(({ type, from, step, products, amounts }) => ({
    type,
    from,
    to: (from + step) % LOCATIONS,
    lines: products.map((product, index) => {
      const choice = amounts[index]!;
      const counted = type === 'adjustment' && choice.counted;
      const amount = type !== 'adjustment' ? choice.quantity : counted ? choice.count : choice.delta;
      return { product, amount, counted, expect: choice.expect };
    }),
  }));

const sequenceArb = fc.array(commandArb, { minLength: 1, maxLength: 15 });

/** What the API must answer to a command, given the model's levels. */
type Outcome =
  { status: 201; levels: Map<string, number> } | { status: 409; code: 'stale_quantity' | 'insufficient_stock'; lines: object[] };

class Model {
  readonly onHand = new Map<string, number>();

  constructor(
    readonly productIds: string[],
    readonly locationIds: string[],
  ) {}

  key(product: number, location: number) {
    return `${this.productIds[product]}/${this.locationIds[location]}`;
  }

  level(product: number, location: number) {
    return this.onHand.get(this.key(product, location)) ?? 0;
  }

  /** The request for a command; expectedOnHand is resolved against the current model. */
  request(command: Command) {
    return {
      type: command.type,
      locationId: this.locationIds[command.from],
      ...(command.type === 'transfer' ? { toLocationId: this.locationIds[command.to] } : {}),
      ...(command.type === 'adjustment' ? { reason: 'property test' } : {}),
      lines: command.lines.map((line) => ({
        productId: this.productIds[line.product],
        ...(line.counted ? { countedQuantity: line.amount } : { quantity: line.amount }),
        ...(line.expect.kind === 'none'
          ? {}
          : { expectedOnHand: this.level(line.product, command.from) + (line.expect.kind === 'wrong' ? line.expect.offset : 0) }),
      })),
    };
  }

  /** Applies a command to the model when the API must accept it, and says what it must answer. */
  apply(command: Command, request: ReturnType<Model['request']>): Outcome {
    const stale = command.lines
      .map((line, index) => ({ line, expected: request.lines[index]!.expectedOnHand }))
      .filter(({ line, expected }) => expected !== undefined && expected !== this.level(line.product, command.from))
      .map(({ line, expected }) => ({
        productId: this.productIds[line.product],
        locationId: this.locationIds[command.from],
        expected,
        actual: this.level(line.product, command.from),
      }));
    if (stale.length > 0) return { status: 409, code: 'stale_quantity', lines: stale };

    const entries: { product: number; location: number; delta: number }[] = [];
    for (const line of command.lines) {
      const at = { product: line.product, location: command.from };
      switch (command.type) {
        case 'inbound':
          entries.push({ ...at, delta: line.amount });
          break;
        case 'outbound':
          entries.push({ ...at, delta: -line.amount });
          break;
        case 'transfer':
          entries.push({ ...at, delta: -line.amount });
          entries.push({ product: line.product, location: command.to, delta: line.amount });
          break;
        case 'adjustment':
          entries.push({ ...at, delta: line.counted ? line.amount - this.level(line.product, command.from) : line.amount });
          break;
      }
    }
    const short = entries
      .filter(
        (entry) => entry.delta < 0 && entry.location !== NEGATIVE_ALLOWED && this.level(entry.product, entry.location) + entry.delta < 0,
      )
      .map((entry) => ({
        productId: this.productIds[entry.product],
        locationId: this.locationIds[entry.location],
        requested: -entry.delta,
        available: this.level(entry.product, entry.location),
      }));
    if (short.length > 0) return { status: 409, code: 'insufficient_stock', lines: short };

    const touched = new Map<string, number>();
    for (const entry of entries) {
      const key = this.key(entry.product, entry.location);
      this.onHand.set(key, this.level(entry.product, entry.location) + entry.delta);
      touched.set(key, this.onHand.get(key)!);
    }
    return { status: 201, levels: touched };
  }
}

const byJson = (a: object, b: object) => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** Every stored level at the run's locations, as `product/location` → onHand. */
async function storedLevels(app: TestApp, locationIds: string[]) {
  const levels = new Map<string, number>();
  for (const locationId of locationIds) {
    const response = await api(app, 'GET', `/api/v1/stock?locationId=${locationId}&limit=500`);
    assert.equal(response.status, 200);
    for (const item of response.body.items) {
      assert.equal(item.reserved, 0);
      assert.equal(item.available, item.onHand);
      levels.set(`${item.productId}/${item.locationId}`, item.onHand);
    }
  }
  return levels;
}

function assertSameLevels(stored: Map<string, number>, model: Model, context: string) {
  for (let product = 0; product < PRODUCTS; product += 1) {
    for (let location = 0; location < LOCATIONS; location += 1) {
      const key = model.key(product, location);
      assert.equal(stored.get(key) ?? 0, model.level(product, location), `level ${product}/${location} ${context}`);
    }
  }
  for (const key of stored.keys()) {
    const [productId] = key.split('/');
    assert.ok(model.productIds.includes(productId!), `no level of another run's product ${context}`);
  }
}

describe('movements against an in-memory model', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('agrees with the model on every answer and every level, and every level equals its ledger', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (commands) => {
        runs += 1;
        // Fresh products and locations, so that runs (and shrinking) never see each other's stock.
        const productIds: string[] = [];
        for (let i = 0; i < PRODUCTS; i += 1) productIds.push((await createProduct(h.app)).id);
        const locationIds: string[] = [];
        for (let i = 0; i < LOCATIONS; i += 1) {
          locationIds.push((await createLocation(h.app, { allowNegative: i === NEGATIVE_ALLOWED })).id);
        }
        const model = new Model(productIds, locationIds);

        for (const [index, command] of commands.entries()) {
          const request = model.request(command);
          const expected = model.apply(command, request);
          const response = await recordMovement(h.app, request);
          const context = `after command ${index} ${JSON.stringify(request)}`;
          assert.equal(response.status, expected.status, `${context}: ${JSON.stringify(response.body)}`);
          if (expected.status === 201) {
            const balances = new Map<string, number>(
              response.body.balances.map((balance: { productId: string; locationId: string; onHand: number }) => [
                `${balance.productId}/${balance.locationId}`,
                balance.onHand,
              ]),
            );
            assert.deepEqual(balances, expected.levels, `balances ${context}`);
          } else {
            assert.equal(response.body.code, expected.code, context);
            assert.deepEqual([...response.body.lines].sort(byJson), [...expected.lines].sort(byJson), `problem lines ${context}`);
          }
          assertSameLevels(await storedLevels(h.app, locationIds), model, context);
        }

        const disagreeing = await h.db.connection((db) => levelsDisagreeingWithLedger(db, productIds));
        assert.deepEqual(disagreeing, [], 'every level equals the sum of its ledger');
      }),
      { numRuns: 25 },
    );
    assert.ok(runs >= 25);
    assert.deepEqual(await h.db.connection((db) => levelsDisagreeingWithLedger(db)), []);
  });
});
