import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Database } from '../../src/db/database.ts';
import { createPgliteSource } from '../../src/db/pglite.ts';
import { createHarness, createTestDatabase, listen, usingPostgres } from '../support/helpers.ts';
import { killServers, startServer } from '../support/server-process.ts';
import { assertOnlyAnswers, checkInvariants, count201, createFixture, newLoad, runLoad, WORKERS, writeOneMore } from './load.ts';

// Fault tests (issue 3): a fault in the middle of real HTTP write load, then the invariants of
// the ledger checked in the database (see load.ts).

after(killServers);

describe('faults under write load', () => {
  it(
    usingPostgres
      ? 'kill -9 of the server under write load, restart on the same PostgreSQL schema: the invariants hold'
      : 'kill -9 of the server under write load, restart on the same PGlite data directory (its lock taken over): the invariants hold',
    async () => {
      const database = await createTestDatabase();
      // The embedded database allows one process in its data directory: this one lets go of it.
      if (!usingPostgres) await database.db.close();
      let checkDb: Database | undefined;
      try {
        const server = await startServer(database);
        await server.started;
        const fixture = await createFixture(server.base);

        const load = newLoad();
        const loading = runLoad(server.base, fixture, load, { perWorker: 3000 });
        const enough = Date.now() + 20_000;
        while (count201(load) < 150 && Date.now() < enough && load.unanswered.size === 0) await sleep(10);
        assert.deepEqual([...load.unanswered.values()], [], 'every request before the kill is answered');
        assert.ok(count201(load) >= 150, `the load is running (${count201(load)} answered 201)`);

        const killed = await server.kill9();
        assert.equal(killed.signal, 'SIGKILL');
        await loading;

        // Before the kill: 201, 409 insufficient_stock or 503 unavailable, never a 500.
        assertOnlyAnswers(load, ['409 insufficient_stock', '503 unavailable'], server.output());
        // After it: the requests in flight fail at the connection, not with an answer.
        for (const failure of load.unanswered.values()) {
          assert.match(failure, /ECONNREFUSED|ECONNRESET|other side closed|SocketError|fetch failed/, failure);
        }
        assert.ok(load.unanswered.size > 0, 'the kill found requests in flight');
        if (process.env.FAULTS_VERBOSE)
          console.log(JSON.stringify({ created: count201(load), unanswered: load.unanswered.size, others: load.others }));

        // Restart on the same database: a PGlite lock left by the killed process is taken over.
        const restarted = await startServer(database);
        await restarted.started;
        await writeOneMore(restarted.base, fixture, load, 'after-restart');

        if (usingPostgres) {
          await database.db.connection((db) => checkInvariants(db, load, { unansweredMayHaveWritten: true }));
          const stopped = await restarted.stop();
          assert.equal(stopped.code, 0, restarted.output());
        } else {
          const stopped = await restarted.stop();
          assert.equal(stopped.code, 0, restarted.output());
          checkDb = new Database(await createPgliteSource({ dataDir: database.config.dataDir, acquireTimeoutMs: 10_000 }));
          await checkDb.connection((db) => checkInvariants(db, load, { unansweredMayHaveWritten: true }));
        }
      } finally {
        await checkDb?.close().catch(() => undefined);
        killServers();
        await database.destroy();
      }
    },
  );

  it(
    usingPostgres
      ? 'pg_terminate_backend of every pool connection, several times under write load: only 201, 409 or 503, the pool recovers, the invariants hold'
      : 'on PGlite (no backends to terminate): the same write load with no fault answers only 201 or 409, and the invariants hold',
    async () => {
      const h = await createHarness();
      let admin: pg.Client | undefined;
      try {
        const base = await listen(h.app);
        const fixture = await createFixture(base);
        const load = newLoad();
        const perWorker = 60;

        let terminated = 0;
        let rounds = 0;
        if (usingPostgres) {
          // createTestDatabase names the in-process pool's connections after the schema.
          const options = new URL(h.config.databaseUrl!).searchParams.get('options') ?? '';
          const schema = /search_path=(\S+)/.exec(options)?.[1];
          assert.ok(schema !== undefined, `a schema in ${options}`);
          admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
          await admin.connect();
          const client = admin;
          let done = false;
          const loading = runLoad(base, fixture, load, { perWorker }).finally(() => {
            done = true;
          });
          while (count201(load) < 50 && !done) await sleep(5);
          for (; rounds < 5 && !done; rounds += 1) {
            const { rows } = await client.query<{ terminated: boolean }>(
              `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
               WHERE application_name = $1 AND pid <> pg_backend_pid()`,
              [schema],
            );
            terminated += rows.filter((row) => row.terminated).length;
            await sleep(150);
          }
          await loading;
          assert.ok(rounds >= 3, `the faults came during the load (${rounds} rounds)`);
          assert.ok(terminated > 0, 'connections were terminated');
        } else {
          await runLoad(base, fixture, load, { perWorker });
        }

        assert.deepEqual([...load.unanswered.entries()], [], 'every request got an answer in time (no hangs, no reset connections)');
        assert.equal(load.answered.size, WORKERS * perWorker);
        assertOnlyAnswers(load, usingPostgres ? ['409 insufficient_stock', '503 unavailable'] : ['409 insufficient_stock']);
        assert.ok(count201(load) > 0, `some movements were written: ${JSON.stringify(load.others)}`);

        // The pool recovered by itself: the next request is written.
        await sleep(100);
        await writeOneMore(base, fixture, load, 'after-faults');

        await h.db.connection((db) => checkInvariants(db, load, { unansweredMayHaveWritten: false }));
        if (process.env.FAULTS_VERBOSE) console.log(JSON.stringify({ terminated, rounds, created: count201(load), others: load.others }));
      } finally {
        await admin?.end().catch(() => undefined);
        await h.close();
      }
    },
  );
});
