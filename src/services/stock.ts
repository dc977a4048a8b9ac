import * as products from '../db/products.ts';
import * as stock from '../db/stock.ts';
import { readPage, type Keyset, type PageQuery } from '../domain/cursor.ts';
import { assertLocations } from '../domain/access.ts';
import { notFound } from '../domain/errors.ts';
import { reading, type UseCaseContext } from './context.ts';

/** By product id, then location id. */
const BY_LEVEL: Keyset<stock.StockRow, readonly ['uuid', 'uuid']> = {
  shape: ['uuid', 'uuid'],
  keyOf: (row) => [row.productId, row.locationId],
};

/** A level is answered as its row reads. */
const presentLevel = (row: stock.StockRow) => row;

export function listStock(ctx: UseCaseContext, query: PageQuery & Omit<stock.StockFilter, 'after'>) {
  return readPage(
    query,
    BY_LEVEL,
    (after) => {
      // After the cursor's check, as ever: a bad cursor is a 422 before a location is a 403.
      if (query.locationId !== undefined) assertLocations(ctx.actor, [query.locationId]);
      const locationIds = ctx.actor?.locationIds ?? undefined;
      return reading(ctx, (db) =>
        stock.listStock(db, {
          productId: query.productId,
          locationId: query.locationId,
          locationIds,
          belowReorder: query.belowReorder,
          asOf: query.asOf,
          after,
          limit: query.limit,
        }),
      );
    },
    presentLevel,
  );
}

/** A product's level at every location the actor may see, and the totals over them. */
export async function getProductStock(ctx: UseCaseContext, productId: string) {
  const result = await reading(ctx, async (db) => {
    // Independent reads: on a pool they could run on two connections, but one connection per
    // request keeps the pool's bound meaningful; the two statements are each a single index scan.
    const product = await products.findProduct(db, productId);
    return product === undefined
      ? undefined
      : { product, levels: await stock.productLevels(db, productId, ctx.actor?.locationIds ?? undefined) };
  });
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
