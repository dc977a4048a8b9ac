import type { Database } from '../db/database.ts';
import { expireReservations } from '../services/reservations.ts';
import { inBatches, type JobProgressLog } from './batches.ts';
import type { Job } from './supervisor.ts';

/** Reservations one transaction expires: each batch is short and holds few locks. */
export const EXPIRY_BATCH_RESERVATIONS_MAX = 100;
/** Batches in one run; what is left waits for the next run, a sweep interval later. */
const EXPIRY_BATCHES_PER_RUN_MAX = 100;

export interface ReservationExpirySettings {
  reservationSweepS: number;
  /** Reservations per transaction; EXPIRY_BATCH_RESERVATIONS_MAX unless a test asks for less. */
  batchReservationsMax?: number;
}

/**
 * Expires what is due in batches, each its own transaction, until a batch comes back short;
 * checks the signal between batches. Every instance runs it: the batches lock their
 * reservations with SKIP LOCKED, so instances share the work and never expire one twice, and a
 * batch cut short by a crash rolls back whole, for the next sweep to find again.
 * Returns how many reservations it expired.
 */
export function sweepExpiredReservations(db: Database, settings: ReservationExpirySettings, signal: AbortSignal): Promise<number> {
  const size = settings.batchReservationsMax ?? EXPIRY_BATCH_RESERVATIONS_MAX;
  return inBatches(signal, { size, batchesMax: EXPIRY_BATCHES_PER_RUN_MAX }, (limit) =>
    expireReservations({ db, actor: null, signal }, limit),
  );
}

/** The sweep as a job: every RESERVATION_SWEEP_S seconds, the first a sweep interval after start. */
export function reservationExpiryJob(db: Database, settings: ReservationExpirySettings, log: JobProgressLog): Job {
  return {
    name: 'reservation-expiry',
    intervalMs: settings.reservationSweepS * 1000,
    async run(signal) {
      const expired = await sweepExpiredReservations(db, settings, signal);
      if (expired > 0) log.info({ expired }, 'expired reservations released');
    },
  };
}
