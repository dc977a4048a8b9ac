import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Database, type Queryable } from '../../src/db/database.ts';
import { createPgliteSource } from '../../src/db/pglite.ts';
import { levelsDisagreeingWithLedger } from '../../src/db/stock.ts';
import { createHarness, createTestDatabase, listen, usingPostgres } from '../helpers.ts';
import { killServers, startServer } from '../server-process.ts';

// Fault tests (issue 3): real HTTP write load against 127.0.0.1, a fault in the middle of it, and
// then the invariants of the ledger checked in the database itself:
//   - every level equals the sum of its ledger;
//   - no level is negative where its location forbids it;
//   - every movement answered 201 is in the database, and no movement answered 4xx/5xx is
//     (a movement whose request got no answer at all — the server was killed — may be either).

const REQUEST_HANG_MS = 15_000; // longer than the server's REQUEST_TIMEOUT_MS (10 s): past it, a hang
const WORKERS = 16;

after(killServers);

// ---------------------------------------------------------------------------------------------
// HTTP and the write load.

interface Answer {
  status: number;
  body: any;
}

async function post(base: string, path: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_HANG_MS),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function create(base: string, path: string, body: unknown): Promise<any> {
  const answer = await post(base, path, body);
  assert.equal(answer.status, 201, `POST ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

interface Fixture {
  locationIds: string[];
  productIds: string[];
}

let uniqueCounter = 0;
const unique = (prefix: string) => `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${(uniqueCounter += 1)}`.slice(0, 32);

async function createFixture(base: string): Promise<Fixture> {
  const locationIds: string[] = [];
  // Three locations that forbid negative stock, one that allows it.
  for (const allowNegative of [false, false, false, true]) {
    locationIds.push((await create(base, '/api/v1/locations', { code: unique('F'), name: 'Fault test', allowNegative })).id);
  }
  const productIds: string[] = [];
  for (let i = 0; i < 4; i += 1) {
    productIds.push((await create(base, '/api/v1/products', { sku: unique('F'), name: 'Fault test' })).id);
  }
  return { locationIds, productIds };
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (low: number, high: number) => low + Math.floor(Math.random() * (high - low + 1));

/** A random inbound, outbound or transfer over one or two products, tagged with `reference`. */
function randomMovement(fixture: Fixture, reference: string) {
  const products = [...fixture.productIds].sort(() => Math.random() - 0.5).slice(0, between(1, 2));
  const kind = pick(['inbound', 'outbound', 'transfer'] as const);
  const locationId = pick(fixture.locationIds);
  const lines = products.map((productId) => ({ productId, quantity: kind === 'inbound' ? between(1, 6) : between(1, 3) }));
  if (kind === 'transfer') {
    const toLocationId = pick(fixture.locationIds.filter((id) => id !== locationId));
    return { type: kind, locationId, toLocationId, reference, lines };
  }
  return { type: kind, locationId, reference, lines };
}

interface Load {
  /** Every request that got an HTTP answer, by its reference. */
  answered: Map<string, { status: number; code: string | undefined; id: string | undefined }>;
  /** References of requests that got no answer (connection refused or reset, or a hang). */
  unanswered: Map<string, string>;
  /** The ids in the 201 answers. */
  created: Set<string>;
}

function newLoad(): Load {
  return { answered: new Map(), unanswered: new Map(), created: new Set() };
}

let referenceCounter = 0;

/**
 * `workers` concurrent request loops of at most `perWorker` movements each. A worker stops at its
 * first request without an answer (the server is gone) or when `stop()` says so.
 */
async function runLoad(base: string, fixture: Fixture, load: Load, options: { perWorker: number; stop?: () => boolean }) {
  const prefix = unique('R');
  const worker = async () => {
    for (let i = 0; i < options.perWorker && !(options.stop?.() ?? false); i += 1) {
      const reference = `${prefix}-${(referenceCounter += 1)}`;
      try {
        const { status, body } = await post(base, '/api/v1/movements', randomMovement(fixture, reference));
        load.answered.set(reference, { status, code: body?.code, id: body?.id });
        if (status === 201) {
          assert.equal(typeof body?.id, 'string', `a 201 carries the movement: ${JSON.stringify(body)}`);
          load.created.add(body.id);
        }
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        const cause = (error as Error).cause as Error | undefined;
        load.unanswered.set(reference, `${(error as Error).name}: ${(error as Error).message} (${cause?.message ?? cause ?? ''})`);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

const count201 = (load: Load) => load.created.size;

/** The answers other than 201, as "status code" strings with how many of each. */
/** After a fault, one more movement must be written (the service recovered); it joins the load's 201s. */
async function writeOneMore(base: string, fixture: Fixture, load: Load, reference: string) {
  const answer = await post(base, '/api/v1/movements', {
    type: 'inbound',
    locationId: fixture.locationIds[0],
    reference,
    lines: [{ productId: fixture.productIds[0], quantity: 1 }],
  });
  assert.equal(answer.status, 201, `the movement ${reference}: ${JSON.stringify(answer.body)}`);
  load.created.add(answer.body.id);
}

function otherAnswers(load: Load) {
  const counts: Record<string, number> = {};
  for (const { status, code } of load.answered.values()) {
    if (status === 201) continue;
    const key = `${status} ${code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// The invariants, checked in the database.

async function checkInvariants(db: Queryable, load: Load, options: { unansweredMayHaveWritten: boolean }) {
  assert.deepEqual(await levelsDisagreeingWithLedger(db), [], 'every level equals the sum of its ledger');

  const negative = await db.query(
    `SELECT s.product_id, s.location_id, s.on_hand, s.reserved, s.allow_negative, l.allow_negative AS location_allows
     FROM stock_levels s JOIN locations l ON l.id = s.location_id
     WHERE (NOT l.allow_negative OR NOT s.allow_negative) AND s.on_hand - s.reserved < 0`,
  );
  assert.deepEqual(negative, [], 'no level is negative where its location forbids it');

  const rows = await db.query<{ id: string; reference: string | null }>('SELECT id, reference FROM movements');
  const inDatabase = new Map(rows.map((row) => [row.id, row.reference]));
  const missing = [...load.created].filter((id) => !inDatabase.has(id));
  assert.deepEqual(missing, [], `every movement answered 201 is in the database (${missing.length} of ${load.created.size} missing)`);

  const writtenButRefused: string[] = [];
  const unexplained: string[] = [];
  for (const [id, reference] of inDatabase) {
    if (load.created.has(id)) continue;
    const answer = reference === null ? undefined : load.answered.get(reference);
    if (answer !== undefined) writtenButRefused.push(`${id} (${reference}) answered ${answer.status} ${answer.code}`);
    else if (!(options.unansweredMayHaveWritten && reference !== null && load.unanswered.has(reference))) {
      unexplained.push(`${id} (${reference})`);
    }
  }
  assert.deepEqual(writtenButRefused, [], 'no movement answered 4xx/5xx is in the database');
  assert.deepEqual(unexplained, [], 'every other movement in the database was one whose request got no answer');
  return { movements: rows.length };
}

// ---------------------------------------------------------------------------------------------

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
        const others = otherAnswers(load);
        for (const key of Object.keys(others)) {
          assert.ok(['409 insufficient_stock', '503 unavailable'].includes(key), `unexpected answers ${JSON.stringify(others)}\n${server.output()}`);
        }
        // After it: the requests in flight fail at the connection, not with an answer.
        for (const failure of load.unanswered.values()) {
          assert.match(failure, /ECONNREFUSED|ECONNRESET|other side closed|SocketError|fetch failed/, failure);
        }
        assert.ok(load.unanswered.size > 0, 'the kill found requests in flight');
        if (process.env.FAULTS_VERBOSE) console.log(JSON.stringify({ created: count201(load), unanswered: load.unanswered.size, others }));

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
        const others = otherAnswers(load);
        const allowed = usingPostgres ? ['409 insufficient_stock', '503 unavailable'] : ['409 insufficient_stock'];
        for (const key of Object.keys(others)) assert.ok(allowed.includes(key), `unexpected answers: ${JSON.stringify(others)}`);
        assert.ok(count201(load) > 0, `some movements were written: ${JSON.stringify(others)}`);

        // The pool recovered by itself: the next request is written.
        await sleep(100);
        await writeOneMore(base, fixture, load, 'after-faults');

        await h.db.connection((db) => checkInvariants(db, load, { unansweredMayHaveWritten: false }));
        if (process.env.FAULTS_VERBOSE) console.log(JSON.stringify({ terminated, rounds, created: count201(load), others }));
      } finally {
        await admin?.end().catch(() => undefined);
        await h.close();
      }
    },
  );
});
