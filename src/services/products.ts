import * as products from '../db/products.ts';
import { readPage, type Keyset, type PageQuery } from '../domain/cursor.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { imageUrls } from './image-urls.ts';

export interface ProductInput {
  sku: string;
  name: string;
  description?: string | null | undefined;
  categoryId?: string | null | undefined;
  unit?: string | undefined;
  barcode?: string | null | undefined;
  reorderPoint?: number | undefined;
}

export type ProductChanges = Partial<ProductInput> & { archived?: boolean | undefined };

export const presentProduct = (row: products.ProductRow) => ({
  id: row.id,
  sku: row.sku,
  name: row.name,
  description: row.description,
  categoryId: row.categoryId,
  category: row.category,
  unit: row.unit,
  barcode: row.barcode,
  reorderPoint: row.reorderPoint,
  ...imageUrls(row.id, row.imageId),
  archived: row.archived,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

/** By SKU, case-insensitively. */
const BY_SKU: Keyset<products.ProductRow & { sortKey: string }, readonly ['string']> = {
  shape: ['string'],
  keyOf: (row) => [row.sortKey],
};

export async function createProduct(ctx: UseCaseContext, input: ProductInput) {
  const row = await inTransaction(ctx, (tx) =>
    products.insertProduct(tx, uuidv7(), {
      sku: input.sku.trim(),
      name: input.name.trim(),
      description: input.description ?? null,
      categoryId: input.categoryId ?? null,
      unit: input.unit ?? 'pcs',
      barcode: input.barcode ?? null,
      reorderPoint: input.reorderPoint ?? 0,
    }),
  );
  return presentProduct(row);
}

export async function getProduct(ctx: UseCaseContext, id: string) {
  const row = await reading(ctx, (db) => products.findProduct(db, id));
  if (row === undefined) throw notFound('product', id);
  return presentProduct(row);
}

export function listProducts(
  ctx: UseCaseContext,
  query: PageQuery & { q?: string | undefined; categoryId?: string | undefined; archived?: boolean | undefined },
) {
  // A scanner adds a newline or tab to what it read; typed search text may carry spaces.
  const q = query.q?.trim();
  return readPage(
    query,
    BY_SKU,
    (after) =>
      reading(ctx, (db) =>
        products.listProducts(db, { q, categoryId: query.categoryId, archived: query.archived, after, limit: query.limit }),
      ),
    presentProduct,
  );
}

/** How many of the products that share the best match a refused lookup names. */
const LOOKUP_CANDIDATES_MAX = 10;

/**
 * The one product a scanned or typed code identifies: its barcode exactly, or else its SKU
 * case-insensitively. Barcodes are not unique, so among several matches a barcode beats a SKU
 * (the scanner read a barcode) and a product in use beats an archived one (a discontinued
 * product's barcode given to its successor). An archived product is still answered, with
 * `archived: true`: the item in hand is identified, and the clerk sees it is no longer sold.
 * Two products equally good (two products in use with one barcode) are refused with 409 naming
 * them, never one picked at random: ringing up the wrong product at a till is worse than asking.
 */
export async function lookupProduct(ctx: UseCaseContext, scanned: string) {
  const code = scanned.trim();
  const rows = await reading(ctx, (db) => products.lookupProducts(db, code, LOOKUP_CANDIDATES_MAX));
  const [best, next] = rows;
  if (best === undefined) throw new AppError('not_found', `no product has the barcode or SKU ${JSON.stringify(code)}`);
  if (next !== undefined && next.byBarcode === best.byBarcode && next.archived === best.archived) {
    const tied = rows.filter((row) => row.byBarcode === best.byBarcode && row.archived === best.archived);
    throw new AppError(
      'conflict',
      `${tied.length === LOOKUP_CANDIDATES_MAX ? `at least ${tied.length}` : tied.length} ${best.archived ? 'archived ' : ''}products have the ` +
        `${best.byBarcode ? 'barcode' : 'SKU'} ${JSON.stringify(code)} (${tied.map((row) => row.sku).join(', ')}): look one up by its SKU`,
      { products: tied.map((row) => ({ id: row.id, sku: row.sku, name: row.name })) },
    );
  }
  const { byBarcode: _, ...product } = best;
  return presentProduct(product);
}

export async function updateProduct(ctx: UseCaseContext, id: string, changes: ProductChanges) {
  const row = await inTransaction(ctx, (tx) =>
    products.updateProduct(tx, id, { ...changes, sku: changes.sku?.trim(), name: changes.name?.trim() }),
  );
  if (row === undefined) throw notFound('product', id);
  return presentProduct(row);
}

/** Products are never deleted: the ledger refers to them. Deleting one archives it. */
export function archiveProduct(ctx: UseCaseContext, id: string) {
  return updateProduct(ctx, id, { archived: true });
}
