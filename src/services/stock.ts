import * as products from '../db/products.ts';
import * as stock from '../db/stock.ts';
import { decodeCursor, pageOf } from '../domain/cursor.ts';
import { assertLocations } from '../domain/access.ts';
import { notFound } from '../domain/errors.ts';
import type { UseCaseContext } from './context.ts';

export async function listStock(
  ctx: UseCaseContext,
  query: Omit<stock.StockFilter, 'after'> & { cursor?: string | undefined },
) {
  const after = query.cursor === undefined ? undefined : (decodeCursor(query.cursor, ['uuid', 'uuid']) as [string, string]);
  if (query.locationId !== undefined) assertLocations(ctx.actor, [query.locationId]);
  const locationIds = ctx.actor?.locationIds ?? undefined;
  const rows = await ctx.db.connection((db) => stock.listStock(db, { ...query, locationIds, after }), { signal: ctx.signal });
  return pageOf(rows, query.limit, (row) => [row.productId, row.locationId]);
}

/** A product's level at every location the actor may see, and the totals over them. */
export async function getProductStock(ctx: UseCaseContext, productId: string) {
  const result = await ctx.db.connection(
    async (db) => {
      // Independent reads: on a pool they could run on two connections, but one connection per
      // request keeps the pool's bound meaningful; the two statements are each a single index scan.
      const product = await products.findProduct(db, productId);
      return product === undefined ? undefined : { product, levels: await stock.productLevels(db, productId, ctx.actor?.locationIds ?? undefined) };
    },
    { signal: ctx.signal },
  );
  if (result === undefined) throw notFound('product', productId);
  const total = { onHand: 0, reserved: 0, available: 0 };
  for (const level of result.levels) {
    total.onHand += level.onHand;
    total.reserved += level.reserved;
    total.available += level.available;
  }
  return {
    productId,
    sku: result.product.sku,
    productName: result.product.name,
    reorderPoint: result.product.reorderPoint,
    levels: result.levels,
    total,
  };
}
