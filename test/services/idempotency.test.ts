import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Queryable } from '../../src/db/database.ts';
import type { Actor } from '../../src/domain/access.ts';
import { AppError } from '../../src/domain/errors.ts';
import { fingerprint, withIdempotency, type IdempotencyRequest } from '../../src/services/idempotency.ts';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';

// The specification of withIdempotency (API.md, Idempotency), the exactly-once wrapper every use
// case that honours an Idempotency-Key runs its work in, tested against a real database without
// HTTP. The work writes a row of its own, so "ran once" and "wrote nothing" are read from the database.

let t: TestDatabase;

before(async () => {
  t = await createTestDatabase();
  await t.db.transaction((tx) => tx.exec('CREATE TABLE idempotency_test_writes (key text NOT NULL, n integer NOT NULL)'));
});

after(() => t.destroy());

function actor(id: string = randomUUID()): Actor {
  return { id, name: 'Tester', role: 'manager', locationIds: null, credentialId: randomUUID(), credentialKind: 'token' };
}

function request(key: string, input: unknown = { quantity: 1 }): IdempotencyRequest {
  return { key, fingerprint: fingerprint('POST /api/v1/things', input), ttlHours: 24 };
}

/** A use case's work: writes one row through the transaction and answers a value with odd text in it. */
function writer(key: string, n: number) {
  let runs = 0;
  const work = (tx: Queryable) => async () => {
    runs += 1;
    await tx.query('INSERT INTO idempotency_test_writes (key, n) VALUES ($1, $2)', [key, n]);
    return { n, key, text: 'é \u2028 "quoted" </script> 😀', nested: { list: [1, -2.5, null, true] }, createdBy: null };
  };
  return { work, runs: () => runs };
}

/** One use case: one transaction, the wrapper inside it. */
function run<T>(requested: IdempotencyRequest | undefined, work: (tx: Queryable) => () => Promise<T>, by: Actor | null = null) {
  return t.db.transaction((tx) => withIdempotency(tx, by, requested, work(tx)));
}

async function writes(key: string): Promise<number[]> {
  const rows = await t.db.connection((db) =>
    db.query<{ n: number }>('SELECT n FROM idempotency_test_writes WHERE key = $1 ORDER BY n', [key]),
  );
  return rows.map((row) => row.n);
}

async function records(key: string): Promise<{ statusCode: number; responseBody: string }[]> {
  return t.db.connection((db) =>
    db.query<{ statusCode: number; responseBody: string }>(
      `SELECT status_code AS "statusCode", response_body AS "responseBody" FROM idempotency_keys WHERE key = $1`,
      [key],
    ),
  );
}

function isAppError(code: string, retryAfterS?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof AppError, `expected AppError ${code}, got ${String(error)}`);
    assert.equal(error.code, code);
    if (retryAfterS !== undefined) assert.equal(error.retryAfterS, retryAfterS);
    return true;
  };
}

describe('withIdempotency', () => {
  it('runs the work and stores nothing without a key', async () => {
    const key = `none-${randomUUID()}`;
    const { work, runs } = writer(key, 1);
    const first = await run(undefined, work);
    const second = await run(undefined, work);
    assert.equal(first.replayed, false);
    assert.equal(second.replayed, false);
    assert.equal(runs(), 2);
    assert.deepEqual(await writes(key), [1, 1]);
    assert.deepEqual(await records(key), []);
  });

  it('runs the work once per key, and replays its value, JSON-identical, without running it again', async () => {
    const key = `once-${randomUUID()}`;
    const { work, runs } = writer(key, 7);
    const first = await run(request(key), work);
    assert.equal(first.replayed, false);
    const replay = await run(request(key), work);
    assert.equal(replay.replayed, true);
    assert.equal(runs(), 1);
    assert.deepEqual(await writes(key), [7]);
    assert.equal(JSON.stringify(replay.value), JSON.stringify(first.value));
    assert.deepEqual(replay.value, first.value);
  });

  it('treats equal inputs as the same request whatever their key order', async () => {
    const key = `order-${randomUUID()}`;
    const { work, runs } = writer(key, 1);
    await run(request(key, { a: 1, b: [{ c: 2, d: 3 }] }), work);
    const replay = await run(request(key, { b: [{ d: 3, c: 2 }], a: 1 }), work);
    assert.equal(replay.replayed, true);
    assert.equal(runs(), 1);
  });

  it('refuses the key with another fingerprint (idempotency_key_reused), runs nothing and keeps the first record', async () => {
    const key = `reused-${randomUUID()}`;
    const { work, runs } = writer(key, 1);
    const first = await run(request(key, { quantity: 1 }), work);
    await assert.rejects(run(request(key, { quantity: 2 }), work), isAppError('idempotency_key_reused'));
    // The same input under another operation is another request too.
    await assert.rejects(
      run({ key, fingerprint: fingerprint('POST /api/v1/others', { quantity: 1 }), ttlHours: 24 }, work),
      isAppError('idempotency_key_reused'),
    );
    assert.equal(runs(), 1);
    assert.deepEqual(await writes(key), [1]);
    const replay = await run(request(key, { quantity: 1 }), work);
    assert.equal(JSON.stringify(replay.value), JSON.stringify(first.value));
  });

  it('stores nothing when the work fails: the key stays free and the retry runs', async () => {
    const key = `failed-${randomUUID()}`;
    const failing = (tx: Queryable) => async () => {
      await tx.query('INSERT INTO idempotency_test_writes (key, n) VALUES ($1, $2)', [key, 1]);
      throw new AppError('insufficient_stock', 'not enough');
    };
    await assert.rejects(run(request(key), failing), isAppError('insufficient_stock'));
    assert.deepEqual(await writes(key), []);
    assert.deepEqual(await records(key), []);

    const { work, runs } = writer(key, 2);
    const retried = await run(request(key), work);
    assert.equal(retried.replayed, false);
    assert.equal(runs(), 1);
    assert.deepEqual(await writes(key), [2]);
  });

  it('stores the result in the caller’s transaction: when that transaction fails afterwards, nothing is kept', async () => {
    const key = `caller-${randomUUID()}`;
    const { work, runs } = writer(key, 1);
    await assert.rejects(
      t.db.transaction(async (tx) => {
        await withIdempotency(tx, null, request(key), work(tx));
        throw new AppError('conflict', 'a later step of the use case failed');
      }),
      isAppError('conflict'),
    );
    assert.deepEqual(await records(key), []);
    assert.deepEqual(await writes(key), []);
    const retried = await run(request(key), work);
    assert.equal(retried.replayed, false);
    assert.equal(runs(), 2);
  });

  it('scopes keys per user: one user’s key neither replays nor blocks another’s', async () => {
    const key = `scoped-${randomUUID()}`;
    const alice = actor();
    const bob = actor();
    const { work, runs } = writer(key, 1);
    assert.equal((await run(request(key), work, alice)).replayed, false);
    // Bob's other request under the same key is his own first use, not a reuse.
    assert.equal((await run(request(key, { quantity: 99 }), work, bob)).replayed, false);
    assert.equal((await run(request(key), work, null)).replayed, false);
    assert.equal((await run(request(key), work, alice)).replayed, true);
    assert.equal(runs(), 3);
  });

  it('answers idempotency_key_in_progress while another transaction holds the key, then replays', async () => {
    const key = `busy-${randomUUID()}`;
    const { work, runs } = writer(key, 1);
    let entered!: () => void;
    const inWork = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = run(request(key), (tx) => async () => {
      entered();
      await gate;
      return work(tx)();
    });
    await inWork;
    const second = run(request(key), work);
    if (usingPostgres) {
      await assert.rejects(second, isAppError('idempotency_key_in_progress', 1));
      release();
      assert.equal((await first).replayed, false);
    } else {
      // PGlite runs one transaction at a time: the second waits for the first, then replays it.
      release();
      assert.equal((await first).replayed, false);
      assert.equal((await second).replayed, true);
    }
    assert.equal((await run(request(key), work)).replayed, true);
    assert.equal(runs(), 1);
    assert.deepEqual(await writes(key), [1]);
  });

  it('runs the work again once the record has outlived its time to live, and keeps the new result', async () => {
    const key = `expired-${randomUUID()}`;
    const first = writer(key, 1);
    await run(request(key), first.work);
    await t.db.transaction((tx) => tx.query(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`, [key]));
    const second = writer(key, 2);
    const again = await run(request(key), second.work);
    assert.equal(again.replayed, false);
    assert.equal(second.runs(), 1);
    const replay = await run(request(key), second.work);
    assert.equal(replay.replayed, true);
    assert.equal(replay.value.n, 2);
    assert.equal(second.runs(), 1);
  });

  it('replays a record written by an earlier version (an HTTP answer’s text) byte for byte', async () => {
    // Earlier versions stored the answer's body, JSON.stringify of the presented movement, with
    // status_code 201, under the fingerprint sha256("POST /api/v1/movements\n" + canonical body).
    const key = `legacy-${randomUUID()}`;
    const body = { type: 'inbound', locationId: randomUUID(), lines: [{ quantity: 5, productId: randomUUID() }] };
    const canonical = `{"lines":[{"productId":${JSON.stringify(body.lines[0]!.productId)},"quantity":5}],"locationId":${JSON.stringify(body.locationId)},"type":"inbound"}`;
    const legacyHash = createHash('sha256').update(`POST /api/v1/movements\n${canonical}`).digest('hex');
    assert.equal(fingerprint('POST /api/v1/movements', body), legacyHash, 'the fingerprint of a request is what earlier versions stored');
    const answered =
      '{"id":"0190a0a0-0000-7000-8000-000000000000","type":"inbound","reference":null,"note":"caf\u00e9 \u2028 \\"x\\" \\ud800",' +
      '"createdAt":"2001-03-15T00:00:00.000Z","createdBy":{"id":"u","name":"N"},"lines":[{"productId":"p","quantity":5}],"balances":[]}';
    await t.db.transaction((tx) =>
      tx.query('INSERT INTO idempotency_keys (key, request_hash, status_code, response_body) VALUES ($1, $2, 201, $3)', [
        key,
        legacyHash,
        answered,
      ]),
    );
    let runs = 0;
    const replay = await t.db.transaction((tx) =>
      withIdempotency(tx, null, { key, fingerprint: fingerprint('POST /api/v1/movements', body), ttlHours: 24 }, async () => {
        runs += 1;
        return {};
      }),
    );
    assert.equal(replay.replayed, true);
    assert.equal(runs, 0);
    assert.equal(JSON.stringify(replay.value), answered);
  });

  it('still writes status_code 201, so that an earlier version replays its records after a downgrade', async () => {
    const key = `downgrade-${randomUUID()}`;
    const { work } = writer(key, 1);
    const first = await run(request(key), work);
    assert.deepEqual(await records(key), [{ statusCode: 201, responseBody: JSON.stringify(first.value) }]);
  });
});
