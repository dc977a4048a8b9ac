import type { Database } from '../db/database.ts';
import { deleteEventsUpTo, retentionBoundary } from '../db/events.ts';
import { inBatches, type JobProgressLog } from './batches.ts';
import type { Job } from './supervisor.ts';

// Events are kept EVENTS_RETENTION_HOURS (API.md, Events): a stream can resume from any id
// retained, and one older is told to reset. Every instance runs the job; deleting the same rows
// twice deletes nothing the second time.

const RETENTION_INTERVAL_MS = 5 * 60_000;
const RETENTION_JITTER_MS = 60_000;
/** Events one transaction deletes (with their deliveries and attempts). */
export const RETENTION_BATCH_EVENTS_MAX = 1000;
const RETENTION_BATCHES_PER_RUN_MAX = 1000;

export interface EventRetentionSettings {
  eventsRetentionHours: number;
  /** Events per transaction; RETENTION_BATCH_EVENTS_MAX unless a test asks for less. */
  batchEventsMax?: number;
}

/** Deletes the events past retention, oldest first, in batches; answers how many. */
export async function trimEvents(db: Database, settings: EventRetentionSettings, signal: AbortSignal): Promise<number> {
  const boundary = await db.connection((q) => retentionBoundary(q, settings.eventsRetentionHours), { signal });
  if (boundary === null) return 0;
  const size = settings.batchEventsMax ?? RETENTION_BATCH_EVENTS_MAX;
  return inBatches(signal, { size, batchesMax: RETENTION_BATCHES_PER_RUN_MAX }, (limit) =>
    db.transaction((tx) => deleteEventsUpTo(tx, boundary, limit), { signal }),
  );
}

export function eventRetentionJob(db: Database, settings: EventRetentionSettings, log: JobProgressLog): Job {
  return {
    name: 'event-retention',
    intervalMs: RETENTION_INTERVAL_MS,
    jitterMs: RETENTION_JITTER_MS,
    async run(signal) {
      const deleted = await trimEvents(db, settings, signal);
      if (deleted > 0) log.info({ deleted }, 'events past retention deleted');
    },
  };
}
