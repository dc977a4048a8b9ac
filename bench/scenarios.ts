import type pg from 'pg';
import type { Queryable } from '../src/db/database.ts';
import { findReferences, insertMovement, lockLevels, applyDeltas } from '../src/db/movements.ts';
import { listProducts } from '../src/db/products.ts';
import { listStock } from '../src/db/stock.ts';
import { randomUUID } from 'node:crypto';

// Each scenario twice: as an HTTP request to Stockroom, and as the same SQL issued directly
// through pg (the baseline: what this machine's PostgreSQL allows with no service in front).

export interface Fixture {
  /** Products stocked at every location. */
  productIds: string[];
  locationIds: string[];
}

export const SCENARIOS = ['stock-read', 'products-page', 'inbound', 'outbound', 'transfer', 'hot-row'] as const;
export type Scenario = (typeof SCENARIOS)[number];

const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;

function twoLocations(fixture: Fixture): [string, string] {
  const from = pick(fixture.locationIds);
  let to = pick(fixture.locationIds);
  while (to === from) to = pick(fixture.locationIds);
  return [from, to];
}

interface Movement {
  type: 'inbound' | 'outbound' | 'transfer';
  locationId: string;
  toLocationId?: string;
  lines: { productId: string; quantity: number }[];
}

function movementOf(scenario: Scenario, fixture: Fixture): Movement {
  switch (scenario) {
    case 'inbound':
      return { type: 'inbound', locationId: pick(fixture.locationIds), lines: [{ productId: pick(fixture.productIds), quantity: 1 }] };
    case 'outbound':
      return { type: 'outbound', locationId: pick(fixture.locationIds), lines: [{ productId: pick(fixture.productIds), quantity: 1 }] };
    case 'transfer': {
      const [from, to] = twoLocations(fixture);
      return { type: 'transfer', locationId: from, toLocationId: to, lines: [{ productId: pick(fixture.productIds), quantity: 1 }] };
    }
    case 'hot-row':
      return { type: 'inbound', locationId: fixture.locationIds[0]!, lines: [{ productId: fixture.productIds[0]!, quantity: 1 }] };
    default:
      throw new Error(`${scenario} is not a movement`);
  }
}

export function httpRequest(scenario: Scenario, fixture: Fixture): { method: 'GET' | 'POST'; path: string; body?: string } {
  if (scenario === 'stock-read') {
    return { method: 'GET', path: `/api/v1/stock?productId=${pick(fixture.productIds)}&locationId=${pick(fixture.locationIds)}` };
  }
  if (scenario === 'products-page') return { method: 'GET', path: '/api/v1/products?limit=50' };
  return { method: 'POST', path: '/api/v1/movements', body: JSON.stringify(movementOf(scenario, fixture)) };
}

const queryable = (client: pg.ClientBase): Queryable => ({
  query: async (text, params) => (await client.query(text, params as unknown[])).rows,
  exec: async (script) => {
    await client.query(script);
  },
});

/** The statements Stockroom issues for the scenario, on one pooled connection, without HTTP. */
export async function baselineCall(scenario: Scenario, fixture: Fixture, pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  const db = queryable(client);
  try {
    if (scenario === 'stock-read') {
      await listStock(db, { productId: pick(fixture.productIds), locationId: pick(fixture.locationIds), limit: 50 });
      return;
    }
    if (scenario === 'products-page') {
      await listProducts(db, { limit: 50 });
      return;
    }
    const movement = movementOf(scenario, fixture);
    const sign = movement.type === 'inbound' ? 1 : -1;
    const entries = movement.lines.flatMap((line, lineNo) => [
      { lineNo, productId: line.productId, locationId: movement.locationId, delta: sign * line.quantity, countedQuantity: null },
      ...(movement.toLocationId === undefined
        ? []
        : [{ lineNo, productId: line.productId, locationId: movement.toLocationId, delta: line.quantity, countedQuantity: null }]),
    ]);
    await client.query('BEGIN');
    await findReferences(db, movement.lines.map((line) => line.productId), [movement.locationId, ...(movement.toLocationId ? [movement.toLocationId] : [])]);
    await lockLevels(db, entries);
    await applyDeltas(db, entries);
    await insertMovement(
      db,
      { id: randomUUID(), type: movement.type, locationId: movement.locationId, toLocationId: movement.toLocationId ?? null, reference: null, note: null, reason: null, createdById: null },
      entries,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
