import type { Queryable, Transaction } from './database.ts';
import type { ConstraintMessages } from './errors.ts';
import { Conditions, onlyRow, partialSet, type SettableColumn } from './sql.ts';

/** What a client is told when a write breaks one of the table's constraints (src/db/errors.ts). */
export const LOCATION_CONSTRAINTS: ConstraintMessages = {
  locations_code_key: 'a location with this code already exists',
};

export interface LocationRow {
  id: string;
  code: string;
  name: string;
  allowNegative: boolean;
  archived: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, code, name, allow_negative AS "allowNegative", archived,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function insertLocation(
  tx: Transaction,
  location: { id: string; code: string; name: string; allowNegative: boolean },
): Promise<LocationRow> {
  const rows = await tx.query<LocationRow>(
    `INSERT INTO locations (id, code, name, allow_negative) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [location.id, location.code, location.name, location.allowNegative],
  );
  return onlyRow(rows, 'INSERT INTO locations');
}

export async function findLocation(db: Queryable, id: string): Promise<LocationRow | undefined> {
  const rows = await db.query<LocationRow>(`SELECT ${COLUMNS} FROM locations WHERE id = $1`, [id]);
  return rows[0];
}

export async function listLocations(
  db: Queryable,
  filter: {
    archived?: boolean | undefined;
    /** The key of the last row of the previous page: its lower-cased code. */
    after?: [code: string] | undefined;
    limit: number;
  },
): Promise<(LocationRow & { sortKey: string })[]> {
  const where = new Conditions();
  if (filter.archived !== undefined) where.add('archived = $?', filter.archived);
  if (filter.after !== undefined) where.add('lower(code) > $?', ...filter.after);
  return db.query(
    `SELECT ${COLUMNS}, lower(code) AS "sortKey" FROM locations ${where.where()} ORDER BY lower(code) LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

/**
 * Blocks stock writes until this transaction ends. Changing `allowNegative` rewrites the copy of
 * the flag on the location's stock rows, and a movement creating a row at the same moment could
 * otherwise copy the old value. A rare administrative change; movements wait a moment for it.
 */
export async function lockStockLevelsForFlagChange(tx: Transaction): Promise<void> {
  await tx.query('LOCK TABLE stock_levels IN SHARE ROW EXCLUSIVE MODE');
}

export interface LocationChanges {
  code?: string | undefined;
  name?: string | undefined;
  allowNegative?: boolean | undefined;
  archived?: boolean | undefined;
}

const SETTABLE: { readonly [Field in keyof LocationChanges]-?: SettableColumn } = {
  code: ['code', 'text'],
  name: ['name', 'text'],
  allowNegative: ['allow_negative', 'boolean'],
  archived: ['archived', 'boolean'],
};

/**
 * Sets the given fields; undefined when there is no such location. A new `allowNegative` is
 * copied to the location's levels by `copyAllowNegativeToLevels`, in the same transaction.
 */
export async function updateLocation(tx: Transaction, id: string, changes: LocationChanges): Promise<LocationRow | undefined> {
  const sql = new Conditions();
  const rows = await tx.query<LocationRow>(
    `UPDATE locations SET ${partialSet(sql, changes, SETTABLE)} WHERE id = ${sql.param(id)} RETURNING ${COLUMNS}`,
    sql.params,
  );
  return rows[0];
}

/**
 * Whether a level at the location is below zero (on hand less reserved): such a location can't
 * be made to disallow negative stock. Call it under `lockStockLevelsForFlagChange`, so that no
 * movement changes a level between this answer and the flag's change.
 */
export async function holdsNegativeStock(tx: Transaction, locationId: string): Promise<boolean> {
  const rows = await tx.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM stock_levels WHERE location_id = $1 AND on_hand - reserved < 0) AS found`,
    [locationId],
  );
  return onlyRow(rows, 'a search for negative stock').found;
}

/** Copies the location's flag to its levels, where the constraint stock_levels_available_check reads it. */
export async function copyAllowNegativeToLevels(tx: Transaction, locationId: string, allowNegative: boolean): Promise<void> {
  await tx.query(`UPDATE stock_levels SET allow_negative = $2 WHERE location_id = $1 AND allow_negative <> $2`, [
    locationId,
    allowNegative,
  ]);
}

/**
 * The locations named by code (any case) or by id, as a user's locations are given on the
 * command line: each reference with the id it found, or undefined when nothing has that code or id.
 */
export async function findLocationsByCodeOrId(
  db: Queryable,
  references: string[],
): Promise<{ reference: string; id: string | undefined }[]> {
  const rows = await db.query<{ reference: string; id: string | null }>(
    `SELECT r.reference, l.id::text AS id
     FROM unnest($1::text[]) WITH ORDINALITY AS r (reference, position)
     LEFT JOIN locations l ON lower(l.code) = lower(r.reference) OR l.id::text = lower(r.reference)
     ORDER BY r.position`,
    [references],
  );
  return rows.map((row) => ({ reference: row.reference, id: row.id ?? undefined }));
}
