import type { Queryable } from '../../src/db/database.ts';

// What the tests check after every movement they make: the ledger's invariant, which the service
// never needs to ask (its levels and ledger rows change in one transaction).

/** Levels whose stored value differs from the sum of their ledger (an invariant: always none). */
export async function levelsDisagreeingWithLedger(db: Queryable, productIds?: string[]) {
  return db.query<{ productId: string; locationId: string; onHand: number; ledger: number }>(
    `SELECT s.product_id AS "productId", s.location_id AS "locationId", s.on_hand AS "onHand",
            coalesce(sum(ml.delta), 0)::bigint AS ledger
     FROM stock_levels s
     LEFT JOIN movement_lines ml ON ml.product_id = s.product_id AND ml.location_id = s.location_id
     WHERE $1::uuid[] IS NULL OR s.product_id = ANY($1::uuid[])
     GROUP BY s.product_id, s.location_id, s.on_hand
     HAVING s.on_hand <> coalesce(sum(ml.delta), 0)`,
    [productIds ?? null],
  );
}
