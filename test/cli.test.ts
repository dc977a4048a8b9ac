import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { seedDemo } from '../src/cli/seed.ts';
import { Database } from '../src/db/database.ts';
import { createPgliteSource } from '../src/db/pglite.ts';
import { levelsDisagreeingWithLedger } from '../src/db/stock.ts';
import { createTestDatabase, type TestDatabase } from './helpers.ts';

describe('stockroom seed --demo', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase();
  });
  after(() => t.destroy());

  it('loads locations, 200 products in categories and thousands of movements over 90 days, consistently', async () => {
    const summary = await seedDemo(t.db);
    assert.match(summary, /^loaded the demo data set: 5 locations, 7 categories, 200 products, \d+ movements over 90 days/);
    const counts = await t.db.connection(async (db) => {
      const [row] = await db.query<{ products: number; categorised: number; movements: number; days: number; negative: number }>(
        `SELECT (SELECT count(*)::int FROM products) AS products,
                (SELECT count(*)::int FROM products WHERE category_id IS NOT NULL) AS categorised,
                (SELECT count(*)::int FROM movements) AS movements,
                (SELECT extract(day FROM max(created_at) - min(created_at))::int FROM movements) AS days,
                (SELECT count(*)::int FROM stock_levels WHERE NOT allow_negative AND on_hand < 0) AS negative`,
      );
      return row!;
    });
    assert.equal(counts.products, 200);
    assert.equal(counts.categorised, 200);
    assert.ok(counts.movements >= 2000, `${counts.movements} movements`);
    assert.ok(counts.days >= 88, `movements span ${counts.days} days`);
    assert.equal(counts.negative, 0);
    assert.deepEqual(await t.db.connection((db) => levelsDisagreeingWithLedger(db)), []);
  });

  it('does not load the data set twice', async () => {
    assert.equal(await seedDemo(t.db), 'the demo data set is already loaded (location WH-CENTRAL exists)');
  });
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('stockroom migrate', () => {
  it('says the database is up to date when every migration is applied, and exits 0', async () => {
    const t = await createTestDatabase();
    // The embedded database takes one process at a time: let go of it for the command.
    if (t.db.kind === 'pglite') await t.db.close();
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ['bin/stockroom.mjs', 'migrate'], {
        cwd: ROOT,
        env: { ...process.env, ...t.env, LOG_LEVEL: 'silent' },
      });
      assert.equal(stdout.trim(), 'the database is up to date');
    } finally {
      await t.destroy();
    }
  });
});

describe('stockroom user create', () => {
  const run = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['bin/stockroom.mjs', 'user', 'create', ...args], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'silent' } });

  it('creates an admin with a generated password shown once, or with STOCKROOM_USER_PASSWORD; refuses bad options with exit 64', async () => {
    const t = await createTestDatabase();
    if (t.db.kind === 'pglite') await t.db.close();
    try {
      const generated = await run(['--email', 'first@example.com', '--role', 'admin', '--name', 'First Admin'], t.env);
      assert.match(generated.stdout, /^created admin first@example.com \(id [0-9a-f-]{36}\)\n {2}password: (\S{16}) {3}\(shown this once\)/);
      const chosen = await run(['--email', 'clerk@example.com', '--role', 'clerk'], { ...t.env, STOCKROOM_USER_PASSWORD: 'a chosen password' });
      assert.match(chosen.stdout, /^created clerk clerk@example.com \(id [0-9a-f-]{36}\)\n$/);
      for (const args of [['--email', 'x@example.com', '--role', 'owner'], ['--role', 'admin']]) {
        await assert.rejects(run(args, t.env), (error: { code: number; stderr: string }) => error.code === 64 && /needs --/.test(error.stderr));
      }
      await assert.rejects(run(['--email', 'FIRST@example.com', '--role', 'viewer'], t.env), (error: { code: number; stderr: string }) =>
        error.code === 1 && /a user with this email already exists/.test(error.stderr));
      const db = t.db.kind === 'pglite' ? new Database(await createPgliteSource({ dataDir: t.config.dataDir, acquireTimeoutMs: 5000 })) : t.db;
      try {
        const users = await db.connection((conn) => conn.query<{ email: string; role: string }>('SELECT email, role FROM users ORDER BY email'));
        assert.deepEqual(users, [{ email: 'clerk@example.com', role: 'clerk' }, { email: 'first@example.com', role: 'admin' }]);
      } finally {
        if (db !== t.db) await db.close();
      }
    } finally {
      await t.destroy();
    }
  });
});
