import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/db/database.ts';
import { AppError } from '../../src/domain/errors.ts';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';

// Streaming reads (src/db/database.ts): rows in bounded batches through a cursor, on a connection
// owned as a transaction's is — released exactly once however the iteration ends — on both
// databases. "Released" is checked three ways: the source's stats, the next statement running
// (PGlite has one connection), and that statement not finding itself in a read-only transaction
// left open by the stream.

const ROWS = 12_345;
const ROWS_QUERY = `SELECT g::bigint AS n, md5(g::text) AS label FROM generate_series(1, ${ROWS}) g ORDER BY g`;

type Row = { n: number; label: string };

async function assertReleased(db: Database) {
  assert.equal(db.stats().inUse, 0, 'no connection is checked out');
  const [row] = await db.connection((q) => q.query<{ readOnly: string }>(`SELECT current_setting('transaction_read_only') AS "readOnly"`));
  assert.equal(row!.readOnly, 'off', 'no read-only transaction was left open on the connection');
  assert.equal(db.stats().inUse, 0);
}

async function collect<T>(batches: AsyncIterable<T[]>): Promise<{ rows: T[]; sizes: number[] }> {
  const rows: T[] = [];
  const sizes: number[] = [];
  for await (const batch of batches) {
    sizes.push(batch.length);
    rows.push(...batch);
  }
  return { rows, sizes };
}

describe('Database.stream', () => {
  let t: TestDatabase;
  before(async () => {
    // Statements past 1.5 s are cancelled, to show that a FETCH is one like any other.
    t = await createTestDatabase({ dbPoolMax: 2, dbStatementTimeoutMs: 1_500 });
  });
  after(() => t.destroy());

  it('yields the same rows as query, in batches no larger than batchSize', async () => {
    const expected = await t.db.connection((db) => db.query<Row>(ROWS_QUERY));
    const { rows, sizes } = await collect(t.db.stream<Row>(ROWS_QUERY, undefined, { batchSize: 1_000 }));
    assert.equal(rows.length, ROWS);
    assert.deepEqual(rows, expected);
    assert.equal(typeof rows[0]!.n, 'number', 'bigint columns are parsed as with query');
    assert.ok(sizes.every((size) => size <= 1_000));
    assert.equal(sizes.length, Math.ceil(ROWS / 1_000));
    await assertReleased(t.db);
  });

  it('takes no connection until the first batch is asked for', async () => {
    const stream = t.db.stream(ROWS_QUERY);
    assert.equal(t.db.stats().inUse, 0);
    await stream.return(undefined);
    await assertReleased(t.db);
  });

  it('binds parameters, and the same query runs as a stream and as a query on one connection', async () => {
    const text = 'SELECT g AS n FROM generate_series($1::int, $2::int) g WHERE g % $3::int = 0 ORDER BY g';
    const params = [1, 10_000, 7];
    const expected = Array.from({ length: Math.floor(10_000 / 7) }, (_, index) => ({ n: (index + 1) * 7 }));
    for (let round = 0; round < 3; round += 1) {
      // The pool's connections each see the named DECLARE, and run it again.
      assert.deepEqual((await collect(t.db.stream(text, params, { batchSize: 500 }))).rows, expected);
      assert.deepEqual(await t.db.connection((db) => db.query(text, params)), expected);
    }
    assert.deepEqual((await collect(t.db.stream(text, [1, 20, 5]))).rows, [{ n: 5 }, { n: 10 }, { n: 15 }, { n: 20 }]);
    await assertReleased(t.db);
  });

  it('yields nothing for a query without rows, and releases the connection', async () => {
    const { rows, sizes } = await collect(t.db.stream('SELECT 1 AS one WHERE false'));
    assert.deepEqual(rows, []);
    assert.deepEqual(sizes, []);
    await assertReleased(t.db);
  });

  it('releases the connection when the consumer breaks out early', async () => {
    let seen = 0;
    for await (const batch of t.db.stream<Row>(ROWS_QUERY, undefined, { batchSize: 100 })) {
      seen += batch.length;
      assert.equal(t.db.stats().inUse, 1, 'the connection is held while the stream runs');
      if (seen >= 300) break;
    }
    assert.equal(seen, 300);
    await assertReleased(t.db);
  });

  it('releases the connection when the consumer throws', async () => {
    const failure = new Error('the consumer failed');
    await assert.rejects(async () => {
      for await (const _batch of t.db.stream(ROWS_QUERY, undefined, { batchSize: 100 })) throw failure;
    }, failure);
    await assertReleased(t.db);
  });

  it('rejects with the abort reason when aborted between batches, and releases the connection', async () => {
    const controller = new AbortController();
    const reason = new Error('the client went away');
    let batches = 0;
    await assert.rejects(async () => {
      for await (const _batch of t.db.stream(ROWS_QUERY, undefined, { batchSize: 100, signal: controller.signal })) {
        batches += 1;
        if (batches === 2) controller.abort(reason);
      }
    }, reason);
    assert.equal(batches, 2);
    await assertReleased(t.db);
  });

  // PGlite runs a statement on this thread, to its end: no timer, and so no abort, fires during one,
  // and it has no statement timeout. Those two tests are PostgreSQL's; the one connection is PGlite's.
  if (usingPostgres)
    it('cancels the FETCH running when the signal aborts, rejects with the reason, and releases the connection', async () => {
      const controller = new AbortController();
      const reason = new Error('the client went away');
      const started = performance.now();
      setTimeout(() => controller.abort(reason), 200);
      // 20 rows of 50 ms each: the first FETCH runs 1 s unless cancelled.
      const stream = t.db.stream('SELECT g, pg_sleep(0.05) FROM generate_series(1, 20) g', undefined, {
        batchSize: 20,
        signal: controller.signal,
      });
      await assert.rejects(collect(stream), reason);
      assert.ok(performance.now() - started < 900, 'the FETCH was cancelled, not waited for');
      await assertReleased(t.db);
    });

  it('rejects at once with the reason of a signal already aborted, taking no connection', async () => {
    const reason = new Error('already gone');
    await assert.rejects(collect(t.db.stream(ROWS_QUERY, undefined, { signal: AbortSignal.abort(reason) })), reason);
    await assertReleased(t.db);
  });

  it('releases the connection when the query fails partway, after the batches before the failure', async () => {
    const sizes: number[] = [];
    await assert.rejects(
      async () => {
        for await (const batch of t.db.stream('SELECT 1 / (g - 5) AS q FROM generate_series(1, 10) g', undefined, { batchSize: 2 })) {
          sizes.push(batch.length);
        }
      },
      (error: { code?: string }) => error.code === '22012',
    );
    assert.deepEqual(sizes, [2, 2]);
    await assertReleased(t.db);
  });

  it('releases the connection when the query can not be planned', async () => {
    await assert.rejects(collect(t.db.stream('SELECT * FROM no_such_table')), (error: { code?: string }) => error.code === '42P01');
    await assertReleased(t.db);
  });

  it('answers a batch size out of bounds with an assertion failure, taking no connection', async () => {
    await assert.rejects(collect(t.db.stream(ROWS_QUERY, undefined, { batchSize: 0 })), assert.AssertionError);
    await assert.rejects(collect(t.db.stream(ROWS_QUERY, undefined, { batchSize: 10_001 })), assert.AssertionError);
    await assertReleased(t.db);
  });

  if (!usingPostgres)
    it('makes other work wait for the one PGlite connection only while it runs', async () => {
      const stream = t.db.stream<Row>(ROWS_QUERY, undefined, { batchSize: 1_000 });
      await stream.next();
      let answered = false;
      const other = t.db
        .connection((db) => db.query('SELECT 1'))
        .then(() => {
          answered = true;
        });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(answered, false, 'the one connection is the stream’s');
      await stream.return(undefined);
      await other;
      await assertReleased(t.db);
    });

  if (usingPostgres)
    it('cancels a FETCH past DB_STATEMENT_TIMEOUT_MS as any statement, and releases the connection', async () => {
      await assert.rejects(
        collect(t.db.stream('SELECT g, pg_sleep(0.2) FROM generate_series(1, 20) g', undefined, { batchSize: 20 })),
        (error: unknown) => error instanceof AppError && error.code === 'timeout',
      );
      await assertReleased(t.db);
    });
});

describe('Transaction.stream', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ dbPoolMax: 2 });
    await t.db.connection((db) => db.exec('CREATE TABLE scratch (n bigint PRIMARY KEY)'));
  });
  after(() => t.destroy());

  it('reads the transaction’s own writes, and the transaction goes on after the stream', async () => {
    const total = await t.db.transaction(async (tx) => {
      await tx.query('INSERT INTO scratch SELECT g FROM generate_series(1, 2500) g');
      const { rows, sizes } = await collect(tx.stream<{ n: number }>('SELECT n FROM scratch ORDER BY n', undefined, { batchSize: 1_000 }));
      assert.deepEqual(sizes, [1_000, 1_000, 500]);
      assert.deepEqual(
        rows.map((row) => row.n),
        Array.from({ length: 2500 }, (_, index) => index + 1),
      );
      await tx.query('INSERT INTO scratch VALUES (2501)');
      const [row] = await tx.query<{ count: number }>('SELECT count(*)::bigint AS count FROM scratch');
      return row!.count;
    });
    assert.equal(total, 2501);
    const [row] = await t.db.connection((db) => db.query<{ count: number }>('SELECT count(*)::bigint AS count FROM scratch'));
    assert.equal(row!.count, 2501, 'the transaction committed');
    await assertReleased(t.db);
  });

  it('closes its cursor on an early break, so that more streams run in the same transaction', async () => {
    await t.db.transaction(async (tx) => {
      for (let round = 0; round < 3; round += 1) {
        for await (const batch of tx.stream<{ n: number }>('SELECT n FROM scratch WHERE n > $1 ORDER BY n', [round], { batchSize: 10 })) {
          assert.equal(batch[0]!.n, round + 1);
          break;
        }
      }
      const [row] = await tx.query<{ open: number }>(`SELECT count(*)::int AS open FROM pg_cursors WHERE name LIKE 'stockroom_stream%'`);
      assert.equal(row!.open, 0, 'no cursor is left open');
    });
    await assertReleased(t.db);
  });

  it('runs two streams at once in one transaction', async () => {
    await t.db.transaction(async (tx) => {
      const odd = tx.stream<{ n: number }>('SELECT n FROM scratch WHERE n % 2 = 1 ORDER BY n', undefined, { batchSize: 100 });
      const even = tx.stream<{ n: number }>('SELECT n FROM scratch WHERE n % 2 = 0 ORDER BY n', undefined, { batchSize: 100 });
      let pairs = 0;
      for (;;) {
        const [a, b] = await Promise.all([odd.next(), even.next()]);
        if (a.done === true || b.done === true) {
          await Promise.all([odd.return(undefined), even.return(undefined)]);
          break;
        }
        assert.equal(b.value[0]!.n, a.value[0]!.n + 1);
        pairs += 1;
      }
      assert.equal(pairs, 13);
    });
    await assertReleased(t.db);
  });

  it('rolls the transaction back when its stream fails', async () => {
    await assert.rejects(
      t.db.transaction(async (tx) => {
        await tx.query('INSERT INTO scratch VALUES (-1)');
        await collect(tx.stream('SELECT 1 / (n - 100) FROM scratch ORDER BY n', undefined, { batchSize: 10 }));
      }),
      (error: { code?: string }) => error.code === '22012',
    );
    const [row] = await t.db.connection((db) =>
      db.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM scratch WHERE n = -1) AS found'),
    );
    assert.equal(row!.found, false, 'nothing of the transaction was written');
    await assertReleased(t.db);
  });

  it('refuses, with an assertion failure and a rollback, a stream left open when the work resolves', async () => {
    await assert.rejects(
      t.db.transaction(async (tx) => {
        await tx.query('INSERT INTO scratch VALUES (-2)');
        const stream = tx.stream('SELECT n FROM scratch', undefined, { batchSize: 10 });
        await stream.next();
      }),
      assert.AssertionError,
    );
    const [row] = await t.db.connection((db) =>
      db.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM scratch WHERE n = -2) AS found'),
    );
    assert.equal(row!.found, false, 'nothing of the transaction was written');
    await assertReleased(t.db);
  });
});
