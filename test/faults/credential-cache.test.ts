import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { Database } from '../../src/db/database.ts';
import { createPostgresSource } from '../../src/db/postgres.ts';
import { hashSecret } from '../../src/domain/secrets.ts';
import { backgroundJobs } from '../../src/jobs/background-jobs.ts';
import type { Supervisor } from '../../src/jobs/supervisor.ts';
import { credentialCacheFor, type CredentialCache } from '../../src/services/credential-cache.ts';

// Two app instances on one PostgreSQL database, each with a pool and a LISTEN connection of its
// own, as two processes would have: what one changes, the other must stop remembering
// (src/services/credential-cache.ts), also when its LISTEN connection is killed. It needs
// PostgreSQL in both runs of test:faults (on PGlite only one process can open the data
// directory, so there is no other instance to tell): without DATABASE_URL it takes a schema on
// the local server that CI runs. helpers.ts reads DATABASE_URL once, as it loads, hence the
// import after the assignment.
process.env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/test';
const { api, createHarness, testConfig } = await import('../support/helpers.ts');
const { createUser } = await import('../support/factories.ts');

describe('two instances on one PostgreSQL database', () => {
  let a: Awaited<ReturnType<typeof createHarness>>;
  let bDb: Database;
  let b: Awaited<ReturnType<typeof buildApp>>;
  let bJobs: Supervisor;
  let bCredentials: CredentialCache;
  const bName = `credential-cache-${process.pid}`;
  const sql = (text: string, params: unknown[] = []) => a.db.connection((db) => db.query(text, params));
  const me = (app: typeof b, token: string) => api(app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token}` });

  async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('timed out waiting');
      await sleep(10);
    }
  }

  before(async () => {
    // Each instance with the jobs its server starts: the credential cache listens in one of them.
    a = await createHarness({}, { jobs: true });
    bDb = new Database(createPostgresSource(a.config, bName));
    bCredentials = credentialCacheFor(a.config)!;
    b = await buildApp({ config: a.config, db: bDb, credentials: bCredentials });
    await b.ready();
    bJobs = backgroundJobs(bDb, a.config, b.log, { credentials: bCredentials });
    bJobs.start();
    await until(() => a.credentials?.live === true && bCredentials.live);
  });
  after(async () => {
    await b.close();
    await bJobs.stop();
    await bDb.close();
    await a.close();
  });

  it('revoking a token or disabling a user on one instance takes effect on the other within a moment', async () => {
    const clerk = await createUser(a.app, { role: 'clerk' });
    const created = await api(a.app, 'POST', '/api/v1/tokens', { name: 'till' }, clerk.auth);
    assert.equal(created.status, 201);
    const { id, token } = created.body as { id: string; token: string };
    assert.equal((await me(b, token)).status, 200);
    assert.equal((await me(b, clerk.token)).status, 200);
    assert.ok(bCredentials.size >= 2, 'the other instance remembers both credentials');

    assert.equal((await api(a.app, 'DELETE', `/api/v1/tokens/${id}`, undefined, clerk.auth)).status, 204);
    let startedAt = Date.now();
    await until(async () => (await me(b, token)).status === 401, 1_000);
    const revokedAfterMs = Date.now() - startedAt;
    assert.equal((await me(b, clerk.token)).status, 200, 'the session was not revoked');

    assert.equal((await api(a.app, 'PATCH', `/api/v1/users/${clerk.user.id}`, { disabled: true })).status, 200);
    startedAt = Date.now();
    await until(async () => (await me(b, clerk.token)).status === 401, 1_000);
    assert.ok(revokedAfterMs < 1_000 && Date.now() - startedAt < 1_000);
  });

  it("a user's new password (PATCH /me) on one instance ends its other sessions on the other within a moment", async () => {
    const viewer = await createUser(a.app, { role: 'viewer' });
    const login = await api(
      b,
      'POST',
      '/api/v1/auth/login',
      { email: viewer.user.email, password: 'a password of some length' },
      { authorization: undefined },
    );
    assert.equal(login.status, 200);
    const other = login.body.token as string;
    const token = (await api(a.app, 'POST', '/api/v1/tokens', { name: 'kept' }, viewer.auth)).body.token as string;
    for (const secret of [viewer.token, other, token]) assert.equal((await me(b, secret)).status, 200);

    const changed = await api(
      a.app,
      'PATCH',
      '/api/v1/me',
      { currentPassword: 'a password of some length', password: 'a new password here' },
      viewer.auth,
    );
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const startedAt = Date.now();
    await until(async () => (await me(b, other)).status === 401, 1_000);
    assert.ok(Date.now() - startedAt < 1_000);
    assert.equal((await me(b, viewer.token)).status, 200, 'the session that changed it goes on, on both');
    assert.equal((await me(b, token)).status, 200, 'API tokens stay');
  });

  it('remembers nothing while its LISTEN connection is down, and again once it is back', async () => {
    const first = await createUser(a.app, { role: 'viewer' });
    const second = await createUser(a.app, { role: 'viewer' });
    assert.equal((await me(b, first.token)).status, 200);
    const cache = bCredentials;
    assert.ok(cache.size >= 1);

    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const ended = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [
        `${bName}-listen`,
      ]);
      assert.equal(ended.rowCount, 1);
    } finally {
      await admin.end();
    }
    await until(() => !cache.live);
    assert.equal(cache.size, 0);
    // A change behind the service's back, with no NOTIFY: unheard, but nothing is remembered.
    await sql(`UPDATE credentials SET revoked_at = now() WHERE secret_hash = $1`, [hashSecret(first.token)]);
    assert.equal((await me(b, first.token)).status, 401);

    await until(() => cache.live);
    assert.equal((await me(b, second.token)).status, 200);
    assert.ok(cache.size >= 1, 'remembering again once listening');
  });

  it('sees a change made behind its back (SQL by hand, no NOTIFY) after AUTH_CACHE_TTL_S at most', async () => {
    const shortDb = new Database(createPostgresSource(a.config, `${bName}-short`));
    const shortConfig = testConfig({ ...a.config, authCacheTtlS: 1 });
    const shortCredentials = credentialCacheFor(shortConfig)!;
    const short = await buildApp({ config: shortConfig, db: shortDb, credentials: shortCredentials });
    const shortJobs = backgroundJobs(shortDb, shortConfig, short.log, { credentials: shortCredentials });
    shortJobs.start();
    try {
      await until(() => shortCredentials.live);
      const viewer = await createUser(a.app, { role: 'viewer' });
      assert.equal((await me(short, viewer.token)).status, 200);
      await sql(`UPDATE credentials SET revoked_at = now() WHERE secret_hash = $1`, [hashSecret(viewer.token)]);
      assert.equal((await me(short, viewer.token)).status, 200, 'remembered: the change was not announced');
      await sleep(1_050);
      assert.equal((await me(short, viewer.token)).status, 401);
    } finally {
      await short.close();
      await shortJobs.stop();
      await shortDb.close();
    }
  });
});
