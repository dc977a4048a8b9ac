import assert from 'node:assert/strict';
import type { MovementType } from '../domain/movements.ts';
import type { Queryable, Transaction } from './database.ts';
import { Conditions, onlyRow } from './sql.ts';

/** One change to one level, as the ledger stores it. */
export interface LedgerEntry {
  lineNo: number;
  productId: string;
  locationId: string;
  delta: number;
  countedQuantity: number | null;
}

export interface MovementRow {
  id: string;
  type: MovementType;
  locationId: string;
  toLocationId: string | null;
  reference: string | null;
  note: string | null;
  reason: string | null;
  createdById: string | null;
  /** The author's name (read with the movement; users are disabled, never deleted). */
  createdByName: string | null;
  createdAt: Date;
}

export interface LevelKey {
  productId: string;
  locationId: string;
}

export interface LockedLevel extends LevelKey {
  onHand: number;
  reserved: number;
  allowNegative: boolean;
}

export interface Balance extends LevelKey {
  onHand: number;
  reserved: number;
  available: number;
}

/** A changed level (`stock_levels s`) as a `Balance`, for the RETURNING of the statements that change levels. */
export const BALANCE_COLUMNS = `s.product_id AS "productId", s.location_id AS "locationId", s.on_hand AS "onHand",
               s.reserved, s.on_hand - s.reserved AS available`;

/** The products and locations a movement names that exist, with their archived flags. */
export async function findReferences(db: Queryable, productIds: string[], locationIds: string[]) {
  return db.query<{ kind: 'product' | 'location'; id: string; archived: boolean }>(
    `SELECT 'product' AS kind, id, archived FROM products WHERE id = ANY($1::uuid[])
     UNION ALL
     SELECT 'location' AS kind, id, archived FROM locations WHERE id = ANY($2::uuid[])`,
    [productIds, locationIds],
  );
}

/**
 * Creates the missing levels and locks them all, in (product, location) order so that two
 * movements over the same rows always lock them in the same order and can't deadlock.
 */
export async function lockLevels(tx: Transaction, keys: LevelKey[]): Promise<LockedLevel[]> {
  const productIds = keys.map((key) => key.productId);
  const locationIds = keys.map((key) => key.locationId);
  await tx.query(
    `INSERT INTO stock_levels (product_id, location_id, allow_negative)
     SELECT k.product_id, k.location_id, l.allow_negative
     FROM unnest($1::uuid[], $2::uuid[]) AS k (product_id, location_id)
     JOIN locations l ON l.id = k.location_id
     ORDER BY k.product_id, k.location_id
     ON CONFLICT (product_id, location_id) DO NOTHING`,
    [productIds, locationIds],
  );
  const levels = await tx.query<LockedLevel>(
    `SELECT s.product_id AS "productId", s.location_id AS "locationId", s.on_hand AS "onHand",
            s.reserved, s.allow_negative AS "allowNegative"
     FROM stock_levels s
     JOIN unnest($1::uuid[], $2::uuid[]) AS k (product_id, location_id)
       ON s.product_id = k.product_id AND s.location_id = k.location_id
     ORDER BY s.product_id, s.location_id
     FOR UPDATE OF s`,
    [productIds, locationIds],
  );
  assert.equal(levels.length, keys.length, 'every level of a movement exists and is locked');
  return levels;
}

/**
 * Adds each delta to its level in one statement. The guard repeats the rule the service has
 * already checked on the locked rows, so that a level that would go short is never written.
 */
export async function applyDeltas(tx: Transaction, entries: LedgerEntry[]): Promise<Balance[]> {
  const balances = await tx.query<Balance>(
    `UPDATE stock_levels s
     SET on_hand = s.on_hand + d.delta, updated_at = date_trunc('milliseconds', now())
     FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS d (product_id, location_id, delta)
     WHERE s.product_id = d.product_id AND s.location_id = d.location_id
       AND (s.allow_negative OR d.delta >= 0 OR s.on_hand + d.delta - s.reserved >= 0)
     RETURNING ${BALANCE_COLUMNS}`,
    [entries.map((e) => e.productId), entries.map((e) => e.locationId), entries.map((e) => e.delta)],
  );
  assert.equal(balances.length, entries.length, 'every checked delta was applied');
  return balances;
}

/** `occurredAt` is for loading history (the demo data set); a recorded movement happens now. */
export async function insertMovement(
  tx: Transaction,
  movement: Omit<MovementRow, 'createdAt' | 'createdByName'>,
  entries: LedgerEntry[],
  occurredAt?: Date,
): Promise<MovementRow> {
  const rows = await tx.query<MovementRow>(
    `INSERT INTO movements (id, type, location_id, to_location_id, reference, note, reason, created_by, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, date_trunc('milliseconds', now())))
     RETURNING id, type, location_id AS "locationId", to_location_id AS "toLocationId", reference, note,
               reason, created_by AS "createdById", NULL AS "createdByName", created_at AS "createdAt"`,
    [
      movement.id,
      movement.type,
      movement.locationId,
      movement.toLocationId,
      movement.reference,
      movement.note,
      movement.reason,
      movement.createdById,
      occurredAt ?? null,
    ],
  );
  const row = onlyRow(rows, 'INSERT INTO movements');
  await tx.query(
    `INSERT INTO movement_lines (movement_id, line_no, product_id, location_id, delta, counted_quantity, created_at)
     SELECT $1, e.line_no, e.product_id, e.location_id, e.delta, e.counted_quantity, $2
     FROM unnest($3::int[], $4::uuid[], $5::uuid[], $6::bigint[], $7::bigint[])
       AS e (line_no, product_id, location_id, delta, counted_quantity)`,
    [
      row.id,
      row.createdAt,
      entries.map((e) => e.lineNo),
      entries.map((e) => e.productId),
      entries.map((e) => e.locationId),
      entries.map((e) => e.delta),
      entries.map((e) => e.countedQuantity),
    ],
  );
  return row;
}

const MOVEMENT_COLUMNS = `m.id, m.type, m.location_id AS "locationId", m.to_location_id AS "toLocationId",
  m.reference, m.note, m.reason, m.created_by AS "createdById", u.name AS "createdByName", m.created_at AS "createdAt"`;
const MOVEMENTS = 'movements m LEFT JOIN users u ON u.id = m.created_by';

export async function findMovement(db: Queryable, id: string): Promise<MovementRow | undefined> {
  const rows = await db.query<MovementRow>(`SELECT ${MOVEMENT_COLUMNS} FROM ${MOVEMENTS} WHERE m.id = $1`, [id]);
  return rows[0];
}

export interface MovementFilter {
  productId?: string | undefined;
  locationId?: string | undefined;
  type?: MovementType | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Only movements that touch one of these locations (a clerk's scope). */
  locationIds?: readonly string[] | undefined;
  /** The key of the last row of the previous page: its creation time and id (the page goes on with older ones). */
  after?: [createdAt: Date, id: string] | undefined;
  limit: number;
}

/**
 * Newest first (ties broken by id). With a product (and a location), the page is read off that
 * product's ledger entries newest first through their index, stopping after a page whatever the
 * length of the history; DISTINCT ON keeps a movement with several such entries (a transfer) once.
 */
export async function listMovements(db: Queryable, filter: MovementFilter): Promise<MovementRow[]> {
  const where = new Conditions();
  const byProduct = filter.productId !== undefined;
  // An entry's created_at is its movement's, so the order and the cursor can be the entries'.
  const [at, id] = byProduct ? ['ml.created_at', 'ml.movement_id'] : ['m.created_at', 'm.id'];
  if (filter.type !== undefined) where.add('m.type = $?', filter.type);
  if (filter.from !== undefined) where.add(`${at} >= $?`, filter.from);
  if (filter.to !== undefined) where.add(`${at} < $?`, filter.to);
  if (filter.after !== undefined) where.add(`(${at}, ${id}) < ($?, $?)`, ...filter.after);
  if (filter.locationIds !== undefined) {
    where.add('(m.location_id = ANY($?::uuid[]) OR m.to_location_id = ANY($?::uuid[]))', filter.locationIds, filter.locationIds);
  }
  if (byProduct) {
    where.add('ml.product_id = $?', filter.productId);
    if (filter.locationId !== undefined) where.add('ml.location_id = $?', filter.locationId);
  } else if (filter.locationId !== undefined) {
    where.add('m.id IN (SELECT movement_id FROM movement_lines WHERE location_id = $?)', filter.locationId);
  }
  const from = byProduct
    ? 'movement_lines ml JOIN movements m ON m.id = ml.movement_id LEFT JOIN users u ON u.id = m.created_by'
    : MOVEMENTS;
  return db.query<MovementRow>(
    `SELECT ${byProduct ? `DISTINCT ON (${at}, ${id}) ` : ''}${MOVEMENT_COLUMNS} FROM ${from} ${where.where()}
     ORDER BY ${at} DESC, ${id} DESC LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

/** The ledger entries of several movements in one query (eager, never one query per movement). */
export async function findEntries(db: Queryable, movementIds: string[]): Promise<(LedgerEntry & { movementId: string })[]> {
  if (movementIds.length === 0) return [];
  return db.query(
    `SELECT movement_id AS "movementId", line_no AS "lineNo", product_id AS "productId",
            location_id AS "locationId", delta, counted_quantity AS "countedQuantity"
     FROM movement_lines WHERE movement_id = ANY($1::uuid[])
     ORDER BY movement_id, line_no`,
    [movementIds],
  );
}

export async function movementExists(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM movements WHERE id = $1', [id]);
  return rows.length > 0;
}
