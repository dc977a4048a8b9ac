import type { Database, Queryable, Transaction } from '../src/db/database.ts';
import { insertEvents } from '../src/db/events.ts';
import { applyDeltas, findEntries, findReferences, insertMovement, listMovements, lockLevels } from '../src/db/movements.ts';
import { listProducts } from '../src/db/products.ts';
import { listStock } from '../src/db/stock.ts';
import { levelChangesOf, mergeLevelChanges, movementRecorded } from '../src/domain/events.ts';
import { uuidv7 } from '../src/domain/ids.ts';
import { fulfilReservation, reserve } from '../src/services/reservations.ts';
import type { Fixture } from './dataset.ts';

// Each scenario twice: as an HTTP request to Stockroom, and as the same SQL issued directly on a
// connection (the baseline: what the database allows with no service in front). reserve-fulfil
// is a pair of requests (a hold of one unit, then its fulfilment: wrk.lua chains them); its
// baseline calls the two use cases in-process (src/services/reservations.ts), without HTTP,
// since their statements are too many to restate here without drifting from them.

export const SCENARIOS = [
  'stock-read',
  'products-page',
  'inbound',
  'outbound',
  'transfer',
  'hot-row',
  'as-of',
  'history',
  'history-level',
  'reserve-fulfil',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;

function twoLocations(fixture: Fixture): [string, string] {
  const from = pick(fixture.locationIds);
  let to = pick(fixture.locationIds);
  while (to === from) to = pick(fixture.locationIds);
  return [from, to];
}

/** A random time between the ledger's start and now. */
function pastTime(fixture: Fixture): Date {
  const from = Date.parse(fixture.ledgerFrom);
  return new Date(from + Math.random() * (Date.now() - from));
}

interface Movement {
  type: 'inbound' | 'outbound' | 'transfer';
  locationId: string;
  toLocationId?: string;
  lines: { productId: string; quantity: number }[];
}

function movementOf(scenario: Scenario, fixture: Fixture): Movement | undefined {
  const line = [{ productId: pick(fixture.productIds), quantity: 1 }];
  switch (scenario) {
    case 'inbound':
      return { type: 'inbound', locationId: pick(fixture.locationIds), lines: line };
    case 'outbound':
      return { type: 'outbound', locationId: pick(fixture.locationIds), lines: line };
    case 'transfer': {
      const [from, to] = twoLocations(fixture);
      return { type: 'transfer', locationId: from, toLocationId: to, lines: line };
    }
    case 'hot-row':
      return { type: 'inbound', locationId: fixture.locationIds[0]!, lines: [{ productId: fixture.productIds[0]!, quantity: 1 }] };
    default:
      return undefined;
  }
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

export function httpRequest(scenario: Scenario, fixture: Fixture): HttpRequest {
  const product = pick(fixture.productIds);
  const location = pick(fixture.locationIds);
  switch (scenario) {
    case 'stock-read':
      return { method: 'GET', path: `/api/v1/stock?productId=${product}&locationId=${location}` };
    case 'as-of':
      return { method: 'GET', path: `/api/v1/stock?productId=${product}&locationId=${location}&asOf=${pastTime(fixture).toISOString()}` };
    case 'products-page':
      return { method: 'GET', path: '/api/v1/products?limit=50' };
    case 'history':
      return { method: 'GET', path: `/api/v1/movements?productId=${product}&limit=50` };
    case 'history-level':
      return { method: 'GET', path: `/api/v1/movements?productId=${product}&locationId=${location}&limit=50` };
    case 'reserve-fulfil':
      return {
        method: 'POST',
        path: '/api/v1/reservations',
        body: JSON.stringify({ locationId: location, lines: [{ productId: product, quantity: 1 }] }),
      };
    default:
      return { method: 'POST', path: '/api/v1/movements', body: JSON.stringify(movementOf(scenario, fixture)) };
  }
}

/** reserve-fulfil's baseline: the two use cases, in-process, each its own transaction. */
export async function reserveAndFulfil(fixture: Fixture, db: Database): Promise<void> {
  const ctx = { db, actor: null };
  const held = await reserve(ctx, { locationId: pick(fixture.locationIds), lines: [{ productId: pick(fixture.productIds), quantity: 1 }] });
  await fulfilReservation(ctx, held.value.id);
}

/** The statements Stockroom issues for the scenario, on one connection, without HTTP. */
export async function baselineCall(scenario: Scenario, fixture: Fixture, db: Queryable): Promise<void> {
  const productId = pick(fixture.productIds);
  const locationId = pick(fixture.locationIds);
  switch (scenario) {
    case 'stock-read':
      await listStock(db, { productId, locationId, limit: 50 });
      return;
    case 'as-of':
      await listStock(db, { productId, locationId, asOf: pastTime(fixture), limit: 50 });
      return;
    case 'products-page':
      await listProducts(db, { limit: 50 });
      return;
    case 'history':
    case 'history-level': {
      const rows = await listMovements(db, { productId, locationId: scenario === 'history' ? undefined : locationId, limit: 50 });
      await findEntries(
        db,
        rows.slice(0, 50).map((row) => row.id),
      );
      return;
    }
  }
  const movement = movementOf(scenario, fixture)!;
  const sign = movement.type === 'inbound' ? 1 : -1;
  const entries = movement.lines.flatMap((line, lineNo) => [
    { lineNo, productId: line.productId, locationId: movement.locationId, delta: sign * line.quantity, countedQuantity: null },
    ...(movement.toLocationId === undefined
      ? []
      : [{ lineNo, productId: line.productId, locationId: movement.toLocationId, delta: line.quantity, countedQuantity: null }]),
  ]);
  await db.query('BEGIN');
  // BEGIN made the connection one transaction, which the movement's lock and writes need.
  const tx = db as Transaction;
  try {
    await findReferences(
      tx,
      movement.lines.map((line) => line.productId),
      [movement.locationId, ...(movement.toLocationId ? [movement.toLocationId] : [])],
    );
    await lockLevels(tx, entries);
    const balances = await applyDeltas(tx, entries);
    const movementId = uuidv7();
    const row = await insertMovement(
      tx,
      {
        id: movementId,
        type: movement.type,
        locationId: movement.locationId,
        toLocationId: movement.toLocationId ?? null,
        reference: null,
        note: null,
        reason: null,
        createdById: null,
      },
      entries,
    );
    // Its events, as the service writes them before COMMIT (src/services/events.ts).
    await insertEvents(tx, [movementRecorded(row)], mergeLevelChanges(levelChangesOf('onHand', entries, balances, { movementId })));
    await db.query('COMMIT');
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
