import { AppError } from './errors.ts';

// The rules of a movement that need no database: what each type allows, and, given the locked
// levels, what each line changes and whether the movement may apply at all.

export const MOVEMENT_TYPES = ['inbound', 'outbound', 'transfer', 'adjustment'] as const;
export type MovementType = (typeof MOVEMENT_TYPES)[number];

export interface MovementLineInput {
  productId: string;
  quantity?: number | undefined;
  countedQuantity?: number | undefined;
  expectedOnHand?: number | undefined;
}

export interface MovementInput {
  type: MovementType;
  locationId: string;
  toLocationId?: string | undefined;
  lines: MovementLineInput[];
  reference?: string | undefined;
  note?: string | undefined;
  reason?: string | undefined;
}

/** A change to one level, before the level is known (a count's delta is computed later). */
export interface PlannedEntry {
  lineNo: number;
  productId: string;
  locationId: string;
  delta?: number;
  countedQuantity?: number;
  expectedOnHand?: number;
}

export interface LevelState {
  productId: string;
  locationId: string;
  onHand: number;
  reserved: number;
  allowNegative: boolean;
}

export interface ResolvedEntry {
  lineNo: number;
  productId: string;
  locationId: string;
  delta: number;
  countedQuantity: number | null;
}

interface FieldError {
  path: string;
  message: string;
}

function invalid(errors: FieldError[]): AppError {
  return new AppError('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
}

/** Checks the rules the schema can't express and turns the lines into ledger entries. */
export function planMovement(input: MovementInput): PlannedEntry[] {
  const errors: FieldError[] = [];
  if (input.type === 'transfer') {
    if (input.toLocationId === undefined) errors.push({ path: '/toLocationId', message: 'a transfer needs toLocationId' });
    else if (input.toLocationId === input.locationId) {
      errors.push({ path: '/toLocationId', message: 'a transfer must go to another location' });
    }
  } else if (input.toLocationId !== undefined) {
    errors.push({ path: '/toLocationId', message: 'only a transfer has toLocationId' });
  }
  if (input.type === 'adjustment' && (input.reason === undefined || input.reason.trim() === '')) {
    errors.push({ path: '/reason', message: 'an adjustment needs a reason' });
  }
  const seen = new Set<string>();
  input.lines.forEach((line, index) => {
    const path = `/lines/${index}`;
    if (seen.has(line.productId)) errors.push({ path: `${path}/productId`, message: 'a product may appear once per movement' });
    seen.add(line.productId);
    if (input.type === 'adjustment') {
      if ((line.quantity === undefined) === (line.countedQuantity === undefined)) {
        errors.push({ path, message: 'an adjustment line gives either quantity or countedQuantity' });
      } else if (line.quantity === 0) {
        errors.push({ path: `${path}/quantity`, message: 'an adjustment quantity is a non-zero delta' });
      } else if (line.countedQuantity !== undefined && line.countedQuantity < 0) {
        errors.push({ path: `${path}/countedQuantity`, message: 'must be 0 or more' });
      }
    } else {
      if (line.countedQuantity !== undefined) {
        errors.push({ path: `${path}/countedQuantity`, message: 'only an adjustment line may give countedQuantity' });
      }
      if (line.quantity === undefined) errors.push({ path: `${path}/quantity`, message: 'quantity is required' });
      else if (line.quantity <= 0) errors.push({ path: `${path}/quantity`, message: 'must be a positive integer' });
    }
  });
  if (errors.length > 0) throw invalid(errors);

  const entries: PlannedEntry[] = [];
  input.lines.forEach((line, lineNo) => {
    const source: PlannedEntry = { lineNo, productId: line.productId, locationId: input.locationId };
    if (line.expectedOnHand !== undefined) source.expectedOnHand = line.expectedOnHand;
    const quantity = line.quantity ?? 0;
    switch (input.type) {
      case 'inbound':
        entries.push({ ...source, delta: quantity });
        break;
      case 'outbound':
        entries.push({ ...source, delta: -quantity });
        break;
      case 'transfer':
        entries.push({ ...source, delta: -quantity });
        entries.push({ lineNo, productId: line.productId, locationId: input.toLocationId!, delta: quantity });
        break;
      case 'adjustment':
        entries.push(
          line.countedQuantity !== undefined ? { ...source, countedQuantity: line.countedQuantity } : { ...source, delta: quantity },
        );
        break;
    }
  });
  return entries;
}

const levelKey = (productId: string, locationId: string) => `${productId}/${locationId}`;

/**
 * Given the levels as locked in this transaction, computes each entry's delta and refuses the
 * movement when an expected on-hand is stale or a level would go short.
 */
export function resolveEntries(planned: PlannedEntry[], levels: LevelState[]): ResolvedEntry[] {
  const levelOf = lockedLevels(levels);

  const stale = planned
    .filter((entry) => entry.expectedOnHand !== undefined && entry.expectedOnHand !== levelOf(entry).onHand)
    .map((entry) => ({
      productId: entry.productId,
      locationId: entry.locationId,
      expected: entry.expectedOnHand!,
      actual: levelOf(entry).onHand,
    }));
  if (stale.length > 0) {
    throw new AppError('stale_quantity', 'the on-hand quantity changed since it was read; read it again and retry', { lines: stale });
  }

  const resolved = planned.map((entry): ResolvedEntry => {
    const level = levelOf(entry);
    const delta = entry.countedQuantity !== undefined ? entry.countedQuantity - level.onHand : entry.delta!;
    return {
      lineNo: entry.lineNo,
      productId: entry.productId,
      locationId: entry.locationId,
      delta,
      countedQuantity: entry.countedQuantity ?? null,
    };
  });

  assertAvailable(resolved, levelOf);
  return resolved;
}

/**
 * Refuses with `insufficient_stock`, naming every short line, when any change would take more
 * than a level has available (on hand less reserved) where its location forbids negative stock.
 * A change takes `-delta`: an outbound's line, or the hold of a reservation's line.
 */
export function assertAvailable(
  changes: { productId: string; locationId: string; delta: number }[],
  levelOf: (key: { productId: string; locationId: string }) => LevelState,
): void {
  const short = changes
    .map((change) => ({ change, level: levelOf(change) }))
    .filter(({ change, level }) => change.delta < 0 && !level.allowNegative && level.onHand + change.delta - level.reserved < 0)
    .map(({ change, level }) => ({
      productId: change.productId,
      locationId: change.locationId,
      requested: -change.delta,
      available: level.onHand - level.reserved,
    }));
  if (short.length > 0) {
    throw new AppError('insufficient_stock', 'not enough stock is available for every line; nothing was written', { lines: short });
  }
}

/** The levels as locked, looked up by key; a level that was not locked is a bug. */
export function lockedLevels(levels: LevelState[]) {
  const byKey = new Map(levels.map((level) => [levelKey(level.productId, level.locationId), level]));
  return (key: { productId: string; locationId: string }) => {
    const level = byKey.get(levelKey(key.productId, key.locationId));
    if (level === undefined) throw new Error(`level ${key.productId}/${key.locationId} was not locked`);
    return level;
  };
}

/** The order levels are locked in: by product id, then location id. */
export function compareLevelKeys(a: { productId: string; locationId: string }, b: { productId: string; locationId: string }) {
  if (a.productId !== b.productId) return a.productId < b.productId ? -1 : 1;
  if (a.locationId !== b.locationId) return a.locationId < b.locationId ? -1 : 1;
  return 0;
}

/** The distinct levels a movement touches, in lock order. */
export function levelKeys(entries: { productId: string; locationId: string }[]) {
  const unique = new Map(entries.map((e) => [levelKey(e.productId, e.locationId), { productId: e.productId, locationId: e.locationId }]));
  return [...unique.values()].sort(compareLevelKeys);
}
