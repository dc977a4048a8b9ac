import { AppError } from '../domain/errors.ts';
import type { Queryable } from './database.ts';
import { Conditions } from './sql.ts';

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
  db: Queryable,
  location: { id: string; code: string; name: string; allowNegative: boolean },
): Promise<LocationRow> {
  const rows = await db.query<LocationRow>(
    `INSERT INTO locations (id, code, name, allow_negative) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [location.id, location.code, location.name, location.allowNegative],
  );
  return rows[0]!;
}

export async function findLocation(db: Queryable, id: string): Promise<LocationRow | undefined> {
  const rows = await db.query<LocationRow>(`SELECT ${COLUMNS} FROM locations WHERE id = $1`, [id]);
  return rows[0];
}

export async function listLocations(
  db: Queryable,
  filter: { archived?: boolean | undefined; afterCode?: string | undefined; limit: number },
): Promise<(LocationRow & { sortKey: string })[]> {
  const where = new Conditions();
  if (filter.archived !== undefined) where.add('archived = $?', filter.archived);
  if (filter.afterCode !== undefined) where.add('lower(code) > $?', filter.afterCode);
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
export async function lockStockLevelsForFlagChange(db: Queryable): Promise<void> {
  await db.query('LOCK TABLE stock_levels IN SHARE ROW EXCLUSIVE MODE');
}

export async function updateLocation(
  db: Queryable,
  id: string,
  changes: { code?: string | undefined; name?: string | undefined; allowNegative?: boolean | undefined; archived?: boolean | undefined },
): Promise<LocationRow | undefined> {
  const rows = await db.query<LocationRow>(
    `UPDATE locations SET
       code = coalesce($2, code),
       name = coalesce($3, name),
       allow_negative = coalesce($4, allow_negative),
       archived = coalesce($5, archived),
       updated_at = date_trunc('milliseconds', now())
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.code ?? null, changes.name ?? null, changes.allowNegative ?? null, changes.archived ?? null],
  );
  const location = rows[0];
  if (location !== undefined && changes.allowNegative !== undefined) {
    try {
      await db.query(`UPDATE stock_levels SET allow_negative = $2 WHERE location_id = $1 AND allow_negative <> $2`, [
        id,
        changes.allowNegative,
      ]);
    } catch (error) {
      if ((error as { constraint?: string }).constraint === 'stock_levels_available_check') {
        throw new AppError('conflict', 'the location holds negative stock; bring it to zero or more before disallowing negative stock');
      }
      throw error;
    }
  }
  return location;
}

/**
 * The locations named by code (any case) or by id, as a user's locations are given on the
 * command line: each reference with the id it found, or undefined when nothing has that code or id.
 */
export async function findLocationsByCodeOrId(db: Queryable, references: string[]): Promise<{ reference: string; id: string | undefined }[]> {
  const rows = await db.query<{ reference: string; id: string | null }>(
    `SELECT r.reference, l.id::text AS id
     FROM unnest($1::text[]) WITH ORDINALITY AS r (reference, position)
     LEFT JOIN locations l ON lower(l.code) = lower(r.reference) OR l.id::text = lower(r.reference)
     ORDER BY r.position`,
    [references],
  );
  return rows.map((row) => ({ reference: row.reference, id: row.id ?? undefined }));
}
