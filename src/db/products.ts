import type { Queryable } from './database.ts';
import { Conditions } from './sql.ts';

export interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string | null;
  categoryId: string | null;
  category: { id: string; name: string } | null;
  unit: string;
  barcode: string | null;
  reorderPoint: number;
  imageUrl: string | null;
  archived: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProductFields {
  sku: string;
  name: string;
  description: string | null;
  categoryId: string | null;
  unit: string;
  barcode: string | null;
  reorderPoint: number;
}

// The category comes in the same query as its product, for one row or a page of them (eager
// loading: a list costs one query whatever its length).
const PRODUCT_COLUMNS = `
  p.id, p.sku, p.name, p.description, p.category_id AS "categoryId",
         CASE WHEN c.id IS NULL THEN NULL ELSE json_build_object('id', c.id, 'name', c.name) END AS category,
         p.unit, p.barcode, p.reorder_point AS "reorderPoint", p.image_url AS "imageUrl", p.archived,
  p.created_at AS "createdAt", p.updated_at AS "updatedAt"`;
const SELECT_PRODUCTS = `SELECT ${PRODUCT_COLUMNS} FROM products p LEFT JOIN categories c ON c.id = p.category_id`;

export async function insertProduct(db: Queryable, id: string, fields: ProductFields): Promise<ProductRow> {
  await db.query(
    `INSERT INTO products (id, sku, name, description, category_id, unit, barcode, reorder_point)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [id, fields.sku, fields.name, fields.description, fields.categoryId, fields.unit, fields.barcode, fields.reorderPoint],
  );
  return (await findProduct(db, id))!;
}

export async function findProduct(db: Queryable, id: string): Promise<ProductRow | undefined> {
  const rows = await db.query<ProductRow>(`${SELECT_PRODUCTS} WHERE p.id = $1`, [id]);
  return rows[0];
}

export interface ProductFilter {
  /** Part of the SKU or name (case-insensitive), or the whole barcode (exact). */
  q?: string | undefined;
  categoryId?: string | undefined;
  archived?: boolean | undefined;
  /** The lower-cased SKU of the last row of the previous page. */
  afterSku?: string | undefined;
  limit: number;
}

export async function listProducts(db: Queryable, filter: ProductFilter): Promise<(ProductRow & { sortKey: string })[]> {
  const where = new Conditions();
  if (filter.q !== undefined && filter.q !== '') {
    // The search text is a LIKE pattern only after its own wildcards are escaped.
    const pattern = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.add(`(lower(p.sku) LIKE $? OR lower(p.name) LIKE $? OR p.barcode = $?)`, pattern, pattern, filter.q);
  }
  if (filter.categoryId !== undefined) where.add('p.category_id = $?', filter.categoryId);
  if (filter.archived !== undefined) where.add('p.archived = $?', filter.archived);
  if (filter.afterSku !== undefined) where.add('lower(p.sku) > $?', filter.afterSku);
  return db.query(
    `SELECT ${PRODUCT_COLUMNS}, lower(p.sku) AS "sortKey"
     FROM products p LEFT JOIN categories c ON c.id = p.category_id
     ${where.where()} ORDER BY lower(p.sku) LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

export interface LookupMatch extends ProductRow {
  /** Whether the code is the product's barcode (else it is its SKU). */
  byBarcode: boolean;
}

/**
 * The products whose barcode is `code` exactly or whose SKU is `code` case-insensitively, best
 * first: a barcode match before a SKU match, then a product in use before an archived one, then
 * the oldest. At most `limit`. Each side is one index probe (products_barcode_idx, products_sku_key).
 */
export async function lookupProducts(db: Queryable, code: string, limit: number): Promise<LookupMatch[]> {
  return db.query<LookupMatch>(
    `SELECT ${PRODUCT_COLUMNS}, p.barcode IS NOT DISTINCT FROM $1 AS "byBarcode"
     FROM products p LEFT JOIN categories c ON c.id = p.category_id
     WHERE p.barcode = $1 OR lower(p.sku) = lower($1)
     ORDER BY "byBarcode" DESC, p.archived, p.id
     LIMIT $2`,
    [code, limit],
  );
}

export async function updateProduct(
  db: Queryable,
  id: string,
  changes: Partial<ProductFields> & { archived?: boolean | undefined },
): Promise<ProductRow | undefined> {
  // Each column is set only when its field was given; a given null clears a nullable column.
  const given = (field: keyof typeof changes) => changes[field] !== undefined;
  const rows = await db.query<{ id: string }>(
    `UPDATE products SET
       sku = CASE WHEN $2 THEN $3 ELSE sku END,
       name = CASE WHEN $4 THEN $5 ELSE name END,
       description = CASE WHEN $6 THEN $7 ELSE description END,
       category_id = CASE WHEN $8 THEN $9::uuid ELSE category_id END,
       unit = CASE WHEN $10 THEN $11 ELSE unit END,
       barcode = CASE WHEN $12 THEN $13 ELSE barcode END,
       reorder_point = CASE WHEN $14 THEN $15::bigint ELSE reorder_point END,
       archived = CASE WHEN $16 THEN $17::boolean ELSE archived END,
       updated_at = date_trunc('milliseconds', now())
     WHERE id = $1 RETURNING id`,
    [
      id,
      given('sku'), changes.sku ?? null,
      given('name'), changes.name ?? null,
      given('description'), changes.description ?? null,
      given('categoryId'), changes.categoryId ?? null,
      given('unit'), changes.unit ?? null,
      given('barcode'), changes.barcode ?? null,
      given('reorderPoint'), changes.reorderPoint ?? null,
      given('archived'), changes.archived ?? null,
    ],
  );
  return rows.length === 0 ? undefined : findProduct(db, id);
}
