import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { AppError } from '../../src/domain/errors.ts';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';

// The transaction owner when the connection itself fails under it.

describe('Database.transaction when its connection fails', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ dbPoolMax: 2 });
  });
  after(() => t.destroy());

  it(
    usingPostgres
      ? 'answers 503 when the server ends its connection between two statements, and the pool recovers without a restart'
      : 'rolls back a transaction whose statement failed, and the one connection serves the next',
    async () => {
      let outcome: unknown;
      if (usingPostgres) {
        const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
        await admin.connect();
        try {
          outcome = await t.db
            .transaction(async (tx) => {
              const [row] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
              await admin.query('SELECT pg_terminate_backend($1)', [row!.pid]);
              await new Promise((resolve) => setTimeout(resolve, 200)); // the 'error' arrives while no statement runs
              return tx.query('SELECT 1');
            })
            .catch((error: unknown) => error);
        } finally {
          await admin.end();
        }
        assert.ok(outcome instanceof AppError, `expected an AppError, got ${String(outcome)}`);
        assert.equal(outcome.code, 'unavailable');
        assert.ok(outcome.retryAfterS !== undefined);
      } else {
        outcome = await t.db
          .transaction(async (tx) => {
            await tx.query(`CREATE TEMPORARY TABLE scratch (n int)`);
            await tx.query(`INSERT INTO scratch VALUES (1)`);
            return tx.query('SELECT 1 / 0');
          })
          .catch((error: unknown) => error);
        assert.equal((outcome as { code?: string }).code, '22012');
        const [row] = await t.db.connection((db) =>
          db.query<{ found: boolean }>(`SELECT to_regclass('pg_temp.scratch') IS NOT NULL AS found`),
        );
        assert.equal(row!.found, false, 'the failed transaction was rolled back');
      }
      const [row] = await t.db.connection((db) => db.query<{ one: number }>('SELECT 1 AS one'));
      assert.equal(row!.one, 1);
      assert.equal(t.db.stats().inUse, 0);
    },
  );
});

describe('work before and after COMMIT', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
    await t.db.transaction((tx) => tx.exec('CREATE TABLE hook_test (n integer NOT NULL)'));
  });
  after(() => t.destroy());

  const count = async () =>
    Number((await t.db.connection((db) => db.query<{ n: number }>('SELECT count(*)::int AS n FROM hook_test')))[0]!.n);

  it('runs beforeCommit in the transaction, in order, then afterCommit once it has committed', async () => {
    const steps: string[] = [];
    await t.db.transaction(async (tx) => {
      tx.beforeCommit(async () => {
        steps.push('before 1');
        await tx.query('INSERT INTO hook_test VALUES (1)');
        tx.beforeCommit(async () => void steps.push('before 3 (added by 1)'));
      });
      tx.beforeCommit(async () => void steps.push('before 2'));
      tx.afterCommit(() => steps.push('after'));
      steps.push('work');
    });
    assert.deepEqual(steps, ['work', 'before 1', 'before 2', 'before 3 (added by 1)', 'after']);
    assert.equal(await count(), 1);
  });

  it('a failing beforeCommit rolls the whole transaction back, and afterCommit is never called', async () => {
    const before = await count();
    let after = false;
    const failure = await t.db
      .transaction(async (tx) => {
        await tx.query('INSERT INTO hook_test VALUES (2)');
        tx.beforeCommit(() => tx.query('INSERT INTO hook_test VALUES (NULL)').then(() => undefined));
        tx.afterCommit(() => (after = true));
      })
      .catch((error: unknown) => error);
    assert.ok(failure instanceof Error);
    assert.equal(await count(), before, 'nothing of it was written');
    assert.equal(after, false);
  });

  it('work that throws calls neither', async () => {
    let called = false;
    await t.db
      .transaction(async (tx) => {
        tx.beforeCommit(async () => void (called = true));
        tx.afterCommit(() => (called = true));
        throw new Error('no');
      })
      .catch(() => undefined);
    assert.equal(called, false);
  });
});
