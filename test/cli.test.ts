import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { seedDemo } from '../src/cli/seed.ts';
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
