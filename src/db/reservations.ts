import assert from 'node:assert/strict';
import type { ReservationStatus } from '../domain/reservations.ts';
import type { Queryable, Transaction } from './database.ts';
import { BALANCE_COLUMNS, type Balance, type LevelKey } from './movements.ts';
import { Conditions, onlyRow } from './sql.ts';

export interface ReservationRow {
  id: string;
  status: ReservationStatus;
  locationId: string;
  reference: string | null;
  note: string | null;
  expiresAt: Date | null;
  movementId: string | null;
  createdById: string | null;
  /** The author's name (read with the reservation; users are disabled, never deleted). */
  createdByName: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ReservationLine {
  lineNo: number;
  productId: string;
  quantity: number;
}

/** A change to a level's `reserved`: positive holds, negative releases. */
export interface ReservedChange extends LevelKey {
  delta: number;
}

const COLUMNS = `r.id, r.status, r.location_id AS "locationId", r.reference, r.note, r.expires_at AS "expiresAt",
  r.movement_id AS "movementId", r.created_by AS "createdById", u.name AS "createdByName",
  r.created_at AS "createdAt", r.updated_at AS "updatedAt"`;
const RESERVATIONS = 'reservations r LEFT JOIN users u ON u.id = r.created_by';
/** The columns of a row written by this statement (RETURNING can't join the author's name). */
const RETURNED = `id, status, location_id AS "locationId", reference, note, expires_at AS "expiresAt",
  movement_id AS "movementId", created_by AS "createdById", NULL AS "createdByName",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function insertReservation(
  tx: Transaction,
  reservation: Pick<ReservationRow, 'id' | 'locationId' | 'reference' | 'note' | 'expiresAt' | 'createdById'>,
  lines: ReservationLine[],
): Promise<ReservationRow> {
  const rows = await tx.query<ReservationRow>(
    `INSERT INTO reservations (id, location_id, reference, note, expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${RETURNED}`,
    [reservation.id, reservation.locationId, reservation.reference, reservation.note, reservation.expiresAt, reservation.createdById],
  );
  const row = onlyRow(rows, 'INSERT INTO reservations');
  await tx.query(
    `INSERT INTO reservation_lines (reservation_id, line_no, product_id, quantity)
     SELECT $1, l.line_no, l.product_id, l.quantity
     FROM unnest($2::int[], $3::uuid[], $4::bigint[]) AS l (line_no, product_id, quantity)`,
    [row.id, lines.map((line) => line.lineNo), lines.map((line) => line.productId), lines.map((line) => line.quantity)],
  );
  return row;
}

/**
 * Changes each level's `reserved` by its delta in one statement, and answers the balances after.
 * The guard repeats the rules the service has already checked on the locked rows: a hold never
 * takes more than is available where the location forbids negative stock, and a release never
 * gives back more than is held.
 */
export async function changeReserved(tx: Transaction, changes: ReservedChange[]): Promise<Balance[]> {
  const balances = await tx.query<Balance>(
    `UPDATE stock_levels s
     SET reserved = s.reserved + c.delta, updated_at = date_trunc('milliseconds', now())
     FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS c (product_id, location_id, delta)
     WHERE s.product_id = c.product_id AND s.location_id = c.location_id
       AND s.reserved + c.delta >= 0
       AND (s.allow_negative OR c.delta <= 0 OR s.on_hand - s.reserved - c.delta >= 0)
     RETURNING ${BALANCE_COLUMNS}`,
    [changes.map((c) => c.productId), changes.map((c) => c.locationId), changes.map((c) => c.delta)],
  );
  assert.equal(balances.length, changes.length, 'every checked change of reserved was applied');
  return balances;
}

export async function findReservation(db: Queryable, id: string): Promise<ReservationRow | undefined> {
  const rows = await db.query<ReservationRow>(`SELECT ${COLUMNS} FROM ${RESERVATIONS} WHERE r.id = $1`, [id]);
  return rows[0];
}

/**
 * Locks the reservation until the transaction ends, and reads it as it is once the lock is held
 * (a concurrent fulfil, cancel or sweep has committed or rolled back by then). `expired` is
 * whether its time has passed by the database's clock, sweep or no sweep.
 */
export async function lockReservation(tx: Transaction, id: string): Promise<(ReservationRow & { expired: boolean }) | undefined> {
  const rows = await tx.query<ReservationRow & { expired: boolean }>(
    `SELECT ${COLUMNS}, coalesce(r.expires_at <= now(), false) AS expired
     FROM ${RESERVATIONS} WHERE r.id = $1
     FOR UPDATE OF r`,
    [id],
  );
  return rows[0];
}

/** The lines of several reservations in one query, in line order. */
export async function findLines(db: Queryable, reservationIds: string[]): Promise<(ReservationLine & { reservationId: string })[]> {
  if (reservationIds.length === 0) return [];
  return db.query(
    `SELECT reservation_id AS "reservationId", line_no AS "lineNo", product_id AS "productId", quantity
     FROM reservation_lines WHERE reservation_id = ANY($1::uuid[])
     ORDER BY reservation_id, line_no`,
    [reservationIds],
  );
}

/**
 * Ends an active reservation (locked by this transaction) with its new status; a fulfilled one
 * names its movement. Answers the row as written.
 */
export async function closeReservation(
  tx: Transaction,
  id: string,
  status: Exclude<ReservationStatus, 'active'>,
  movementId: string | null = null,
): Promise<ReservationRow> {
  const rows = await tx.query<ReservationRow>(
    `UPDATE reservations SET status = $2, movement_id = $3, updated_at = date_trunc('milliseconds', now())
     WHERE id = $1 AND status = 'active'
     RETURNING ${RETURNED}`,
    [id, status, movementId],
  );
  return onlyRow(rows, 'UPDATE reservations (an active one, locked)');
}

/**
 * Locks up to `limit` active reservations whose time has passed, soonest first, skipping those
 * another transaction holds (a fulfil, a cancel, another instance's sweep): two sweeps never
 * take the same reservation, and a sweep never waits behind a request.
 */
export async function lockExpiredReservations(tx: Transaction, limit: number): Promise<{ id: string; locationId: string }[]> {
  return tx.query(
    `SELECT id, location_id AS "locationId" FROM reservations
     WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= now()
     ORDER BY expires_at
     LIMIT $1
     FOR UPDATE SKIP LOCKED`,
    [limit],
  );
}

/** Marks reservations (active, locked by this transaction) expired; answers those it marked. */
export async function markExpired(tx: Transaction, ids: string[]): Promise<Pick<ReservationRow, 'id' | 'locationId' | 'reference'>[]> {
  return tx.query(
    `UPDATE reservations SET status = 'expired', updated_at = date_trunc('milliseconds', now())
     WHERE id = ANY($1::uuid[]) AND status = 'active'
     RETURNING id, location_id AS "locationId", reference`,
    [ids],
  );
}

export interface ReservationFilter {
  status?: ReservationStatus | undefined;
  locationId?: string | undefined;
  productId?: string | undefined;
  reference?: string | undefined;
  /** Only reservations at one of these locations (a clerk's scope). */
  locationIds?: readonly string[] | undefined;
  /** The key of the last row of the previous page: its creation time and id (the page goes on with older ones). */
  after?: [createdAt: Date, id: string] | undefined;
  limit: number;
}

/** Newest first, ties broken by id; `limit + 1` rows at most. */
export async function listReservations(db: Queryable, filter: ReservationFilter): Promise<ReservationRow[]> {
  const where = new Conditions();
  if (filter.status !== undefined) where.add('r.status = $?', filter.status);
  if (filter.locationId !== undefined) where.add('r.location_id = $?', filter.locationId);
  if (filter.reference !== undefined) where.add('r.reference = $?', filter.reference);
  if (filter.locationIds !== undefined) where.add('r.location_id = ANY($?::uuid[])', filter.locationIds);
  if (filter.productId !== undefined) {
    where.add('r.id IN (SELECT reservation_id FROM reservation_lines WHERE product_id = $?)', filter.productId);
  }
  if (filter.after !== undefined) where.add('(r.created_at, r.id) < ($?, $?)', ...filter.after);
  return db.query<ReservationRow>(
    `SELECT ${COLUMNS} FROM ${RESERVATIONS} ${where.where()}
     ORDER BY r.created_at DESC, r.id DESC LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

export async function reservationExists(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM reservations WHERE id = $1', [id]);
  return rows.length > 0;
}
