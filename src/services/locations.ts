import * as locations from '../db/locations.ts';
import { decodeCursor, pageOf } from '../domain/cursor.ts';
import { notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import type { UseCaseContext } from './context.ts';

export interface LocationInput {
  code: string;
  name: string;
  allowNegative?: boolean | undefined;
}

export type LocationChanges = Partial<LocationInput> & { archived?: boolean | undefined };

const present = (row: locations.LocationRow) => ({
  id: row.id,
  code: row.code,
  name: row.name,
  allowNegative: row.allowNegative,
  archived: row.archived,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export async function createLocation(ctx: UseCaseContext, input: LocationInput) {
  const row = await ctx.db.transaction(
    (tx) =>
      locations.insertLocation(tx, {
        id: uuidv7(),
        code: input.code.trim(),
        name: input.name.trim(),
        allowNegative: input.allowNegative ?? false,
      }),
    { signal: ctx.signal },
  );
  return present(row);
}

export async function getLocation(ctx: UseCaseContext, id: string) {
  const row = await ctx.db.connection((db) => locations.findLocation(db, id), { signal: ctx.signal });
  if (row === undefined) throw notFound('location', id);
  return present(row);
}

export async function listLocations(
  ctx: UseCaseContext,
  query: { archived?: boolean | undefined; limit: number; cursor?: string | undefined },
) {
  const afterCode = query.cursor === undefined ? undefined : decodeCursor(query.cursor, ['string'])[0];
  const rows = await ctx.db.connection(
    (db) => locations.listLocations(db, { archived: query.archived, afterCode, limit: query.limit }),
    { signal: ctx.signal },
  );
  const page = pageOf(rows, query.limit, (row) => [row.sortKey]);
  return { items: page.items.map(present), nextCursor: page.nextCursor };
}

export async function updateLocation(ctx: UseCaseContext, id: string, changes: LocationChanges) {
  const row = await ctx.db.transaction(
    async (tx) => {
      if (changes.allowNegative !== undefined) await locations.lockStockLevelsForFlagChange(tx);
      return locations.updateLocation(tx, id, { ...changes, code: changes.code?.trim(), name: changes.name?.trim() });
    },
    { signal: ctx.signal },
  );
  if (row === undefined) throw notFound('location', id);
  return present(row);
}
