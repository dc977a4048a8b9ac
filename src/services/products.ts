import * as products from '../db/products.ts';
import { decodeCursor, pageOf } from '../domain/cursor.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import type { UseCaseContext } from './context.ts';

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
  imageUrl: row.imageUrl,
  archived: row.archived,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export async function createProduct(ctx: UseCaseContext, input: ProductInput) {
  const row = await ctx.db.transaction(
    (tx) =>
      products.insertProduct(tx, uuidv7(), {
        sku: input.sku.trim(),
        name: input.name.trim(),
        description: input.description ?? null,
        categoryId: input.categoryId ?? null,
        unit: input.unit ?? 'pcs',
        barcode: input.barcode ?? null,
        reorderPoint: input.reorderPoint ?? 0,
      }),
    { signal: ctx.signal },
  );
  return presentProduct(row);
}

export async function getProduct(ctx: UseCaseContext, id: string) {
  const row = await ctx.db.connection((db) => products.findProduct(db, id), { signal: ctx.signal });
  if (row === undefined) throw notFound('product', id);
  return presentProduct(row);
}

export async function listProducts(
  ctx: UseCaseContext,
  query: { q?: string | undefined; categoryId?: string | undefined; archived?: boolean | undefined; limit: number; cursor?: string | undefined },
) {
  const afterSku = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['string'])[0];
  // A scanner adds a newline or tab to what it read; typed search text may carry spaces.
  const q = query.q?.trim();
  const rows = await ctx.db.connection(
    (db) => products.listProducts(db, { ...query, q, afterSku }),
    { signal: ctx.signal },
  );
  const page = pageOf(rows, query.limit, (row) => [row.sortKey]);
  return { items: page.items.map(presentProduct), nextCursor: page.nextCursor };
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
  const rows = await ctx.db.connection((db) => products.lookupProducts(db, code, LOOKUP_CANDIDATES_MAX), { signal: ctx.signal });
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
  const row = await ctx.db.transaction(
    (tx) => products.updateProduct(tx, id, { ...changes, sku: changes.sku?.trim(), name: changes.name?.trim() }),
    { signal: ctx.signal },
  );
  if (row === undefined) throw notFound('product', id);
  return presentProduct(row);
}

/** Products are never deleted: the ledger refers to them. Deleting one archives it. */
export function archiveProduct(ctx: UseCaseContext, id: string) {
  return updateProduct(ctx, id, { archived: true });
}
