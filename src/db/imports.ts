import assert from 'node:assert/strict';
import type { Transaction } from './database.ts';

// The batched statements of the CSV imports (src/services/imports.ts): each reads or writes a
// whole batch of lines in one round trip, with arrays unnested into rows, whatever its size.

const NO_PARENT = `'00000000-0000-0000-0000-000000000000'::uuid`;

/** A product as an import compares it with a line of the file. */
export interface ImportedProductRow {
  id: string;
  sku: string;
  /** lower(sku): what the file's SKUs are matched by (products_sku_key). */
  key: string;
  name: string;
  description: string | null;
  categoryId: string | null;
  unit: string;
  barcode: string | null;
  reorderPoint: number;
  archived: boolean;
}

/**
 * The products with these lower-cased SKUs, locked until the transaction ends, so that what a
 * batch compares and writes can't change under it. Locked in SKU order, as every batch sorts its
 * lines, so that two imports of overlapping files wait for each other rather than deadlock.
 */
export async function lockProductsBySku(tx: Transaction, keys: string[]): Promise<ImportedProductRow[]> {
  const rows = await tx.query<ImportedProductRow>(
    `SELECT id, sku, lower(sku) AS key, name, description, category_id AS "categoryId", unit, barcode,
            reorder_point AS "reorderPoint", archived
     FROM products WHERE lower(sku) = ANY($1::text[])
     ORDER BY lower(sku)
     FOR UPDATE`,
    [keys],
  );
  return rows.map((row) => ({ ...row, reorderPoint: Number(row.reorderPoint) }));
}

export interface ImportedProductFields {
  id: string;
  sku: string;
  name: string;
  description: string | null;
  categoryId: string | null;
  unit: string;
  barcode: string | null;
  reorderPoint: number;
}

function columnsOf(rows: ImportedProductFields[]) {
  return [
    rows.map((row) => row.id),
    rows.map((row) => row.sku),
    rows.map((row) => row.name),
    rows.map((row) => row.description),
    rows.map((row) => row.categoryId),
    rows.map((row) => row.unit),
    rows.map((row) => row.barcode),
    rows.map((row) => row.reorderPoint),
  ];
}

const UNNESTED = `unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::bigint[])
                  AS u(id, sku, name, description, category_id, unit, barcode, reorder_point)`;

/**
 * Inserts the products; one whose SKU another transaction took since the batch looked (a
 * concurrent import or POST) is skipped, not an error: the ids of those inserted are returned.
 */
export async function insertProducts(tx: Transaction, rows: ImportedProductFields[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await tx.query<{ id: string }>(
    `INSERT INTO products (id, sku, name, description, category_id, unit, barcode, reorder_point)
     SELECT id, sku, name, description, category_id, unit, barcode, reorder_point FROM ${UNNESTED}
     ON CONFLICT (lower(sku)) DO NOTHING
     RETURNING id`,
    columnsOf(rows),
  );
  return new Set(inserted.map((row) => row.id));
}

/** Writes every field of the products (locked by `lockProductsBySku`), and their updatedAt. */
export async function updateProducts(tx: Transaction, rows: ImportedProductFields[]): Promise<void> {
  if (rows.length === 0) return;
  const updated = await tx.query<{ id: string }>(
    `UPDATE products p
     SET name = u.name, description = u.description, category_id = u.category_id, unit = u.unit,
         barcode = u.barcode, reorder_point = u.reorder_point, updated_at = date_trunc('milliseconds', now())
     FROM ${UNNESTED}
     WHERE p.id = u.id
     RETURNING p.id`,
    columnsOf(rows),
  );
  assert.equal(updated.length, rows.length, 'every locked product of an import batch is updated');
}

/**
 * The ids of categories named `names[i]` under `parentIds[i]` (null: at the top), each created
 * when missing, in the order asked. Names match case-insensitively, as sibling names are unique
 * (categories_parent_name_key). A category another transaction is creating at the same moment is
 * waited for, then found by the second statement.
 */
export async function ensureCategories(
  tx: Transaction,
  wanted: { id: string; parentId: string | null; name: string }[],
): Promise<string[]> {
  if (wanted.length === 0) return [];
  const params = [wanted.map((w) => w.id), wanted.map((w) => w.parentId), wanted.map((w) => w.name)];
  await tx.query(
    `INSERT INTO categories (id, parent_id, name)
     SELECT id, parent_id, name FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS w(id, parent_id, name)
     ON CONFLICT DO NOTHING`,
    params,
  );
  const found = await tx.query<{ ordinal: number; id: string }>(
    `SELECT w.ordinal::int AS ordinal, c.id
     FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS w(parent_id, name, ordinal)
     JOIN categories c ON coalesce(c.parent_id, ${NO_PARENT}) = coalesce(w.parent_id, ${NO_PARENT}) AND lower(c.name) = lower(w.name)`,
    [params[1], params[2]],
  );
  const ids: string[] = [];
  for (const row of found) ids[row.ordinal - 1] = row.id;
  assert.ok(
    wanted.every((_, index) => ids[index] !== undefined),
    'every category an import asks for exists after it is created',
  );
  return ids;
}

/** A product a stock count names by its SKU. */
export interface CountedProductRow {
  id: string;
  key: string;
  archived: boolean;
}

export async function findProductsBySku(tx: Transaction, keys: string[]): Promise<CountedProductRow[]> {
  return tx.query<CountedProductRow>(`SELECT id, lower(sku) AS key, archived FROM products WHERE lower(sku) = ANY($1::text[])`, [keys]);
}
