import type { Queryable, Transaction } from './database.ts';
import type { ConstraintMessages } from './errors.ts';
import { Conditions, onlyRow, partialSet, type SettableColumn } from './sql.ts';

/** What a client is told when a write breaks one of the table's constraints (src/db/errors.ts). */
export const PRODUCT_CONSTRAINTS: ConstraintMessages = {
  products_sku_key: 'a product with this SKU already exists',
};

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
  /** The product's current image (src/db/images.ts), whose URLs the presenter makes. */
  imageId: string | null;
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
         p.unit, p.barcode, p.reorder_point AS "reorderPoint", p.image_id AS "imageId", p.archived,
  p.created_at AS "createdAt", p.updated_at AS "updatedAt"`;
const SELECT_PRODUCTS = `SELECT ${PRODUCT_COLUMNS} FROM products p LEFT JOIN categories c ON c.id = p.category_id`;
/** A written row as a product, its category joined: the statement's `written` is the row RETURNING gave. */
const SELECT_WRITTEN = `SELECT ${PRODUCT_COLUMNS} FROM written p LEFT JOIN categories c ON c.id = p.category_id`;

export async function insertProduct(tx: Transaction, id: string, fields: ProductFields): Promise<ProductRow> {
  const rows = await tx.query<ProductRow>(
    `WITH written AS (
       INSERT INTO products (id, sku, name, description, category_id, unit, barcode, reorder_point)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
     )
     ${SELECT_WRITTEN}`,
    [id, fields.sku, fields.name, fields.description, fields.categoryId, fields.unit, fields.barcode, fields.reorderPoint],
  );
  return onlyRow(rows, 'INSERT INTO products');
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
  /** The key of the last row of the previous page: its lower-cased SKU. */
  after?: [sku: string] | undefined;
  limit: number;
}

/** The conditions of a product filter, the same for a list page and an export (src/db/exports.ts). */
export function filterProducts(where: Conditions, filter: Pick<ProductFilter, 'q' | 'categoryId' | 'archived'>): Conditions {
  if (filter.q !== undefined && filter.q !== '') {
    // The search text is a LIKE pattern only after its own wildcards are escaped.
    const pattern = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.add(`(lower(p.sku) LIKE $? OR lower(p.name) LIKE $? OR p.barcode = $?)`, pattern, pattern, filter.q);
  }
  if (filter.categoryId !== undefined) where.add('p.category_id = $?', filter.categoryId);
  if (filter.archived !== undefined) where.add('p.archived = $?', filter.archived);
  return where;
}

export async function listProducts(db: Queryable, filter: ProductFilter): Promise<(ProductRow & { sortKey: string })[]> {
  const where = filterProducts(new Conditions(), filter);
  if (filter.after !== undefined) where.add('lower(p.sku) > $?', ...filter.after);
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

export type ProductChanges = Partial<ProductFields> & { archived?: boolean | undefined };

const SETTABLE: { readonly [Field in keyof ProductChanges]-?: SettableColumn } = {
  sku: ['sku', 'text'],
  name: ['name', 'text'],
  description: ['description', 'text'],
  categoryId: ['category_id', 'uuid'],
  unit: ['unit', 'text'],
  barcode: ['barcode', 'text'],
  reorderPoint: ['reorder_point', 'bigint'],
  archived: ['archived', 'boolean'],
};

/** Sets the given fields (a given null clears a nullable column); undefined when there is no such product. */
export async function updateProduct(tx: Transaction, id: string, changes: ProductChanges): Promise<ProductRow | undefined> {
  const sql = new Conditions();
  const rows = await tx.query<ProductRow>(
    `WITH written AS (
       UPDATE products SET ${partialSet(sql, changes, SETTABLE)}
       WHERE id = ${sql.param(id)} RETURNING *
     )
     ${SELECT_WRITTEN}`,
    sql.params,
  );
  return rows[0];
}
