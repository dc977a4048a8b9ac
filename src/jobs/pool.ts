import type { Database } from '../db/database.ts';

// Background work yields the pool to requests: a job about to take a connection first asks
// whether it would have to wait for one, and if so waits its turn outside the pool's queue, where
// it would stand in front of requests. It never yields for longer than its own bound, so that a
// busy instance still does its background work.

/** Whether taking a connection now would wait: every connection is in use, or a request already waits. */
export function poolTaken(db: Database, poolMax: number): boolean {
  const { inUse, waiting } = db.stats();
  // The embedded database is one connection, whatever DB_POOL_MAX says.
  return waiting > 0 || inUse >= (db.kind === 'pglite' ? 1 : poolMax);
}
