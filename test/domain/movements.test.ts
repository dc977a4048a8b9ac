import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.ts';
import {
  compareLevelKeys,
  levelKeys,
  planMovement,
  resolveEntries,
  type LevelState,
  type MovementInput,
  type MovementLineInput,
  type PlannedEntry,
} from '../../src/domain/movements.ts';

// The movement rules that need no database (src/domain/movements.ts): which movements are
// well-formed, what each line changes, and, given the locked levels, whether the movement applies.

const HERE = 'location-here';
const THERE = 'location-there';

const movement = (type: MovementInput['type'], lines: MovementLineInput[], extra: Partial<MovementInput> = {}): MovementInput => ({
  type,
  locationId: HERE,
  ...(type === 'transfer' ? { toLocationId: THERE } : {}),
  ...(type === 'adjustment' ? { reason: 'cycle count' } : {}),
  lines,
  ...extra,
});

const level = (productId: string, onHand: number, extra: Partial<LevelState> = {}): LevelState => ({
  productId,
  locationId: HERE,
  onHand,
  reserved: 0,
  allowNegative: false,
  ...extra,
});

/** The paths of a 422's errors, or a failed assertion if `run` does not throw one. */
function refusedPaths(run: () => unknown): string[] {
  let paths: string[] | undefined;
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, 'validation_failed');
    assert.equal(error.status, 422);
    paths = (error.extras.errors as { path: string }[]).map((fieldError) => fieldError.path);
    return true;
  });
  return paths!;
}

/** The `lines` of the 409 `run` throws with this code. */
function conflictLines(run: () => unknown, code: 'insufficient_stock' | 'stale_quantity'): unknown[] {
  let lines: unknown[] | undefined;
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, 409);
    lines = error.extras.lines as unknown[];
    return true;
  });
  return lines!;
}

describe('planMovement', () => {
  it('turns an inbound into an increase and an outbound into a decrease at its location, one entry per line', () => {
    const lines = [
      { productId: 'p1', quantity: 3 },
      { productId: 'p2', quantity: 5 },
    ];
    assert.deepEqual(planMovement(movement('inbound', lines)), [
      { lineNo: 0, productId: 'p1', locationId: HERE, delta: 3 },
      { lineNo: 1, productId: 'p2', locationId: HERE, delta: 5 },
    ]);
    assert.deepEqual(planMovement(movement('outbound', lines)), [
      { lineNo: 0, productId: 'p1', locationId: HERE, delta: -3 },
      { lineNo: 1, productId: 'p2', locationId: HERE, delta: -5 },
    ]);
  });

  it('turns a transfer line into a decrease at its location and the same increase at the other, under one line number', () => {
    assert.deepEqual(planMovement(movement('transfer', [{ productId: 'p1', quantity: 4, expectedOnHand: 10 }])), [
      { lineNo: 0, productId: 'p1', locationId: HERE, delta: -4, expectedOnHand: 10 },
      { lineNo: 0, productId: 'p1', locationId: THERE, delta: 4 },
    ]);
  });

  it('keeps an adjustment’s delta, of either sign, and leaves a count’s delta to be computed from the level', () => {
    const planned = planMovement(
      movement('adjustment', [
        { productId: 'p1', quantity: -2 },
        { productId: 'p2', quantity: 7 },
        { productId: 'p3', countedQuantity: 0, expectedOnHand: 4 },
      ]),
    );
    assert.deepEqual(planned, [
      { lineNo: 0, productId: 'p1', locationId: HERE, delta: -2 },
      { lineNo: 1, productId: 'p2', locationId: HERE, delta: 7 },
      { lineNo: 2, productId: 'p3', locationId: HERE, countedQuantity: 0, expectedOnHand: 4 },
    ]);
    assert.equal('delta' in planned[2]!, false);
  });

  it('refuses a transfer with no destination, or to its own location', () => {
    assert.deepEqual(
      refusedPaths(() => planMovement(movement('transfer', [{ productId: 'p1', quantity: 1 }], { toLocationId: undefined }))),
      ['/toLocationId'],
    );
    assert.deepEqual(
      refusedPaths(() => planMovement(movement('transfer', [{ productId: 'p1', quantity: 1 }], { toLocationId: HERE }))),
      ['/toLocationId'],
    );
  });

  it('refuses a destination on anything but a transfer', () => {
    for (const type of ['inbound', 'outbound', 'adjustment'] as const) {
      const line = type === 'adjustment' ? { productId: 'p1', quantity: -1 } : { productId: 'p1', quantity: 1 };
      assert.deepEqual(
        refusedPaths(() => planMovement(movement(type, [line], { toLocationId: THERE }))),
        ['/toLocationId'],
        type,
      );
    }
  });

  it('refuses an adjustment without a reason, or with one of white space only; other types need none', () => {
    const lines = [{ productId: 'p1', quantity: -1 }];
    assert.deepEqual(
      refusedPaths(() => planMovement(movement('adjustment', lines, { reason: undefined }))),
      ['/reason'],
    );
    assert.deepEqual(
      refusedPaths(() => planMovement(movement('adjustment', lines, { reason: ' \t\n' }))),
      ['/reason'],
    );
    assert.doesNotThrow(() => planMovement(movement('outbound', [{ productId: 'p1', quantity: 1 }])));
  });

  it('refuses a product that appears twice, at its second line', () => {
    const lines = [
      { productId: 'p1', quantity: 1 },
      { productId: 'p2', quantity: 1 },
      { productId: 'p1', quantity: 2 },
    ];
    for (const type of ['inbound', 'outbound', 'transfer'] as const) {
      assert.deepEqual(
        refusedPaths(() => planMovement(movement(type, lines))),
        ['/lines/2/productId'],
        type,
      );
    }
  });

  it('refuses an adjustment line unless it gives exactly one of a non-zero quantity and a count of 0 or more', () => {
    const refusals: [MovementLineInput, string][] = [
      [{ productId: 'p1' }, '/lines/0'],
      [{ productId: 'p1', quantity: 1, countedQuantity: 1 }, '/lines/0'],
      [{ productId: 'p1', quantity: 0 }, '/lines/0/quantity'],
      [{ productId: 'p1', countedQuantity: -1 }, '/lines/0/countedQuantity'],
    ];
    for (const [line, path] of refusals) {
      assert.deepEqual(
        refusedPaths(() => planMovement(movement('adjustment', [line]))),
        [path],
        JSON.stringify(line),
      );
    }
  });

  it('refuses a line of any other type without a positive quantity, or with a count', () => {
    const refusals: [MovementLineInput, string[]][] = [
      [{ productId: 'p1' }, ['/lines/0/quantity']],
      [{ productId: 'p1', quantity: 0 }, ['/lines/0/quantity']],
      [{ productId: 'p1', quantity: -1 }, ['/lines/0/quantity']],
      [{ productId: 'p1', quantity: 1, countedQuantity: 1 }, ['/lines/0/countedQuantity']],
      [{ productId: 'p1', countedQuantity: 1 }, ['/lines/0/countedQuantity', '/lines/0/quantity']],
    ];
    for (const type of ['inbound', 'outbound', 'transfer'] as const) {
      for (const [line, paths] of refusals) {
        assert.deepEqual(
          refusedPaths(() => planMovement(movement(type, [line]))),
          paths,
          `${type} ${JSON.stringify(line)}`,
        );
      }
    }
  });

  it('reports every problem at once, not the first', () => {
    const input = movement(
      'adjustment',
      [
        { productId: 'p1', quantity: 0 },
        { productId: 'p1', countedQuantity: -3 },
      ],
      { toLocationId: THERE, reason: '' },
    );
    assert.deepEqual(
      refusedPaths(() => planMovement(input)),
      ['/toLocationId', '/reason', '/lines/0/quantity', '/lines/1/productId', '/lines/1/countedQuantity'],
    );
  });
});

describe('resolveEntries', () => {
  const entry = (productId: string, fields: Partial<PlannedEntry>): PlannedEntry => ({ lineNo: 0, productId, locationId: HERE, ...fields });

  it('keeps each planned delta and computes a count’s delta as counted minus on hand', () => {
    const resolved = resolveEntries(
      [
        entry('p1', { lineNo: 0, delta: -3 }),
        entry('p2', { lineNo: 1, countedQuantity: 12 }),
        entry('p3', { lineNo: 2, countedQuantity: 4 }),
        entry('p4', { lineNo: 3, countedQuantity: 9 }),
      ],
      [level('p1', 5), level('p2', 10), level('p3', 10), level('p4', 9)],
    );
    assert.deepEqual(resolved, [
      { lineNo: 0, productId: 'p1', locationId: HERE, delta: -3, countedQuantity: null },
      { lineNo: 1, productId: 'p2', locationId: HERE, delta: 2, countedQuantity: 12 },
      { lineNo: 2, productId: 'p3', locationId: HERE, delta: -6, countedQuantity: 4 },
      { lineNo: 3, productId: 'p4', locationId: HERE, delta: 0, countedQuantity: 9 },
    ]);
  });

  it('matches each entry to the level of its own product and location', () => {
    const resolved = resolveEntries(
      [entry('p1', { delta: -4 }), entry('p1', { locationId: THERE, delta: 4 })],
      [level('p1', 0, { locationId: THERE }), level('p1', 4)],
    );
    assert.deepEqual(
      resolved.map((resolvedEntry) => [resolvedEntry.locationId, resolvedEntry.delta]),
      [
        [HERE, -4],
        [THERE, 4],
      ],
    );
  });

  it('lets a decrease take everything available, and not one more', () => {
    assert.equal(resolveEntries([entry('p1', { delta: -6 })], [level('p1', 10, { reserved: 4 })])[0]!.delta, -6);
    assert.deepEqual(
      conflictLines(() => resolveEntries([entry('p1', { delta: -7 })], [level('p1', 10, { reserved: 4 })]), 'insufficient_stock'),
      [{ productId: 'p1', locationId: HERE, requested: 7, available: 6 }],
    );
  });

  it('refuses a count below what is reserved, as a decrease past what is available', () => {
    assert.deepEqual(
      conflictLines(() => resolveEntries([entry('p1', { countedQuantity: 2 })], [level('p1', 10, { reserved: 3 })]), 'insufficient_stock'),
      [{ productId: 'p1', locationId: HERE, requested: 8, available: 7 }],
    );
  });

  it('lets a level that allows negative stock go below zero', () => {
    const [resolved] = resolveEntries([entry('p1', { delta: -50 })], [level('p1', 10, { reserved: 4, allowNegative: true })]);
    assert.equal(resolved!.delta, -50);
  });

  it('never refuses an increase, even to a level already short', () => {
    assert.equal(resolveEntries([entry('p1', { delta: 1 })], [level('p1', -5, { reserved: 3 })])[0]!.delta, 1);
    assert.equal(resolveEntries([entry('p1', { countedQuantity: 1 })], [level('p1', -5, { reserved: 3 })])[0]!.delta, 6);
  });

  it('lists every short line, and only those', () => {
    const lines = conflictLines(
      () =>
        resolveEntries(
          [entry('p1', { lineNo: 0, delta: -2 }), entry('p2', { lineNo: 1, delta: -1 }), entry('p3', { lineNo: 2, delta: -9 })],
          [level('p1', 1), level('p2', 1), level('p3', 0)],
        ),
      'insufficient_stock',
    );
    assert.deepEqual(lines, [
      { productId: 'p1', locationId: HERE, requested: 2, available: 1 },
      { productId: 'p3', locationId: HERE, requested: 9, available: 0 },
    ]);
  });

  it('refuses a movement whose expected on-hand is stale, every stale line listed, before looking for shortages', () => {
    const lines = conflictLines(
      () =>
        resolveEntries(
          [
            entry('p1', { lineNo: 0, delta: -100, expectedOnHand: 4 }),
            entry('p2', { lineNo: 1, delta: -1, expectedOnHand: 7 }),
            entry('p3', { lineNo: 2, countedQuantity: 0, expectedOnHand: 0 }),
          ],
          [level('p1', 5), level('p2', 7), level('p3', 1)],
        ),
      'stale_quantity',
    );
    assert.deepEqual(lines, [
      { productId: 'p1', locationId: HERE, expected: 4, actual: 5 },
      { productId: 'p3', locationId: HERE, expected: 0, actual: 1 },
    ]);
  });

  it('applies a movement whose expected on-hand is current, and refuses it one unit off, even for an increase', () => {
    const [resolved] = resolveEntries([entry('p1', { countedQuantity: 3, expectedOnHand: 5 })], [level('p1', 5)]);
    assert.equal(resolved!.delta, -2);
    assert.deepEqual(
      conflictLines(() => resolveEntries([entry('p1', { delta: 1, expectedOnHand: 6 })], [level('p1', 5)]), 'stale_quantity'),
      [{ productId: 'p1', locationId: HERE, expected: 6, actual: 5 }],
    );
  });

  it('treats a level that was not locked as a bug, not as a client’s error', () => {
    assert.throws(
      () => resolveEntries([entry('p1', { delta: 1 })], [level('p1', 0, { locationId: THERE })]),
      (error: unknown) => error instanceof Error && !(error instanceof AppError),
    );
  });
});

describe('lock order', () => {
  it('sorts levels by product id, then location id, by code unit rather than by locale', () => {
    const keys = [
      { productId: 'b', locationId: 'a' },
      { productId: 'a', locationId: 'b' },
      { productId: 'a', locationId: 'B' },
      { productId: 'B', locationId: 'z' },
      { productId: 'a', locationId: 'a' },
    ];
    assert.deepEqual([...keys].sort(compareLevelKeys), [
      { productId: 'B', locationId: 'z' },
      { productId: 'a', locationId: 'B' },
      { productId: 'a', locationId: 'a' },
      { productId: 'a', locationId: 'b' },
      { productId: 'b', locationId: 'a' },
    ]);
  });

  it('compares a key equal to itself and orders any two keys the opposite way round', () => {
    const a = { productId: 'p1', locationId: 'l2' };
    const b = { productId: 'p1', locationId: 'l1' };
    assert.equal(compareLevelKeys(a, { ...a }), 0);
    assert.equal(Math.sign(compareLevelKeys(a, b)), -Math.sign(compareLevelKeys(b, a)));
    assert.notEqual(compareLevelKeys(a, b), 0);
  });

  it('locks each level a movement touches once, in lock order, whatever order its lines came in', () => {
    const planned = planMovement(
      movement('transfer', [
        { productId: 'p2', quantity: 1 },
        { productId: 'p1', quantity: 1 },
      ]),
    );
    assert.deepEqual(levelKeys([...planned, ...planned]), [
      { productId: 'p1', locationId: HERE },
      { productId: 'p1', locationId: THERE },
      { productId: 'p2', locationId: HERE },
      { productId: 'p2', locationId: THERE },
    ]);
  });
});
