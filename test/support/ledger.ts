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

/**
 * Levels whose `reserved` differs from the sum of their active reservations' lines (API.md,
 * Reservations: an invariant, always none).
 */
export async function levelsDisagreeingWithReservations(db: Queryable, productIds?: string[]) {
  return db.query<{ productId: string; locationId: string; reserved: number; held: number }>(
    `SELECT s.product_id AS "productId", s.location_id AS "locationId", s.reserved, coalesce(h.held, 0)::bigint AS held
     FROM stock_levels s
     LEFT JOIN (SELECT l.product_id, r.location_id, sum(l.quantity) AS held
                FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
                WHERE r.status = 'active'
                GROUP BY l.product_id, r.location_id) h
       ON h.product_id = s.product_id AND h.location_id = s.location_id
     WHERE ($1::uuid[] IS NULL OR s.product_id = ANY($1::uuid[])) AND s.reserved <> coalesce(h.held, 0)
     UNION ALL
     SELECT l.product_id, r.location_id, NULL, sum(l.quantity)::bigint
     FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
     WHERE r.status = 'active' AND ($1::uuid[] IS NULL OR l.product_id = ANY($1::uuid[]))
       AND NOT EXISTS (SELECT 1 FROM stock_levels s WHERE s.product_id = l.product_id AND s.location_id = r.location_id)
     GROUP BY l.product_id, r.location_id`,
    [productIds ?? null],
  );
}

/** Levels whose available quantity is below zero where their location forbids it (an invariant: always none). */
export async function levelsBelowZero(db: Queryable, productIds?: string[]) {
  return db.query<{ productId: string; locationId: string; onHand: number; reserved: number }>(
    `SELECT s.product_id AS "productId", s.location_id AS "locationId", s.on_hand AS "onHand", s.reserved
     FROM stock_levels s JOIN locations l ON l.id = s.location_id
     WHERE ($1::uuid[] IS NULL OR s.product_id = ANY($1::uuid[])) AND NOT l.allow_negative AND s.on_hand - s.reserved < 0`,
    [productIds ?? null],
  );
}

/** Every invariant of the levels at once: the ledger's, the reservations', and no forbidden negative. */
export async function brokenLevelInvariants(db: Queryable, productIds?: string[]) {
  return {
    disagreeingWithLedger: await levelsDisagreeingWithLedger(db, productIds),
    disagreeingWithReservations: await levelsDisagreeingWithReservations(db, productIds),
    belowZero: await levelsBelowZero(db, productIds),
  };
}

/** What brokenLevelInvariants answers when every invariant holds. */
export const NO_BROKEN_INVARIANTS = { disagreeingWithLedger: [], disagreeingWithReservations: [], belowZero: [] };
