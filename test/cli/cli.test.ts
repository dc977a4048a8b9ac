import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { seedDemo } from '../../src/cli/seed.ts';
import { Database } from '../../src/db/database.ts';
import { createPgliteSource } from '../../src/db/pglite.ts';
import { levelsDisagreeingWithLedger } from '../support/ledger.ts';
import { AppError } from '../../src/domain/errors.ts';
import { authenticate, login } from '../../src/services/auth.ts';
import { createLocation } from '../../src/services/locations.ts';
import { createUser } from '../../src/services/users.ts';
import { createTestDatabase, type TestDatabase } from '../support/helpers.ts';

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

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

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
    promisify(execFile)(process.execPath, ['bin/stockroom.mjs', 'user', 'create', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
    });

  it('creates an admin with a generated password shown once, or with STOCKROOM_USER_PASSWORD; refuses bad options with exit 2', async () => {
    const t = await createTestDatabase();
    if (t.db.kind === 'pglite') await t.db.close();
    try {
      const generated = await run(['--email', 'first@example.com', '--role', 'admin', '--name', 'First Admin'], t.env);
      assert.match(
        generated.stdout,
        /^created admin first@example.com \(id [0-9a-f-]{36}\)\n {2}password: (\S{16}) {3}\(shown this once\)/,
      );
      const chosen = await run(['--email', 'clerk@example.com', '--role', 'clerk'], {
        ...t.env,
        STOCKROOM_USER_PASSWORD: 'a chosen password',
      });
      assert.match(chosen.stdout, /^created clerk clerk@example.com \(id [0-9a-f-]{36}\)\n$/);
      for (const args of [
        ['--email', 'x@example.com', '--role', 'owner'],
        ['--role', 'admin'],
      ]) {
        await assert.rejects(
          run(args, t.env),
          (error: { code: number; stderr: string }) => error.code === 2 && /needs --/.test(error.stderr),
        );
      }
      await assert.rejects(
        run(['--email', 'FIRST@example.com', '--role', 'viewer'], t.env),
        (error: { code: number; stderr: string }) => error.code === 2 && /a user with this email already exists/.test(error.stderr),
      );
      const db =
        t.db.kind === 'pglite' ? new Database(await createPgliteSource({ dataDir: t.config.dataDir, acquireTimeoutMs: 5000 })) : t.db;
      try {
        const users = await db.connection((conn) =>
          conn.query<{ email: string; role: string }>('SELECT email, role FROM users ORDER BY email'),
        );
        assert.deepEqual(users, [
          { email: 'clerk@example.com', role: 'clerk' },
          { email: 'first@example.com', role: 'admin' },
        ]);
      } finally {
        if (db !== t.db) await db.close();
      }
    } finally {
      await t.destroy();
    }
  });
});

/** The test's database, for a look while no command runs: PGlite takes one process at a time. */
async function withDatabase<T>(t: TestDatabase, work: (db: Database) => Promise<T>): Promise<T> {
  const db = t.db.kind === 'pglite' ? new Database(await createPgliteSource({ dataDir: t.config.dataDir, acquireTimeoutMs: 5000 })) : t.db;
  try {
    return await work(db);
  } finally {
    if (db !== t.db) await db.close();
  }
}

/**
 * Fails unless the command failed with this exit code and one line on stderr — followed, for a
 * wrong command line, by the command's usage — and no stack; gives the line.
 */
async function refusal(running: Promise<unknown>, code: number): Promise<string> {
  const error = (await running.then(
    () => assert.fail('the command succeeded'),
    (failure: unknown) => failure,
  )) as { code: number; stderr: string };
  assert.equal(error.code, code, error.stderr);
  const [line, ...usage] = error.stderr.split('\n').filter((text) => text.trim() !== '');
  assert.ok(usage.length === 0 || usage[0] === 'usage:', `one line on stderr, and the usage: ${error.stderr}`);
  assert.ok(!/^\s+at /m.test(error.stderr), `no stack: ${error.stderr}`);
  return line!;
}

describe('stockroom user create, with locations and checks', () => {
  const run = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['bin/stockroom.mjs', 'user', 'create', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
    });
  let t: TestDatabase;
  let locationIds: string[];
  before(async () => {
    t = await createTestDatabase();
    const ctx = { db: t.db, actor: null };
    locationIds = [
      (await createLocation(ctx, { code: 'WH1', name: 'Warehouse 1' })).id,
      (await createLocation(ctx, { code: 'SHOP-2', name: 'Shop 2' })).id,
    ];
    if (t.db.kind === 'pglite') await t.db.close();
  });
  after(() => t.destroy());

  const clerkLocations = (email: string) =>
    withDatabase(t, (db) =>
      db.connection((conn) =>
        conn.query<{ id: string }>(
          'SELECT ul.location_id::text AS id FROM user_locations ul JOIN users u ON u.id = ul.user_id WHERE u.email = $1 ORDER BY 1',
          [email],
        ),
      ),
    );

  it('takes a location by its code (any case) or by its id', async () => {
    await run(['--email', 'clerk1@example.com', '--role', 'clerk', '--location', 'wh1', '--location', locationIds[1]!], {
      ...t.env,
      STOCKROOM_USER_PASSWORD: 'a chosen password',
    });
    assert.deepEqual(
      (await clerkLocations('clerk1@example.com')).map((row) => row.id),
      [...locationIds].sort(),
    );
  });

  it('refuses unknown locations in one line naming them, with exit 2, and creates nobody', async () => {
    const line = await refusal(
      run(
        [
          '--email',
          'clerk2@example.com',
          '--role',
          'clerk',
          '--location',
          'WH1',
          '--location',
          'WH9',
          '--location',
          '0190a0b0-0000-7000-8000-000000000000',
        ],
        t.env,
      ),
      2,
    );
    assert.match(line, /^stockroom: no location has the code or id "WH9", "0190a0b0-0000-7000-8000-000000000000"/);
    const count = await withDatabase(t, (db) =>
      db.connection((conn) => conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE email = 'clerk2@example.com'`)),
    );
    assert.equal(count[0]!.n, 0);
  });

  it('says what is wrong with an --email that was given, and with an unknown option', async () => {
    assert.match(await refusal(run(['--email', 'bad', '--role', 'admin'], t.env), 2), /^stockroom: --email "bad" is not an email address/);
    assert.match(
      await refusal(run(['--email', 'a@example.com', '--role', 'admin', '--colour', 'red'], t.env), 2),
      /^stockroom: .*--colour/,
    );
  });
});

describe('stockroom user reset-password', () => {
  const run = (args: string[], env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['bin/stockroom.mjs', 'user', 'reset-password', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
    });
  const policy = { sessionTtlHours: 1, maxAttempts: 5, windowS: 900 };
  const OLD_PASSWORD = 'the old password';

  it("sets a new password shown once, ends the user's sessions and forgets its failed logins; the old password no longer works", async () => {
    const t = await createTestDatabase();
    try {
      const ctx = { db: t.db, actor: null };
      const user = await createUser(ctx, { email: 'Forgetful@example.com', name: 'Forgetful', role: 'manager', password: OLD_PASSWORD });
      const session = await login(ctx, { email: 'forgetful@example.com', password: OLD_PASSWORD, address: '192.0.2.1' }, policy);
      await assert.rejects(
        login(ctx, { email: 'forgetful@example.com', password: 'a wrong guess', address: '192.0.2.2' }, policy),
        AppError,
      );
      if (t.db.kind === 'pglite') await t.db.close();

      const { stdout } = await run(['--email', 'forgetful@EXAMPLE.com'], t.env);
      const password =
        /^set a new password for manager Forgetful@example\.com and ended its sessions\n {2}password: (\S{16}) {3}\(shown this once\)\n$/.exec(
          stdout,
        )?.[1];
      assert.ok(password !== undefined, stdout);

      await withDatabase(t, async (db) => {
        const fresh = { db, actor: null };
        assert.equal(await authenticate({ db }, session.token), null, 'the session is ended');
        const attempts = await db.connection((conn) =>
          conn.query(`SELECT subject FROM login_attempts WHERE subject LIKE '%' || $1 || '%'`, [user.id]),
        );
        assert.deepEqual(attempts, [], 'the failed login is forgotten');
        await assert.rejects(
          login(fresh, { email: 'forgetful@example.com', password: OLD_PASSWORD, address: '192.0.2.1' }, policy),
          AppError,
        );
        const again = await login(fresh, { email: 'forgetful@example.com', password, address: '192.0.2.1' }, policy);
        assert.equal(again.user.id, user.id);
      });

      const line = await refusal(run(['--email', 'nobody@example.com'], { ...t.env, STOCKROOM_USER_PASSWORD: 'a chosen password' }), 2);
      assert.equal(line, 'stockroom: no user has the email nobody@example.com');
    } finally {
      await t.destroy();
    }
  });
});
