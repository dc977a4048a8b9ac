import type { Queryable } from './database.ts';
import { filterProducts, type ProductFilter } from './products.ts';
import { levelAt } from './stock.ts';
import { Conditions } from './sql.ts';

// The reads of the CSV exports (src/services/exports.ts): one page at a time, each after the key
// of the last row of the one before (keyset: every page is one index range scan, however deep,
// and rows written meanwhile are neither repeated nor skipped), each page a short statement of its
// own, so that no connection or transaction is held for the length of a download.

export interface ProductExportRow {
  sku: string;
  name: string;
  /** The category's path from the top, `Parent/Child`; null without one. */
  category: string | null;
  unit: string;
  barcode: string | null;
  reorderPoint: number;
  description: string | null;
  /** The page key: the lower-cased SKU (SKUs are unique case-insensitively). */
  sortKey: string;
}

// Every category's path, built in the same statement as the page (never one query per product):
// categories are few, products many.
const CATEGORY_PATHS = `WITH RECURSIVE paths (id, path) AS (
  SELECT id, name FROM categories WHERE parent_id IS NULL
  UNION ALL
  SELECT c.id, paths.path || '/' || c.name FROM categories c JOIN paths ON c.parent_id = paths.id
)`;

/** Products by SKU, case-insensitively, as GET /products orders them. */
export async function exportProductsPage(
  db: Queryable,
  filter: Pick<ProductFilter, 'q' | 'categoryId' | 'archived'>,
  after: string | undefined,
  limit: number,
): Promise<ProductExportRow[]> {
  const where = filterProducts(new Conditions(), filter);
  if (after !== undefined) where.add('lower(p.sku) > $?', after);
  return db.query<ProductExportRow>(
    `${CATEGORY_PATHS}
     SELECT p.sku, p.name, paths.path AS category, p.unit, p.barcode, p.reorder_point AS "reorderPoint",
            p.description, lower(p.sku) AS "sortKey"
     FROM products p LEFT JOIN paths ON paths.id = p.category_id
     ${where.where()} ORDER BY lower(p.sku) LIMIT ${where.param(limit)}`,
    where.params,
  );
}

export interface LocationKey {
  id: string;
  code: string;
  /** The page key: the lower-cased code (codes are unique case-insensitively). */
  sortKey: string;
}

/** The next location by code after `after` (all of them, archived ones too), within `locationIds` when given. */
export async function nextLocation(
  db: Queryable,
  filter: { locationId?: string | undefined; locationIds?: readonly string[] | undefined },
  after: string | undefined,
): Promise<LocationKey | undefined> {
  const where = new Conditions();
  if (filter.locationId !== undefined) where.add('l.id = $?', filter.locationId);
  if (filter.locationIds !== undefined) where.add('l.id = ANY($?::uuid[])', filter.locationIds);
  if (after !== undefined) where.add('lower(l.code) > $?', after);
  const rows = await db.query<LocationKey>(
    `SELECT l.id, l.code, lower(l.code) AS "sortKey" FROM locations l ${where.where()} ORDER BY lower(l.code) LIMIT 1`,
    where.params,
  );
  return rows[0];
}

export interface StockExportRow {
  sku: string;
  name: string;
  unit: string;
  onHand: number;
  reserved: number;
  available: number;
  reorderPoint: number;
  /** The page key: the lower-cased SKU. */
  sortKey: string;
}

/**
 * One location's levels by SKU, case-insensitively: now, or with `asOf` the on-hand the ledger
 * had then, as GET /stock reads it (src/db/stock.ts).
 */
export async function exportStockPage(
  db: Queryable,
  locationId: string,
  asOf: Date | undefined,
  after: string | undefined,
  limit: number,
): Promise<StockExportRow[]> {
  const where = new Conditions();
  const level = levelAt(where, asOf);
  where.add('s.location_id = $?', locationId);
  if (after !== undefined) where.add('lower(p.sku) > $?', after);
  return db.query<StockExportRow>(
    `SELECT p.sku, p.name, p.unit, v.on_hand AS "onHand", v.reserved, v.on_hand - v.reserved AS available,
            p.reorder_point AS "reorderPoint", lower(p.sku) AS "sortKey"
     FROM stock_levels s
     JOIN products p ON p.id = s.product_id
     CROSS JOIN LATERAL (${level}) v
     ${where.where()}
     ORDER BY lower(p.sku) LIMIT ${where.param(limit)}`,
    where.params,
  );
}

export interface MovementLineExportRow {
  movementId: string;
  createdAt: Date;
  type: string;
  location: string;
  toLocation: string | null;
  lineNo: number;
  sku: string;
  name: string;
  /** The entry at the movement's own location (a transfer's source side). */
  delta: number;
  countedQuantity: number | null;
  reference: string | null;
  note: string | null;
  reason: string | null;
  createdBy: string | null;
}

export interface MovementExportFilter {
  productId?: string | undefined;
  /** Movements that touch this location (either end of a transfer). */
  locationId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Only movements that touch one of these locations (a clerk's scope). */
  locationIds?: readonly string[] | undefined;
}

/** The conditions of a movement filter; `at` is the creation time the page is ordered by (the movement's or its entry's, the same). */
function filterMovementLines(where: Conditions, filter: MovementExportFilter, at: string): Conditions {
  if (filter.productId !== undefined) where.add('ml.product_id = $?', filter.productId);
  if (filter.from !== undefined) where.add(`${at} >= $?`, filter.from);
  if (filter.to !== undefined) where.add(`${at} < $?`, filter.to);
  if (filter.locationId !== undefined) where.add('(m.location_id = $? OR m.to_location_id = $?)', filter.locationId, filter.locationId);
  if (filter.locationIds !== undefined) {
    where.add('(m.location_id = ANY($?::uuid[]) OR m.to_location_id = ANY($?::uuid[]))', filter.locationIds, filter.locationIds);
  }
  return where;
}

export type MovementLineKey = [createdAt: Date, movementId: string, lineNo: number];

/**
 * The lines of movements oldest first (by time, movement id, line number): one row per line of the
 * request, that is per entry at the movement's own location, so a transfer's line is one row.
 * The page's movements are chosen first, through an index in their order (movements_created_idx;
 * with a product, movement_lines_product_time_idx, an entry's created_at being its movement's),
 * and only then joined to their lines by key: a plan that holds whether or not the tables have
 * statistics (PGlite never gathers them on its own). Each movement has a line to write, so
 * `limit + 1` movements from the last key (whose lines may all be written) fill a page.
 */
export async function exportMovementLinesPage(
  db: Queryable,
  filter: MovementExportFilter,
  after: MovementLineKey | undefined,
  limit: number,
): Promise<MovementLineExportRow[]> {
  const where = new Conditions();
  const byProduct = filter.productId !== undefined;
  const [at, id] = byProduct ? ['ml.created_at', 'ml.movement_id'] : ['m.created_at', 'm.id'];
  filterMovementLines(where, filter, at);
  if (after !== undefined) where.add(`(${at}, ${id}) >= ($?, $?)`, after[0], after[1]);
  // The page carries its movements' columns: joining movements again by id would walk its primary key from the start.
  const columns = 'm.id, m.created_at, m.type, m.location_id, m.to_location_id, m.reference, m.note, m.reason, m.created_by';
  const movements = byProduct
    ? `SELECT DISTINCT ON (ml.created_at, ml.movement_id) ${columns}
       FROM movement_lines ml JOIN movements m ON m.id = ml.movement_id
       ${where.where()} ORDER BY ml.created_at, ml.movement_id LIMIT ${where.param(limit + 1)}`
    : `SELECT ${columns} FROM movements m ${where.where()} ORDER BY m.created_at, m.id LIMIT ${where.param(limit + 1)}`;
  const lines = new Conditions();
  lines.params.push(...where.params);
  if (byProduct) lines.add('ml.product_id = $?', filter.productId);
  if (after !== undefined) lines.add('(m.created_at, m.id, ml.line_no) > ($?, $?, $?)', ...after);
  return db.query<MovementLineExportRow>(
    `WITH page AS MATERIALIZED (${movements})
     SELECT m.id AS "movementId", m.created_at AS "createdAt", m.type, l.code AS location, tl.code AS "toLocation",
            ml.line_no AS "lineNo", p.sku, p.name, ml.delta, ml.counted_quantity AS "countedQuantity",
            m.reference, m.note, m.reason, u.name AS "createdBy"
     FROM page m
     -- Each movement's lines by its key. OFFSET 0 keeps the subquery apart: merged into the join,
     -- without statistics the planner found lines by location alone and filtered them by movement.
     CROSS JOIN LATERAL (
       SELECT ml.line_no, ml.product_id, ml.delta, ml.counted_quantity FROM movement_lines ml
       WHERE ml.movement_id = m.id AND ml.location_id = m.location_id OFFSET 0
     ) ml
     JOIN products p ON p.id = ml.product_id
     JOIN locations l ON l.id = m.location_id
     LEFT JOIN locations tl ON tl.id = m.to_location_id
     LEFT JOIN users u ON u.id = m.created_by
     ${lines.where()}
     ORDER BY m.created_at, m.id, ml.line_no LIMIT ${lines.param(limit)}`,
    lines.params,
  );
}

/** How many lines `exportMovementLinesPage` would give in all (for a progress bar's ETA). */
export async function countMovementLines(db: Queryable, filter: MovementExportFilter): Promise<number> {
  const where = filterMovementLines(new Conditions(), filter, 'm.created_at');
  const rows = await db.query<{ count: number }>(
    `SELECT count(*)::bigint AS count FROM movements m
     JOIN movement_lines ml ON ml.movement_id = m.id AND ml.location_id = m.location_id
     ${where.where()}`,
    where.params,
  );
  return rows[0]?.count ?? 0;
}
