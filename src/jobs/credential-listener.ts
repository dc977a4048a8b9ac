import type { Database } from '../db/database.ts';
import type { CredentialCache } from '../services/credential-cache.ts';
import type { Job } from './supervisor.ts';

/** How long after the listener ended by an error it is started again (it reconnects by itself otherwise). */
const LISTENER_RESTART_MS = 1000;

/** Resolves when the signal aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * The credential cache's LISTEN connection as a long-lived job: one run lasts from start to stop.
 * Until it runs, and after it stops, the cache is not live: it remembers nothing, and every
 * request looks its credential up (correct, one round trip dearer).
 */
export function credentialListenerJob(db: Database, cache: CredentialCache): Job {
  return {
    name: 'credential-listener',
    intervalMs: LISTENER_RESTART_MS,
    firstRunMs: 0,
    async run(signal) {
      const stop = cache.listen(db);
      try {
        await aborted(signal);
      } finally {
        await stop();
      }
    },
  };
}
