import type { Queryable } from './database.ts';
import { Conditions } from './sql.ts';

export interface StockRow {
  productId: string;
  sku: string;
  productName: string;
  locationId: string;
  locationCode: string;
  onHand: number;
  reserved: number;
  available: number;
  reorderPoint: number;
}

export interface StockFilter {
  productId?: string | undefined;
  locationId?: string | undefined;
  /** Only these locations (a clerk's scope). */
  locationIds?: readonly string[] | undefined;
  belowReorder?: boolean | undefined;
  /** When given, `onHand` is the sum of the ledger up to and including this time. */
  asOf?: Date | undefined;
  /** The key of the last row of the previous page: its product id and location id. */
  after?: [productId: string, locationId: string] | undefined;
  limit: number;
}

/**
 * The SELECT of a level's `on_hand` and `reserved` (of `stock_levels s`), for a LATERAL join: now,
 * or as of a past time from the ledger. The ledger keeps no history of reservations, so a level as
 * of a past time has none.
 */
export function levelAt(where: Conditions, asOf: Date | undefined): string {
  return asOf === undefined
    ? 'SELECT s.on_hand AS on_hand, s.reserved AS reserved'
    : `SELECT coalesce((SELECT sum(ml.delta) FROM movement_lines ml
                        WHERE ml.product_id = s.product_id AND ml.location_id = s.location_id
                          AND ml.created_at <= ${where.param(asOf)}), 0)::bigint AS on_hand,
              0::bigint AS reserved`;
}

export async function listStock(db: Queryable, filter: StockFilter): Promise<StockRow[]> {
  const where = new Conditions();
  const level = levelAt(where, filter.asOf);
  if (filter.productId !== undefined) where.add('s.product_id = $?', filter.productId);
  if (filter.locationId !== undefined) where.add('s.location_id = $?', filter.locationId);
  if (filter.locationIds !== undefined) where.add('s.location_id = ANY($?::uuid[])', filter.locationIds);
  if (filter.belowReorder === true) where.add('v.on_hand - v.reserved <= p.reorder_point');
  if (filter.after !== undefined) where.add('(s.product_id, s.location_id) > ($?::uuid, $?::uuid)', ...filter.after);
  return db.query<StockRow>(
    `SELECT s.product_id AS "productId", p.sku, p.name AS "productName", s.location_id AS "locationId",
            l.code AS "locationCode", v.on_hand AS "onHand", v.reserved, v.on_hand - v.reserved AS available,
            p.reorder_point AS "reorderPoint"
     FROM stock_levels s
     JOIN products p ON p.id = s.product_id
     JOIN locations l ON l.id = s.location_id
     CROSS JOIN LATERAL (${level}) v
     ${where.where()}
     ORDER BY s.product_id, s.location_id
     LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

export interface LocationLevel {
  locationId: string;
  locationCode: string;
  locationName: string;
  onHand: number;
  reserved: number;
  available: number;
}

/**
 * A product's level at every location (or at `locationIds` only): active ones, and archived ones
 * that still hold a level.
 */
export async function productLevels(db: Queryable, productId: string, locationIds?: readonly string[]): Promise<LocationLevel[]> {
  return db.query<LocationLevel>(
    `SELECT l.id AS "locationId", l.code AS "locationCode", l.name AS "locationName",
            coalesce(s.on_hand, 0) AS "onHand", coalesce(s.reserved, 0) AS reserved,
            coalesce(s.on_hand - s.reserved, 0) AS available
     FROM locations l
     LEFT JOIN stock_levels s ON s.location_id = l.id AND s.product_id = $1
     WHERE (NOT l.archived OR s.on_hand <> 0 OR s.reserved <> 0) AND ($2::uuid[] IS NULL OR l.id = ANY($2::uuid[]))
     ORDER BY lower(l.code)`,
    [productId, locationIds ?? null],
  );
}
