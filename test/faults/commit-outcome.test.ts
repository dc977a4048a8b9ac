import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Database, type ConnectionSource, type RawConnection } from '../../src/db/database.ts';
import { createPostgresSource } from '../../src/db/postgres.ts';
import { AppError } from '../../src/domain/errors.ts';

// A COMMIT whose answer is lost with the connection (src/db/database.ts): the server may have
// made it durable before the connection died, so the outcome is asked on another connection
// (txid_status) instead of reported as a failure that may be false. The connection is really
// lost here: the backend is terminated, just before or just after a real COMMIT. Only PostgreSQL
// can lose a COMMIT's answer, so without DATABASE_URL this takes a schema on the local server
// that CI runs; helpers.ts reads DATABASE_URL as it loads, hence the import after the assignment.
process.env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/test';
const { createTestDatabase } = await import('../support/helpers.ts');

type Loss = 'before COMMIT' | 'after COMMIT';

/** The source, with the next write transaction's connection lost around its COMMIT. */
function losingNextCommit(
  source: ConnectionSource,
  loss: Loss,
  options: { databaseUnreachable?: boolean; statusOfAnother?: 'committed' } = {},
): ConnectionSource {
  let armed = true;
  const terminate = (connection: RawConnection) => connection.run('SELECT pg_terminate_backend(pg_backend_pid())');
  return {
    kind: source.kind,
    async acquire(signal) {
      if (!armed && options.databaseUnreachable)
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      const connection = await source.acquire(signal);
      return {
        ...connection,
        begin: (readOnly) => connection.begin(readOnly),
        async run(text, params) {
          if (text !== 'COMMIT' || !armed) return connection.run(text, params);
          armed = false;
          if (loss === 'after COMMIT') await connection.run('COMMIT');
          return terminate(connection); // throws: the server ends the connection
        },
        release: (broken) => connection.release(broken),
      };
    },
    commitStatus: (id, signal) => {
      if (options.databaseUnreachable)
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
      // What a crashed server may answer: the lost transaction's id, handed out again, committed.
      if (options.statusOfAnother !== undefined) return Promise.resolve(options.statusOfAnother);
      return source.commitStatus(id, signal);
    },
    listen: (channel, handler) => source.listen(channel, handler),
    stats: () => source.stats(),
    close: () => source.close(),
  };
}

describe('a COMMIT whose answer is lost with the connection', () => {
  let t: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => {
    t = await createTestDatabase({ dbPoolMax: 2 });
    await t.db.connection((db) => db.exec('CREATE TABLE scratch (id int PRIMARY KEY)'));
  });
  after(() => t.destroy());

  const scratch = () => t.db.connection((db) => db.query<{ id: number }>('SELECT id FROM scratch ORDER BY id'));
  const write = (db: Database, id: number, options: { signal?: AbortSignal; confirmable?: boolean } = {}) =>
    db.transaction(
      async (tx) => {
        await tx.query('INSERT INTO scratch (id) VALUES ($1)', [id]);
        return id;
      },
      {
        signal: options.signal,
        confirm:
          options.confirmable === false
            ? undefined
            : async (db) => (await db.query('SELECT 1 FROM scratch WHERE id = $1', [id])).length > 0,
      },
    );
  const outcomeUnknown = (error: unknown) => {
    assert.ok(error instanceof AppError, String(error));
    assert.deepEqual([error.status, error.code, error.extras.outcome, error.retryAfterS], [503, 'unavailable', 'unknown', 1]);
    assert.match(error.detail, /Idempotency-Key/);
    return true;
  };
  const notWritten = (error: unknown) => error instanceof AppError && error.status === 503 && error.extras.outcome === undefined;

  it('succeeds when the transaction was made durable before the connection died', async () => {
    const db = new Database(losingNextCommit(createPostgresSource(t.config, 'lost-after'), 'after COMMIT'));
    try {
      assert.equal(await write(db, 1), 1);
      assert.equal(await write(db, 2), 2, 'the pool goes on with a new connection');
    } finally {
      await db.close();
    }
    assert.deepEqual(await scratch(), [{ id: 1 }, { id: 2 }]);
  });

  it('fails with 503 unavailable when it was not, and nothing is written', async () => {
    const db = new Database(losingNextCommit(createPostgresSource(t.config, 'lost-before'), 'before COMMIT'));
    try {
      await assert.rejects(write(db, 3), notWritten);
      assert.equal(await write(db, 4), 4);
    } finally {
      await db.close();
    }
    assert.deepEqual(
      (await scratch()).map((row) => row.id),
      [1, 2, 4],
    );
  });

  it('does not take a "committed" status for its own when its writes are not there (an id handed out again after a crash)', async () => {
    const db = new Database(
      losingNextCommit(createPostgresSource(t.config, 'lost-reused'), 'before COMMIT', { statusOfAnother: 'committed' }),
    );
    try {
      await assert.rejects(write(db, 5), notWritten);
    } finally {
      await db.close();
    }
    assert.deepEqual(
      (await scratch()).map((row) => row.id),
      [1, 2, 4],
    );
  });

  it('says the outcome is unknown (503, outcome "unknown") for a transaction that cannot confirm its writes', async () => {
    const db = new Database(losingNextCommit(createPostgresSource(t.config, 'lost-unconfirmable'), 'after COMMIT'));
    try {
      await assert.rejects(write(db, 6, { confirmable: false }), outcomeUnknown);
    } finally {
      await db.close();
    }
    assert.deepEqual(
      (await scratch()).map((row) => row.id),
      [1, 2, 4, 6],
      'it had in fact committed',
    );
  });

  it('says the outcome is unknown, never "nothing was written", when the database stays out of reach past the deadline', async () => {
    const db = new Database(
      losingNextCommit(createPostgresSource(t.config, 'lost-unknown'), 'after COMMIT', { databaseUnreachable: true }),
    );
    try {
      const startedAt = Date.now();
      const written = write(db, 7, { signal: AbortSignal.timeout(500) });
      await assert.rejects(written, outcomeUnknown);
      assert.ok(Date.now() - startedAt < 2_000, 'it gives up at the deadline');
    } finally {
      await db.close();
    }
    assert.deepEqual(
      (await scratch()).map((row) => row.id),
      [1, 2, 4, 6, 7],
      'it had in fact committed',
    );
  });
});
