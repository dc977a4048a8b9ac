import * as products from '../db/products.ts';
import { decodeCursor, pageOf } from '../domain/cursor.ts';
import { notFound } from '../domain/errors.ts';
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
  const rows = await ctx.db.connection(
    (db) => products.listProducts(db, { ...query, afterSku }),
    { signal: ctx.signal },
  );
  const page = pageOf(rows, query.limit, (row) => [row.sortKey]);
  return { items: page.items.map(presentProduct), nextCursor: page.nextCursor };
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
