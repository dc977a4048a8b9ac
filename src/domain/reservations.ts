import { AppError, validationFailed, type FieldError } from './errors.ts';

// The rules of a reservation that need no database: what a request may ask, and which states a
// reservation may leave. Availability is the movements' rule (assertAvailable in movements.ts):
// a hold takes from `available` exactly as an outbound does.

export const RESERVATION_STATUSES = ['active', 'fulfilled', 'cancelled', 'expired'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

export interface ReservationLineInput {
  productId: string;
  quantity: number;
}

export interface ReservationInput {
  locationId: string;
  lines: ReservationLineInput[];
  reference?: string | undefined;
  note?: string | undefined;
  expiresAt?: Date | undefined;
}

/** Checks the rules the schema can't express: a product once, an expiry still to come. */
export function checkReservation(input: ReservationInput, now: Date): void {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  input.lines.forEach((line, index) => {
    if (seen.has(line.productId)) errors.push({ path: `/lines/${index}/productId`, message: 'a product may appear once per reservation' });
    seen.add(line.productId);
    if (!Number.isSafeInteger(line.quantity) || line.quantity <= 0) {
      errors.push({ path: `/lines/${index}/quantity`, message: 'must be a positive integer' });
    }
  });
  if (input.expiresAt !== undefined && input.expiresAt.getTime() <= now.getTime()) {
    errors.push({ path: '/expiresAt', message: 'must be in the future' });
  }
  if (errors.length > 0) throw validationFailed(errors);
}

/** What a fulfil or a cancel is refused with when the reservation no longer holds stock. */
export function assertActive(
  reservation: { id: string; status: ReservationStatus; expiresAt: Date | null; expired: boolean },
  action: 'fulfilled' | 'cancelled',
): void {
  if (reservation.status !== 'active') {
    throw new AppError('conflict', `reservation ${reservation.id} is ${reservation.status}: only an active reservation can be ${action}`);
  }
  // Past its time the reservation is expired, whether or not the sweep has released it yet.
  if (reservation.expired) {
    const at = reservation.expiresAt === null ? '' : ` (at ${reservation.expiresAt.toISOString()})`;
    throw new AppError('conflict', `reservation ${reservation.id} is expired${at}: only an active reservation can be ${action}`);
  }
}
