import assert from 'node:assert/strict';
import type { Transaction } from '../db/database.ts';
import * as movements from '../db/movements.ts';
import * as reservations from '../db/reservations.ts';
import { assertLocations, canAccessLocation } from '../domain/access.ts';
import { NEWEST_FIRST, readPage, type PageQuery } from '../domain/cursor.ts';
import { groupBy } from '../domain/group.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { assertAvailable, compareLevelKeys, levelKeys, lockedLevels } from '../domain/movements.ts';
import { assertActive, checkReservation, type ReservationInput } from '../domain/reservations.ts';
import { levelChangesOf } from '../domain/events.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { eventsOf } from './events.ts';
import { withIdempotency, type IdempotencyRequest, type IdempotentResult } from './idempotency.ts';
import { checkReferences, recordMovement } from './movements.ts';

// Reservations (API.md, Reservations): a hold raises `reserved` on its levels without changing
// `on_hand`. Every use case that changes a hold locks what it touches in one order — the
// reservation row first, then its levels by (product, location), as movements lock them — and
// changes the levels and the reservation's status in one transaction, so that a level's
// `reserved` always equals the sum of its active reservations' lines.

function presentReservation(row: reservations.ReservationRow, lines: reservations.ReservationLine[]) {
  return {
    id: row.id,
    status: row.status,
    locationId: row.locationId,
    reference: row.reference,
    note: row.note,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    createdBy: row.createdById === null ? null : { id: row.createdById, name: row.createdByName ?? '' },
    movementId: row.movementId,
    lines: [...lines].sort((a, b) => a.lineNo - b.lineNo).map((line) => ({ productId: line.productId, quantity: line.quantity })),
  };
}

export type Reservation = ReturnType<typeof presentReservation>;
/** A reservation as a change answers it: with the levels it left. */
export type ChangedReservation = Reservation & { balances: movements.Balance[] };

/** A reservation's event: what happened to it, where, and the order it is for. */
function reservationEvent(
  type: 'reservation.created' | 'reservation.fulfilled' | 'reservation.cancelled' | 'reservation.expired',
  row: Pick<reservations.ReservationRow, 'id' | 'locationId' | 'reference'>,
) {
  return { type, locationId: row.locationId, data: { reservationId: row.id, locationId: row.locationId, reference: row.reference } };
}

/** The levels of a reservation's lines and what each changes `reserved` by (+ to hold, - to release). */
function reservedChanges(locationId: string, lines: { productId: string; quantity: number }[], sign: 1 | -1) {
  return lines.map((line) => ({ productId: line.productId, locationId, delta: sign * line.quantity }));
}

/**
 * Reserves every line or none: the levels are locked in (product, location) order, as a
 * movement locks them (a missing level is created at zero, as for an outbound), each line's
 * quantity is checked against what is available on the locked row, and `reserved` is raised.
 */
export async function reserve(
  ctx: UseCaseContext,
  input: ReservationInput,
  idempotencyRequest?: IdempotencyRequest,
): Promise<IdempotentResult<ChangedReservation>> {
  checkReservation(input, new Date());
  assertLocations(ctx.actor, [input.locationId]);
  const productIds = input.lines.map((line) => line.productId);
  const lines = input.lines.map((line, lineNo) => ({ lineNo, productId: line.productId, quantity: line.quantity }));
  const changes = reservedChanges(input.locationId, lines, 1);

  // Made here, not in the transaction, so that a lost COMMIT can be confirmed by it.
  const reservationId = uuidv7();
  return inTransaction(
    ctx,
    (tx) =>
      withIdempotency(tx, ctx.actor, idempotencyRequest, async () => {
        // A hold is checked as the outbound that will fulfil it: an archived product may be held, not an archived location.
        await checkReferences(tx, { type: 'outbound', locationId: input.locationId, lines: input.lines }, productIds, [input.locationId]);
        const levels = await movements.lockLevels(tx, levelKeys(changes));
        assertAvailable(
          changes.map((change) => ({ ...change, delta: -change.delta })),
          lockedLevels(levels),
        );
        const balances = await reservations.changeReserved(tx, changes);
        const row = await reservations.insertReservation(
          tx,
          {
            id: reservationId,
            locationId: input.locationId,
            reference: input.reference ?? null,
            note: input.note ?? null,
            expiresAt: input.expiresAt ?? null,
            createdById: ctx.actor?.id ?? null,
          },
          lines,
        );
        eventsOf(ctx, tx)
          .add(reservationEvent('reservation.created', row))
          .changed(...levelChangesOf('reserved', changes, balances, { reservationId }));
        balances.sort(compareLevelKeys);
        return { ...presentReservation({ ...row, createdByName: ctx.actor?.name ?? null }, lines), balances };
      }),
    { confirm: (db) => reservations.reservationExists(db, reservationId) },
  );
}

/**
 * Locks the reservation and refuses what may not touch it: 404 when there is none, 403 at a
 * location the actor is not assigned to, 409 unless it is active and not yet past its time.
 * Then locks its levels, in the movements' order, and releases its hold.
 */
async function lockAndRelease(ctx: UseCaseContext, tx: Transaction, id: string, action: 'fulfilled' | 'cancelled') {
  const row = await reservations.lockReservation(tx, id);
  if (row === undefined) throw notFound('reservation', id);
  if (!canAccessLocation(ctx.actor, row.locationId)) {
    throw new AppError('forbidden', `reservation ${id} is at a location you are not assigned to`);
  }
  assertActive(row, action);
  const lines = await reservations.findLines(tx, [id]);
  const changes = reservedChanges(row.locationId, lines, -1);
  await movements.lockLevels(tx, levelKeys(changes));
  const balances = await reservations.changeReserved(tx, changes);
  eventsOf(ctx, tx).changed(...levelChangesOf('reserved', changes, balances, { reservationId: id }));
  return { row, lines, balances };
}

/**
 * Fulfils an active reservation in one transaction: releases its hold and records the outbound
 * movement of its lines (reference = the reservation's) through the movement use case, joined to
 * this transaction. The quantity is always there: `available` could not go below zero while it
 * was held, and releasing the hold gives it back to the outbound.
 */
export async function fulfilReservation(
  ctx: UseCaseContext,
  id: string,
  idempotencyRequest?: IdempotencyRequest,
): Promise<IdempotentResult<ChangedReservation>> {
  let movementId: string | undefined;
  return inTransaction(
    ctx,
    (tx) =>
      withIdempotency(tx, ctx.actor, idempotencyRequest, async () => {
        const { row, lines } = await lockAndRelease(ctx, tx, id, 'fulfilled');
        const movement = await recordMovement(
          { ...ctx, tx },
          {
            type: 'outbound',
            locationId: row.locationId,
            lines: lines.map((line) => ({ productId: line.productId, quantity: line.quantity })),
            reference: row.reference ?? undefined,
            note: row.note ?? undefined,
          },
        );
        movementId = movement.value.id;
        const fulfilled = await reservations.closeReservation(tx, id, 'fulfilled', movement.value.id);
        eventsOf(ctx, tx).add(reservationEvent('reservation.fulfilled', fulfilled));
        return { ...presentReservation({ ...fulfilled, createdByName: row.createdByName }, lines), balances: movement.value.balances };
      }),
    // The movement is written in the same transaction: if it is there, everything is.
    { confirm: (db) => (movementId === undefined ? Promise.resolve(false) : movements.movementExists(db, movementId)) },
  );
}

/** Cancels an active reservation: its hold is released and its status is cancelled, in one transaction. */
export async function cancelReservation(ctx: UseCaseContext, id: string): Promise<ChangedReservation> {
  return inTransaction(ctx, async (tx) => {
    const { row, lines, balances } = await lockAndRelease(ctx, tx, id, 'cancelled');
    const cancelled = await reservations.closeReservation(tx, id, 'cancelled');
    eventsOf(ctx, tx).add(reservationEvent('reservation.cancelled', cancelled));
    balances.sort(compareLevelKeys);
    return { ...presentReservation({ ...cancelled, createdByName: row.createdByName }, lines), balances };
  });
}

/**
 * Expires up to `limit` active reservations past their time, in one transaction: each is locked
 * (skipping those another transaction holds), its hold released and its status set to expired.
 * Two sweeps never take the same reservation; a sweep that dies mid-way rolls back whole, and
 * the next one finds the same reservations. Answers how many it expired.
 */
export async function expireReservations(ctx: UseCaseContext, limit: number): Promise<number> {
  return inTransaction(ctx, async (tx) => {
    const due = await reservations.lockExpiredReservations(tx, limit);
    if (due.length === 0) return 0;
    const locationOf = new Map(due.map((reservation) => [reservation.id, reservation.locationId]));
    const lines = await reservations.findLines(
      tx,
      due.map((reservation) => reservation.id),
    );
    // One change per level, whatever the number of reservations holding it.
    const byLevel = new Map<string, { productId: string; locationId: string; delta: number }>();
    for (const line of lines) {
      const locationId = locationOf.get(line.reservationId)!;
      const key = `${line.productId}/${locationId}`;
      const change = byLevel.get(key) ?? { productId: line.productId, locationId, delta: 0 };
      change.delta -= line.quantity;
      byLevel.set(key, change);
    }
    const changes = [...byLevel.values()];
    await movements.lockLevels(tx, levelKeys(changes));
    const balances = await reservations.changeReserved(tx, changes);
    const expired = await reservations.markExpired(
      tx,
      due.map((reservation) => reservation.id),
    );
    assert.equal(expired.length, due.length, 'every locked reservation was active and is expired');
    const batch = eventsOf(ctx, tx);
    for (const reservation of expired) batch.add(reservationEvent('reservation.expired', reservation));
    // A level several reservations held changes once: its stock.changed names none of them.
    batch.changed(...levelChangesOf('reserved', changes, balances, {}));
    return expired.length;
  });
}

export async function getReservation(ctx: UseCaseContext, id: string): Promise<Reservation> {
  const result = await reading(ctx, async (db) => {
    const row = await reservations.findReservation(db, id);
    return row === undefined ? undefined : { row, lines: await reservations.findLines(db, [id]) };
  });
  if (result === undefined) throw notFound('reservation', id);
  if (!canAccessLocation(ctx.actor, result.row.locationId)) {
    throw new AppError('forbidden', `reservation ${id} is at a location you are not assigned to`);
  }
  return presentReservation(result.row, result.lines);
}

type ReservationWithLines = reservations.ReservationRow & { lines: reservations.ReservationLine[] };

export function listReservations(ctx: UseCaseContext, query: PageQuery & Omit<reservations.ReservationFilter, 'after' | 'locationIds'>) {
  return readPage(
    query,
    NEWEST_FIRST,
    (after) => {
      // After the cursor's check, as ever: a bad cursor is a 422 before a location is a 403.
      if (query.locationId !== undefined) assertLocations(ctx.actor, [query.locationId]);
      const locationIds = ctx.actor?.locationIds ?? undefined;
      return reading(ctx, async (db): Promise<ReservationWithLines[]> => {
        const rows = await reservations.listReservations(db, {
          status: query.status,
          locationId: query.locationId,
          productId: query.productId,
          reference: query.reference,
          locationIds,
          after: after && [new Date(after[0]), after[1]],
          limit: query.limit,
        });
        // One query for the lines of the whole page (not of the row past it, which is not answered).
        const lines = await reservations.findLines(
          db,
          rows.slice(0, query.limit).map((row) => row.id),
        );
        const byReservation = groupBy(lines, (line) => line.reservationId);
        return rows.map((row) => ({ ...row, lines: byReservation.get(row.id) ?? [] }));
      });
    },
    (row) => presentReservation(row, row.lines),
  );
}
