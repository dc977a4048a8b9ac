import type { Transaction } from '../db/database.ts';
import * as movements from '../db/movements.ts';
import { NEWEST_FIRST, readPage, type PageQuery } from '../domain/cursor.ts';
import { groupBy } from '../domain/group.ts';
import { assertLocations, canAccessLocation } from '../domain/access.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { compareLevelKeys, levelKeys, planMovement, resolveEntries, type MovementInput } from '../domain/movements.ts';
import { levelChangesOf, movementRecorded } from '../domain/events.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { eventsOf } from './events.ts';
import { withIdempotency, type IdempotencyRequest, type IdempotentResult } from './idempotency.ts';

function presentMovement(row: movements.MovementRow, entries: movements.LedgerEntry[]) {
  // A request line is the entry at the movement's own location; a transfer's other entry is
  // the same quantity arriving at toLocationId.
  const sign = row.type === 'outbound' || row.type === 'transfer' ? -1 : 1;
  const lines = entries
    .filter((entry) => entry.locationId === row.locationId)
    .sort((a, b) => a.lineNo - b.lineNo)
    .map((entry) => ({
      productId: entry.productId,
      quantity: sign * entry.delta,
      ...(entry.countedQuantity === null ? {} : { countedQuantity: entry.countedQuantity }),
    }));
  return {
    id: row.id,
    type: row.type,
    locationId: row.locationId,
    toLocationId: row.toLocationId,
    reference: row.reference,
    note: row.note,
    reason: row.reason,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdById === null ? null : { id: row.createdById, name: row.createdByName ?? '' },
    lines,
  };
}

/** A recorded movement, as answered: the movement and the balances it left. */
export type RecordedMovement = ReturnType<typeof presentMovement> & { balances: movements.Balance[] };

/**
 * Records a movement: every line, its level changes, the ledger rows and the idempotency record
 * in one transaction. Levels are locked in a fixed order, checked, then changed by a guarded
 * UPDATE; a movement that would oversell or whose expected on-hand is stale writes nothing.
 */
export async function recordMovement(
  ctx: UseCaseContext,
  input: MovementInput,
  idempotencyRequest?: IdempotencyRequest,
  history?: { occurredAt: Date },
): Promise<IdempotentResult<RecordedMovement>> {
  const planned = planMovement(input);
  const keys = levelKeys(planned);
  const productIds = [...new Set(input.lines.map((line) => line.productId))];
  const locationIds = input.toLocationId === undefined ? [input.locationId] : [input.locationId, input.toLocationId];
  // A clerk moves stock only between its own locations: both ends of a transfer.
  assertLocations(ctx.actor, locationIds);

  // Made here, not in the transaction, so that a lost COMMIT can be confirmed by it.
  const movementId = uuidv7(history?.occurredAt.getTime());
  return inTransaction(
    ctx,
    (tx) =>
      withIdempotency(tx, ctx.actor, idempotencyRequest, async () => {
        await checkReferences(tx, input, productIds, locationIds);
        const levels = await movements.lockLevels(tx, keys);
        const entries = resolveEntries(planned, levels);
        const balances = await movements.applyDeltas(tx, entries);
        const row = await movements.insertMovement(
          tx,
          {
            id: movementId,
            type: input.type,
            locationId: input.locationId,
            toLocationId: input.toLocationId ?? null,
            reference: input.reference ?? null,
            note: input.note ?? null,
            reason: input.reason ?? null,
            createdById: ctx.actor?.id ?? null,
          },
          entries,
          history?.occurredAt,
        );
        eventsOf(ctx, tx)
          .add(movementRecorded(row))
          .changed(...levelChangesOf('onHand', entries, balances, { movementId }));
        balances.sort(compareLevelKeys);
        return { ...presentMovement({ ...row, createdByName: ctx.actor?.name ?? null }, entries), balances };
      }),
    { confirm: (db) => movements.movementExists(db, movementId) },
  );
}

/**
 * Every product and location must exist; none may receive stock once archived (a reservation's
 * hold is checked as the outbound that fulfils it).
 */
export async function checkReferences(tx: Transaction, input: MovementInput, productIds: string[], locationIds: string[]) {
  const found = await movements.findReferences(tx, productIds, locationIds);
  const archived = new Map(found.map((row) => [`${row.kind}:${row.id}`, row.archived]));
  for (const id of locationIds) {
    if (!archived.has(`location:${id}`)) throw notFound('location', id);
    if (archived.get(`location:${id}`)) throw new AppError('conflict', `location ${id} is archived`);
  }
  for (const line of input.lines) {
    if (!archived.has(`product:${line.productId}`)) throw notFound('product', line.productId);
    if (archived.get(`product:${line.productId}`) && mayAddStock(input.type, line)) {
      throw new AppError('conflict', `product ${line.productId} is archived: it can only be taken out of stock`);
    }
  }
}

function mayAddStock(type: MovementInput['type'], line: MovementInput['lines'][number]): boolean {
  if (type === 'outbound') return false;
  if (type === 'adjustment') return line.countedQuantity !== undefined || (line.quantity ?? 0) > 0;
  return true; // inbound, and a transfer's destination
}

/** A clerk sees the movements that touch one of its locations (either end of a transfer). */
function touchesScope(ctx: UseCaseContext, row: movements.MovementRow): boolean {
  return canAccessLocation(ctx.actor, row.locationId) || (row.toLocationId !== null && canAccessLocation(ctx.actor, row.toLocationId));
}

export async function getMovement(ctx: UseCaseContext, id: string) {
  const result = await reading(ctx, async (db) => {
    const row = await movements.findMovement(db, id);
    return row === undefined ? undefined : { row, entries: await movements.findEntries(db, [id]) };
  });
  if (result === undefined) throw notFound('movement', id);
  if (!touchesScope(ctx, result.row)) throw new AppError('forbidden', `movement ${id} is at a location you are not assigned to`);
  return presentMovement(result.row, result.entries);
}

type MovementWithEntries = movements.MovementRow & { entries: movements.LedgerEntry[] };

export function listMovements(ctx: UseCaseContext, query: PageQuery & Omit<movements.MovementFilter, 'after'>) {
  return readPage(
    query,
    NEWEST_FIRST,
    (after) => {
      // After the cursor's check, as ever: a bad cursor is a 422 before a location is a 403.
      if (query.locationId !== undefined) assertLocations(ctx.actor, [query.locationId]);
      const locationIds = ctx.actor?.locationIds ?? undefined;
      return reading(ctx, async (db): Promise<MovementWithEntries[]> => {
        const rows = await movements.listMovements(db, {
          productId: query.productId,
          locationId: query.locationId,
          type: query.type,
          from: query.from,
          to: query.to,
          locationIds,
          after: after && [new Date(after[0]), after[1]],
          limit: query.limit,
        });
        // One query for the entries of the whole page (not of the row past it, which is not answered).
        const entries = await movements.findEntries(
          db,
          rows.slice(0, query.limit).map((row) => row.id),
        );
        const byMovement = groupBy(entries, (entry) => entry.movementId);
        return rows.map((row) => ({ ...row, entries: byMovement.get(row.id) ?? [] }));
      });
    },
    (row) => presentMovement(row, row.entries),
  );
}
