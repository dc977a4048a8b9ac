import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Database } from '../../src/db/database.ts';
import { createPostgresSource } from '../../src/db/postgres.ts';
import { testConfig } from '../support/helpers.ts';
import { killServers, startServer } from '../support/server-process.ts';
import { assertOnlyAnswers, checkInvariants, count201, createFixture, newLoad, request, runLoad, waitUntil, writeOneMore } from './load.ts';
import { createPrivateCluster } from './private-postgres.ts';

// PostgreSQL itself stops under write load and starts again (issue 3). It runs on a cluster of
// its own whatever DATABASE_URL says, so it runs in both runs of test:faults.

// Short deadlines, so that the outage costs seconds and a hang shows in seconds: a request waits
// at most DB_POOL_ACQUIRE_TIMEOUT_MS for a connection and REQUEST_TIMEOUT_MS in all.
const DB_POOL_ACQUIRE_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;
const HANG_MS = REQUEST_TIMEOUT_MS + 2000;
/** How long PostgreSQL stays down once stopped: the load meets the outage for that long. */
const OUTAGE_MS = 1500;
const RECOVERY_TIMEOUT_MS = 10_000;

after(killServers);

describe('PostgreSQL restarted under write load', () => {
  it('answers 201, 409 or 503 with Retry-After (never 500, never a hang), /readyz follows the database, the service recovers by itself, and the invariants hold', async () => {
    const cluster = await createPrivateCluster();
    let checkDb: Database | undefined;
    try {
      const server = await startServer({
        env: {
          DATABASE_URL: cluster.url,
          DB_POOL_ACQUIRE_TIMEOUT_MS: String(DB_POOL_ACQUIRE_TIMEOUT_MS),
          REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        },
      });
      await server.started;
      const readiness = () => request(server.base, '/readyz', { hangMs: HANG_MS });
      assert.equal((await readiness()).status, 200, 'ready before the outage');
      const fixture = await createFixture(server.base);

      const load = newLoad();
      let done = false;
      const loading = runLoad(server.base, fixture, load, { perWorker: Infinity, stop: () => done, hangMs: HANG_MS });
      // A request without an answer ends the waits: the assertions after the load say which it was.
      const stalled = () => load.unanswered.size > 0;
      try {
        await waitUntil('50 movements written before the outage', () => count201(load) >= 50 || stalled(), RECOVERY_TIMEOUT_MS);

        // An immediate shutdown kills the backends where they stand, some of them after their
        // COMMIT is durable and before it is answered: the server then asks the restarted
        // database for the movement by its id (and txid_status, for "aborted") and answers 201
        // if it is there, so that no movement answered 503 is written. (Past the request's
        // deadline it answers 503 with outcome "unknown", which the invariants accept as "may
        // have written".)
        const unavailableBefore = load.others['503 unavailable'] ?? 0;
        await cluster.stop('immediate');
        const down = await readiness();
        assert.equal(down.status, 503, `/readyz while PostgreSQL is down: ${JSON.stringify(down.body)}`);
        assert.equal(down.body.code, 'unavailable');
        assert.ok(down.headers.get('retry-after') !== null, '/readyz tells when to retry');
        await sleep(OUTAGE_MS);
        assert.ok((load.others['503 unavailable'] ?? 0) > unavailableBefore, `the load met the outage: ${JSON.stringify(load.others)}`);

        await cluster.start();
        // Stockroom is not restarted: its pool must find the new server by itself.
        await waitUntil('/readyz answers 200 again', async () => (await readiness()).status === 200, RECOVERY_TIMEOUT_MS, 50);
        const atRecovery = count201(load);
        await waitUntil(
          '50 more movements written after the outage',
          () => count201(load) >= atRecovery + 50 || stalled(),
          RECOVERY_TIMEOUT_MS,
        );
      } finally {
        done = true;
        await loading;
      }

      assert.deepEqual([...load.unanswered.entries()], [], 'every request got an answer in time (no hangs, no reset connections)');
      assertOnlyAnswers(
        load,
        ['409 insufficient_stock', '503 unavailable', '503 unavailable (outcome unknown)'],
        `${server.output()}\n${await cluster.log()}`,
      );
      assert.equal(server.hasExited(), false, 'the server ran through the outage');
      await writeOneMore(server.base, fixture, load, 'after-restart');

      checkDb = new Database(createPostgresSource(testConfig({ databaseUrl: cluster.url })));
      await checkDb.connection((db) => checkInvariants(db, load, { unansweredMayHaveWritten: false }));
      const stopped = await server.stop();
      assert.equal(stopped.code, 0, server.output());
      if (process.env.FAULTS_VERBOSE) console.log(JSON.stringify({ created: count201(load), others: load.others }));
    } finally {
      await checkDb?.close().catch(() => undefined);
      killServers();
      await cluster.destroy();
    }
  });
});
