import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database, Queryable } from '../../src/db/database.ts';
import { deleteExpired } from '../../src/jobs/cleanup.ts';
import { createHarness, usingPostgres, type Harness } from '../support/helpers.ts';

// The clean-up job (src/jobs/cleanup.ts) on a real database, and what an app built by the test
// helpers starts: the server's jobs, unless it asks for none.

const SETTINGS = { idempotencyKeyTtlHours: 24, loginWindowS: 900, batchRowsMax: 10 };
const EXPIRED_ROWS = 25; // two full batches and a short one
/** The credentials seeded here: their secret hashes end in 'cafe'. */
const SEEDED_CREDENTIAL = `encode(secret_hash, 'hex') LIKE '%cafe'`;

describe('the clean-up job', () => {
  let h: Harness;
  let userId: string;
  const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));
  const count = async (text: string) => (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM ${text}`))[0]!.n;

  before(async () => {
    h = await createHarness();
    userId = (await sql<{ id: string }>('SELECT id FROM users LIMIT 1'))[0]!.id;
  });
  after(() => h.close());

  async function seed() {
    await sql(`DELETE FROM idempotency_keys`);
    await sql(`DELETE FROM login_attempts`);
    await sql(`DELETE FROM credentials WHERE ${SEEDED_CREDENTIAL}`);
    await sql(
      `INSERT INTO idempotency_keys (key, request_hash, status_code, response_body, created_at)
       SELECT 'old-' || g, 'h', 201, '{}', now() - interval '25 hours' FROM generate_series(1, $1::int) g
       UNION ALL SELECT 'live-' || g, 'h', 201, '{}', now() - interval '23 hours' FROM generate_series(1, 3) g`,
      [EXPIRED_ROWS],
    );
    await sql(
      `INSERT INTO login_attempts (subject, attempts, window_started_at)
       SELECT 'ip:old-' || g, 1, now() - interval '16 minutes' FROM generate_series(1, $1::int) g
       UNION ALL SELECT 'ip:live-' || g, 1, now() - interval '14 minutes' FROM generate_series(1, 3) g`,
      [EXPIRED_ROWS],
    );
    // Dead: revoked or expired over a day ago. Live: revoked or expired within the day, or neither.
    await sql(
      `INSERT INTO credentials (id, kind, user_id, secret_hash, revoked_at, expires_at)
       SELECT gen_random_uuid(), 'session', $1::uuid, decode(md5('dead' || g) || 'cafe', 'hex'),
              CASE WHEN g % 2 = 0 THEN now() - interval '25 hours' END, now() - interval '26 hours'
       FROM generate_series(1, $2::int) g
       UNION ALL SELECT gen_random_uuid(), 'session', $1::uuid, decode(md5('live' || g) || 'cafe', 'hex'),
              CASE WHEN g = 1 THEN now() - interval '23 hours' END, CASE WHEN g = 2 THEN now() - interval '23 hours' END
       FROM generate_series(1, 3) g`,
      [userId, EXPIRED_ROWS],
    );
  }

  /** The harness's database, recording what each transaction deleted (and calling `afterEach`). */
  function recording(afterEach: (deleted: number) => void = () => undefined) {
    const batches: number[] = [];
    const db = {
      transaction: (work: (tx: Queryable) => Promise<number>, options: object) =>
        h.db
          .transaction(async (tx) => {
            const deleted = await work(tx);
            batches.push(deleted);
            return deleted;
          }, options)
          .then((deleted) => {
            afterEach(deleted);
            return deleted;
          }),
    } as unknown as Database;
    return { db, batches };
  }

  it('deletes expired rows in bounded batches until a batch comes back short, and leaves live ones', async () => {
    await seed();
    const credentialsBefore = await count(`credentials`);
    const { db, batches } = recording();
    const deleted = await deleteExpired(db, SETTINGS, new AbortController().signal);
    assert.deepEqual(deleted, { idempotencyKeys: EXPIRED_ROWS, credentials: EXPIRED_ROWS, loginAttempts: EXPIRED_ROWS });
    assert.deepEqual(batches, [10, 10, 5, 10, 10, 5, 10, 10, 5]);
    assert.equal(await count(`idempotency_keys WHERE key LIKE 'live-%'`), 3);
    assert.equal(await count(`idempotency_keys`), 3);
    assert.equal(await count(`login_attempts`), 3);
    assert.equal(await count(`credentials`), credentialsBefore - EXPIRED_ROWS);
    assert.equal(await count(`credentials WHERE ${SEEDED_CREDENTIAL}`), 3, 'the live ones stay');

    const again = await deleteExpired(db, SETTINGS, new AbortController().signal);
    assert.deepEqual(again, { idempotencyKeys: 0, credentials: 0, loginAttempts: 0 }, 'nothing left to delete');
  });

  it('stops between batches when its signal aborts, keeping what the finished batches deleted', async () => {
    await seed();
    const controller = new AbortController();
    const { db, batches } = recording(() => controller.abort(new Error('shutting down')));
    await assert.rejects(deleteExpired(db, SETTINGS, controller.signal), /shutting down/);
    assert.deepEqual(batches, [10]);
    assert.equal(await count(`idempotency_keys`), EXPIRED_ROWS - 10 + 3);
    assert.equal(await count(`login_attempts`), EXPIRED_ROWS + 3, 'the next kind was not started');
  });
});

describe('an app built by the test helpers', () => {
  const listeners = async (h: Harness) => {
    if (!usingPostgres) return 0; // the embedded database has no listening connection to count
    const [{ name }] = await h.db.connection((db) => db.query<{ name: string }>(`SELECT current_setting('application_name') AS name`));
    const rows = await h.db.connection((db) => db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1`, [`${name}-listen`]));
    return rows.length;
  };

  it('without jobs, starts no background work: no credential cache, no LISTEN connection', async () => {
    const h = await createHarness({}, { jobs: false });
    try {
      assert.equal(h.jobs, undefined);
      assert.equal(h.credentials, undefined);
      assert.equal(await listeners(h), 0);
      // Requests are served all the same, each credential looked up.
      const me = await h.app.inject({ method: 'GET', url: '/api/v1/me', headers: h.auth });
      assert.equal(me.statusCode, 200);
    } finally {
      await h.close();
    }
  });

  it('starts the server’s jobs by default, and stops them when closed', async () => {
    const h = await createHarness();
    const cache = h.credentials;
    assert.ok(cache !== undefined);
    try {
      const deadline = Date.now() + 5000;
      while (!cache.live && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(cache.live, true);
      // Two on PostgreSQL: the credential cache's, and the event publisher's (for other instances' events).
      const deadline2 = Date.now() + 5000;
      while ((await listeners(h)) < (usingPostgres ? 2 : 0) && Date.now() < deadline2)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(await listeners(h), usingPostgres ? 2 : 0);
    } finally {
      await h.close();
    }
    assert.equal(cache.live, false, 'the cache stops with its listener');
  });
});
