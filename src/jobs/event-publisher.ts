import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../db/database.ts';
import { EVENTS_CHANNEL, publishEvents } from '../db/events.ts';
import type { EventFeed } from '../services/event-feed.ts';
import { poolTaken } from './pool.ts';
import type { Job } from './supervisor.ts';

// The publisher (migration 0007, db/events.ts): numbers committed events for readers, and tells
// them. Every instance runs it; an advisory lock lets one run at a time. It runs when this
// instance has committed events (EventFeed.written), and polls for the rest: events of another
// instance that stopped before publishing them, and events held back by a transaction still
// running (their xid is not yet below the horizon) — retried soon, then less often.
//
// It also listens for NOTIFY from the publishers of every instance and tells the feed, which reads
// what was published; a lost listening connection is reported as a gap, which is told the same way.

/** Events numbered per transaction. */
export const PUBLISH_BATCH = 1000;
/** The poll when nothing is waiting. */
const IDLE_POLL_MS = 1000;
/** The first retry when events are waiting on a running transaction; doubled up to IDLE_POLL_MS. */
const PENDING_RETRY_MS = 10;
/** How long after the job ended by an error it is started again. */
const RESTART_MS = 1000;
/**
 * While requests have every connection (src/jobs/pool.ts), a poll is skipped: nothing is known to
 * be waiting. Events known to be waiting (a commit woke it, or some were left) wait at most this
 * long in a row for a free connection, looked for every BUSY_RETRY_MS; then the publisher takes
 * its turn in the pool's queue, so that a busy instance still delivers events within a second.
 */
const BUSY_YIELD_MAX_MS = 250;
const BUSY_RETRY_MS = 25;

export function eventPublisherJob(db: Database, feed: EventFeed, settings: { dbPoolMax: number }): Job {
  return {
    name: 'event-publisher',
    intervalMs: RESTART_MS,
    firstRunMs: 0,
    async run(signal) {
      const listening = db.listen(EVENTS_CHANNEL, { message: (lastId) => feed.published(lastId), gap: () => feed.published() });
      let retryMs = PENDING_RETRY_MS;
      let yieldedSince: number | undefined;
      try {
        // What an instance that stopped left unpublished waits for the first poll, rather than
        // compete with the first requests for the pool.
        let due = await feed.publisherWake.wait(IDLE_POLL_MS, signal);
        while (!signal.aborted) {
          if (poolTaken(db, settings.dbPoolMax)) {
            if (!due) {
              due = await feed.publisherWake.wait(IDLE_POLL_MS, signal);
              continue;
            }
            if (Date.now() - (yieldedSince ??= Date.now()) < BUSY_YIELD_MAX_MS) {
              await sleep(BUSY_RETRY_MS, undefined, { signal }).catch(() => undefined);
              continue;
            }
          }
          yieldedSince = undefined;
          const { published, lastId, pending } = await db.transaction((tx) => publishEvents(tx, PUBLISH_BATCH), { signal });
          // On PostgreSQL its NOTIFY comes back too (and asks for no second read); on PGlite nothing else would tell the feed.
          if (published > 0) feed.published(lastId);
          if (published === PUBLISH_BATCH) continue;
          due = (await feed.publisherWake.wait(pending ? retryMs : IDLE_POLL_MS, signal)) || pending;
          retryMs = pending ? Math.min(retryMs * 2, IDLE_POLL_MS) : PENDING_RETRY_MS;
        }
      } finally {
        await listening.close();
      }
    },
  };
}
