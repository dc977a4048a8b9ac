import type { Actor } from './access.ts';

// Events (API.md, Events): what a change tells the world. A change writes its events in its own
// transaction (services/events.ts); the publisher numbers them (db/events.ts); streams and
// webhooks read them by that number.

export const EVENT_TYPES = [
  'movement.recorded',
  'stock.changed',
  'stock.low',
  'reservation.created',
  'reservation.fulfilled',
  'reservation.cancelled',
  'reservation.expired',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(type: string): type is EventType {
  return (EVENT_TYPES as readonly string[]).includes(type);
}

/** An event as a change writes it, before it has an id. */
export interface NewEvent {
  type: EventType;
  /** Where it happened, for the location filter and the clerk's scope (every event of a change has one). */
  locationId: string | null;
  /** A transfer's other end: its movement.recorded is seen at both. */
  toLocationId?: string | null;
  data: Record<string, unknown>;
}

/** A published event, as streams and webhooks send it. */
export interface PublishedEvent {
  /** The public id: 1, 2, 3, … in publication order, with no gap. A bigint as a decimal string. */
  id: string;
  type: EventType;
  locationId: string | null;
  toLocationId: string | null;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** What a stream is sent: the types it asked for (all when null) at the locations it may see (all when null). */
export interface EventFilter {
  types: readonly EventType[] | null;
  locationIds: readonly string[] | null;
}

export function matches(filter: EventFilter, event: Pick<PublishedEvent, 'type' | 'locationId' | 'toLocationId'>): boolean {
  if (filter.types !== null && !filter.types.includes(event.type)) return false;
  if (filter.locationIds === null) return true;
  return (
    (event.locationId !== null && filter.locationIds.includes(event.locationId)) ||
    (event.toLocationId !== null && filter.locationIds.includes(event.toLocationId))
  );
}

/**
 * The locations a stream sees: the one it asked for, else the actor's own (a clerk's), else all.
 * Asking for a location the actor is not assigned to is refused by the caller beforehand.
 */
export function streamLocations(actor: Actor | null, locationId: string | undefined): readonly string[] | null {
  if (locationId !== undefined) return [locationId];
  return actor?.locationIds ?? null;
}

/**
 * A level a change touched: how much its on-hand and reserved moved, and the balance it was left
 * with. Several steps of one transaction may touch a level (a fulfil releases its hold, then
 * ships): they are merged into one stock.changed, with the availability before the first step.
 */
export interface LevelChange {
  productId: string;
  locationId: string;
  onHandDelta: number;
  reservedDelta: number;
  after: { onHand: number; reserved: number; available: number };
  movementId?: string | null;
  reservationId?: string | null;
}

/**
 * One stock.changed per level, with what stock.low needs: availability before and after the
 * transaction (stock.low fires on the crossing of the reorder point, written by db/events.ts).
 */
export interface MergedLevelChange {
  productId: string;
  locationId: string;
  onHand: number;
  reserved: number;
  available: number;
  availableBefore: number;
  movementId: string | null;
  reservationId: string | null;
}

export function mergeLevelChanges(changes: readonly LevelChange[]): MergedLevelChange[] {
  const byLevel = new Map<string, MergedLevelChange>();
  for (const change of changes) {
    const key = `${change.productId}/${change.locationId}`;
    const before = change.after.available - change.onHandDelta + change.reservedDelta;
    const merged = byLevel.get(key);
    byLevel.set(key, {
      productId: change.productId,
      locationId: change.locationId,
      onHand: change.after.onHand,
      reserved: change.after.reserved,
      available: change.after.available,
      availableBefore: merged?.availableBefore ?? before,
      movementId: change.movementId ?? merged?.movementId ?? null,
      reservationId: change.reservationId ?? merged?.reservationId ?? null,
    });
  }
  return [...byLevel.values()];
}

/** The SSE text of one event: `id:`, `event:` and one `data:` line (JSON has no raw newline). */
export function eventMessage(event: Pick<PublishedEvent, 'id' | 'type' | 'data'>): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/**
 * The level changes of one step: `deltas` moved each level's on-hand or reserved (`what`), and
 * left it at its balance (one per level, from the statement that changed it).
 */
export function levelChangesOf(
  what: 'onHand' | 'reserved',
  deltas: readonly { productId: string; locationId: string; delta: number }[],
  balances: readonly { productId: string; locationId: string; onHand: number; reserved: number; available: number }[],
  ids: { movementId?: string; reservationId?: string },
): LevelChange[] {
  const byLevel = new Map<string, number>();
  for (const { productId, locationId, delta } of deltas) {
    const key = `${productId}/${locationId}`;
    byLevel.set(key, (byLevel.get(key) ?? 0) + delta);
  }
  return balances.map((balance) => {
    const delta = byLevel.get(`${balance.productId}/${balance.locationId}`) ?? 0;
    return {
      productId: balance.productId,
      locationId: balance.locationId,
      onHandDelta: what === 'onHand' ? delta : 0,
      reservedDelta: what === 'reserved' ? delta : 0,
      after: { onHand: balance.onHand, reserved: balance.reserved, available: balance.available },
      movementId: ids.movementId ?? null,
      reservationId: ids.reservationId ?? null,
    };
  });
}

/** A movement's own event: what it was, where, and when. */
export function movementRecorded(movement: {
  id: string;
  type: string;
  locationId: string;
  toLocationId: string | null;
  reference: string | null;
  createdAt: Date;
}): NewEvent {
  return {
    type: 'movement.recorded',
    locationId: movement.locationId,
    toLocationId: movement.toLocationId,
    data: {
      movementId: movement.id,
      type: movement.type,
      locationId: movement.locationId,
      toLocationId: movement.toLocationId,
      reference: movement.reference,
      createdAt: movement.createdAt.toISOString(),
    },
  };
}
