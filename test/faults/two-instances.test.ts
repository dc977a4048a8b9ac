import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { killServers, startServer } from '../support/server-process.ts';
import {
  assertOnlyAnswers,
  between,
  checkInvariants,
  count201,
  createFixture,
  newLoad,
  randomMovement,
  recordAnswer,
  recordNoAnswer,
  request,
  runLoad,
  unique,
  writeMovement,
  type Answer,
  type Fixture,
  type Load,
} from './load.ts';

// Two server processes on one PostgreSQL database under concurrent mixed load (issue 3):
// transfers of several lines in opposite directions between the same two locations, and the same
// Idempotency-Key sent to both instances at once. Nothing a process holds in memory can keep
// them apart; only the database can.
//
// It needs PostgreSQL in both runs of test:faults: without DATABASE_URL it takes a schema on the
// local server that CI runs. helpers.ts reads DATABASE_URL once, as it loads, hence the import
// after the assignment.
const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
process.env.DATABASE_URL ||= LOCAL_POSTGRES_URL;
const { createTestDatabase } = await import('../support/helpers.ts');

const PER_WORKER = 30;
const KEY_WORKERS = 4;
const KEYS_PER_WORKER = 20;
const READERS = 2;
/** More than the load can take out of one level (WORKERS × PER_WORKER movements of at most 3 a line). */
const SEED_QUANTITY = 10_000;
/** A client told 409 idempotency_key_in_progress or 503 retries; this many times at most. */
const RETRIES_MAX = 200;
const RETRY_PAUSE_MS = 10;

after(killServers);

/**
 * A transfer of every product between the first two locations, either way, its lines in the
 * direction's own order: two of them in opposite directions want the same levels, each in the
 * other's reverse order — a deadlock, unless the server takes its locks in one order.
 */
function opposingTransfer(fixture: Fixture, reference: string) {
  const forward = Math.random() < 0.5;
  const [first, second] = fixture.locationIds;
  const productIds = forward ? fixture.productIds : [...fixture.productIds].reverse();
  return {
    type: 'transfer',
    locationId: forward ? first : second,
    toLocationId: forward ? second : first,
    reference,
    lines: productIds.map((productId) => ({ productId, quantity: between(1, 3) })),
  };
}

const mixedMovement = (fixture: Fixture, reference: string) =>
  Math.random() < 0.5 ? opposingTransfer(fixture, reference) : randomMovement(fixture, reference);

interface KeyOutcome {
  reference: string;
  /** Every answer each instance gave for the key, retries included, in instance order. */
  answers: Answer[][];
}

/**
 * Sends one movement with one Idempotency-Key to every instance at once. An instance told to
 * retry (409 idempotency_key_in_progress, 503) is asked again until it answers something else.
 */
async function sameKeyOnEveryInstance(bases: string[], fixture: Fixture, load: Load): Promise<KeyOutcome> {
  const reference = unique('K');
  const movement = opposingTransfer(fixture, reference);
  const headers = { 'idempotency-key': `faults-${reference}` };
  const askUntilAnswered = async (base: string) => {
    const answers: Answer[] = [];
    for (let attempt = 1; attempt <= RETRIES_MAX; attempt += 1) {
      const answer = await request(base, '/api/v1/movements', { body: movement, headers });
      recordAnswer(load, reference, answer);
      answers.push(answer);
      const retry = answer.status === 503 || (answer.status === 409 && answer.body?.code === 'idempotency_key_in_progress');
      if (!retry) break;
      await sleep(RETRY_PAUSE_MS);
    }
    return answers;
  };
  return { reference, answers: await Promise.all(bases.map(askUntilAnswered)) };
}

/** Reads (one product's levels, a location's movements) on every instance in turn until `done()`. */
async function readUntil(bases: string[], fixture: Fixture, load: Load, done: () => boolean) {
  for (let i = 0; !done(); i += 1) {
    const path =
      i % 2 === 0
        ? `/api/v1/stock?productId=${fixture.productIds[i % 4]}`
        : `/api/v1/movements?locationId=${fixture.locationIds[0]}&limit=20`;
    try {
      recordAnswer(load, undefined, await request(bases[i % bases.length]!, path));
    } catch (error) {
      recordNoAnswer(load, `GET ${path}`, error);
      return;
    }
  }
}

/** Each key: one fresh 201 among all its answers, every instance's last answer a 201 with the same movement. */
function checkKeyAnswers(outcomes: KeyOutcome[]) {
  const wrong: string[] = [];
  for (const { reference, answers } of outcomes) {
    const all = answers.flat();
    const last = answers.map((tries) => tries.at(-1)!);
    const fresh = all.filter((answer) => answer.status === 201 && answer.headers.get('idempotent-replayed') !== 'true');
    const ids = new Set(last.map((answer) => answer.body?.id));
    if (fresh.length !== 1 || last.some((answer) => answer.status !== 201) || ids.size !== 1) {
      wrong.push(
        `${reference}: ${answers.map((tries) => tries.map((a) => `${a.status} ${a.body?.code ?? a.body?.id} ${a.headers.get('idempotent-replayed') ?? ''}`).join(', ')).join(' | ')}`,
      );
    }
  }
  assert.deepEqual(wrong, [], 'every key is answered with one movement by every instance, written once');
}

describe('two server instances on one PostgreSQL database', () => {
  it('under concurrent mixed load (opposite multi-line transfers, one Idempotency-Key on both at once): no 500, one movement per key, the invariants hold', async () => {
    const database = await createTestDatabase().catch((error: Error) => {
      throw new Error(
        `this test needs the PostgreSQL server at ${process.env.DATABASE_URL} (start it, or set DATABASE_URL): ${error.message}`,
      );
    });
    try {
      const servers = [await startServer(database), await startServer(database)];
      await Promise.all(servers.map((server) => server.started));
      const bases = servers.map((server) => server.base);
      const fixture = await createFixture(bases[0]!);

      const load = newLoad();
      // Stock enough at both ends of the opposite transfers that none of them is ever refused.
      for (const [index, locationId] of fixture.locationIds.slice(0, 2).entries()) {
        const lines = fixture.productIds.map((productId) => ({ productId, quantity: SEED_QUANTITY }));
        await writeMovement(bases[index]!, load, { type: 'inbound', locationId, reference: unique('S'), lines });
      }

      let done = false;
      const outcomes: KeyOutcome[] = [];
      const keyWorker = async () => {
        for (let i = 0; i < KEYS_PER_WORKER; i += 1) outcomes.push(await sameKeyOnEveryInstance(bases, fixture, load));
      };
      const reading = Array.from({ length: READERS }, () => readUntil(bases, fixture, load, () => done));
      await Promise.all([
        runLoad(bases, fixture, load, { perWorker: PER_WORKER, movement: mixedMovement }),
        ...Array.from({ length: KEY_WORKERS }, keyWorker),
      ]).finally(() => {
        done = true;
      });
      await Promise.all(reading);

      const output = servers.map((server) => server.output()).join('\n');
      assert.deepEqual([...load.unanswered.entries()], [], 'every request got an answer in time');
      assertOnlyAnswers(load, ['409 insufficient_stock', '409 idempotency_key_in_progress', '503 unavailable'], output);
      checkKeyAnswers(outcomes);
      assert.equal(outcomes.length, KEY_WORKERS * KEYS_PER_WORKER);

      const byReference = (a: { reference: string }, b: { reference: string }) => (a.reference < b.reference ? -1 : 1);
      const perKey = await database.db.connection((db) =>
        db.query<{ reference: string; movements: number; id: string }>(
          'SELECT reference, count(*)::int AS movements, min(id::text) AS id FROM movements WHERE reference = ANY($1) GROUP BY reference',
          [outcomes.map((outcome) => outcome.reference)],
        ),
      );
      perKey.sort(byReference);
      const expected = outcomes
        .map(({ reference, answers }) => ({ reference, movements: 1, id: answers[0]!.at(-1)!.body.id as string }))
        .sort(byReference);
      assert.deepEqual(perKey, expected, 'each key wrote exactly one movement, the one both instances answered');

      await database.db.connection((db) => checkInvariants(db, load, { unansweredMayHaveWritten: false }));
      for (const server of servers) assert.equal((await server.stop()).code, 0, server.output());
      if (process.env.FAULTS_VERBOSE) console.log(JSON.stringify({ created: count201(load), keys: outcomes.length, others: load.others }));
    } finally {
      killServers();
      await database.destroy();
    }
  });
});
