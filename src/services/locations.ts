import * as locations from '../db/locations.ts';
import { readPage, type Keyset, type PageQuery } from '../domain/cursor.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';

export interface LocationInput {
  code: string;
  name: string;
  allowNegative?: boolean | undefined;
}

export type LocationChanges = Partial<LocationInput> & { archived?: boolean | undefined };

const presentLocation = (row: locations.LocationRow) => ({
  id: row.id,
  code: row.code,
  name: row.name,
  allowNegative: row.allowNegative,
  archived: row.archived,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

/** By code, case-insensitively. */
const BY_CODE: Keyset<locations.LocationRow & { sortKey: string }, readonly ['string']> = {
  shape: ['string'],
  keyOf: (row) => [row.sortKey],
};

export async function createLocation(ctx: UseCaseContext, input: LocationInput) {
  const row = await inTransaction(ctx, (tx) =>
    locations.insertLocation(tx, {
      id: uuidv7(),
      code: input.code.trim(),
      name: input.name.trim(),
      allowNegative: input.allowNegative ?? false,
    }),
  );
  return presentLocation(row);
}

export async function getLocation(ctx: UseCaseContext, id: string) {
  const row = await reading(ctx, (db) => locations.findLocation(db, id));
  if (row === undefined) throw notFound('location', id);
  return presentLocation(row);
}

export function listLocations(ctx: UseCaseContext, query: PageQuery & { archived?: boolean | undefined }) {
  return readPage(
    query,
    BY_CODE,
    (after) => reading(ctx, (db) => locations.listLocations(db, { archived: query.archived, after, limit: query.limit })),
    presentLocation,
  );
}

/**
 * Changes a location. A new `allowNegative` is copied to its levels, where the database checks
 * it, with stock writes blocked meanwhile; negative stock can't be disallowed while the location
 * holds some.
 */
export async function updateLocation(ctx: UseCaseContext, id: string, changes: LocationChanges) {
  const row = await inTransaction(ctx, async (tx) => {
    if (changes.allowNegative !== undefined) await locations.lockStockLevelsForFlagChange(tx);
    const row = await locations.updateLocation(tx, id, { ...changes, code: changes.code?.trim(), name: changes.name?.trim() });
    if (row !== undefined && changes.allowNegative !== undefined) {
      if (!changes.allowNegative && (await locations.holdsNegativeStock(tx, id))) {
        throw new AppError('conflict', 'the location holds negative stock; bring it to zero or more before disallowing negative stock');
      }
      await locations.copyAllowNegativeToLevels(tx, id, changes.allowNegative);
    }
    return row;
  });
  if (row === undefined) throw notFound('location', id);
  return presentLocation(row);
}
