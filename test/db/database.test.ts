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
