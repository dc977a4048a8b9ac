import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import type { AuthenticatedRow } from '../src/db/credentials.ts';
import { Database } from '../src/db/database.ts';
import { createPostgresSource } from '../src/db/postgres.ts';
import { hashSecret } from '../src/domain/secrets.ts';
import { CredentialCache, credentialCacheOf } from '../src/services/credential-cache.ts';

// What an instance remembers of credentials (src/services/credential-cache.ts), and how it
// forgets: the cache alone, then two app instances on one PostgreSQL database, each with a pool
// and a LISTEN connection of its own, as two processes would have. Changes made through one must
// reach the other. This needs PostgreSQL in both runs of `npm test` (on PGlite only one process
// can open the data directory, so there is no other instance to tell): without DATABASE_URL it
// takes a schema on the local server that CI runs. helpers.ts reads DATABASE_URL once, as it
// loads, hence the import after the assignment.
process.env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/test';
const { api, createHarness, testConfig } = await import('./helpers.ts');
const { createUser } = await import('./factories.ts');

const row = (expiresAt: Date | null = null): AuthenticatedRow => ({
  credentialId: 'c',
  kind: 'token',
  userId: 'u',
  userName: 'User',
  userRole: 'clerk',
  tokenRole: 'viewer',
  locationIds: [],
  lastUsedAt: null,
  expiresAt,
});

describe('the credential cache', () => {
  it('remembers a credential until its time to live, and never past the credential’s own expiry', () => {
    const cache = new CredentialCache({ ttlS: 10 }, () => true);
    cache.put('a', row(), cache.generation, 1_000);
    cache.put('b', row(new Date(5_000)), cache.generation, 1_000);
    assert.ok(cache.get('a', 10_999));
    assert.equal(cache.get('a', 11_000), undefined);
    assert.ok(cache.get('b', 4_999));
    assert.equal(cache.get('b', 5_000), undefined);
  });

  it('does not store a lookup that was running when it was cleared', () => {
    const cache = new CredentialCache({ ttlS: 10 }, () => true);
    const started = cache.generation;
    cache.clear();
    cache.put('a', row(), started);
    assert.equal(cache.get('a'), undefined);
    cache.put('a', row(), cache.generation);
    assert.ok(cache.get('a'));
  });

  it('neither stores nor answers while it is not live', () => {
    let live = true;
    const cache = new CredentialCache({ ttlS: 10 }, () => live);
    cache.put('a', row(), cache.generation);
    live = false;
    assert.equal(cache.get('a'), undefined);
    cache.put('b', row(), cache.generation);
    live = true;
    assert.equal(cache.get('b'), undefined);
  });

  it('drops the oldest entry when full, and stores nothing with a time to live of 0', () => {
    const cache = new CredentialCache({ ttlS: 10, maxEntries: 2 }, () => true);
    for (const key of ['a', 'b', 'c']) cache.put(key, row(), cache.generation);
    assert.deepEqual([cache.get('a'), cache.size], [undefined, 2]);
    assert.ok(cache.get('c'));
    const off = new CredentialCache({ ttlS: 0 }, () => true);
    off.put('a', row(), off.generation);
    assert.equal(off.size, 0);
  });
});

describe('two instances on one PostgreSQL database', () => {
  let a: Awaited<ReturnType<typeof createHarness>>;
  let bDb: Database;
  let b: Awaited<ReturnType<typeof buildApp>>;
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
    a = await createHarness();
    bDb = new Database(createPostgresSource(a.config, bName));
    b = await buildApp({ config: a.config, db: bDb });
    await b.ready();
    await until(() => credentialCacheOf(a.db)!.live && credentialCacheOf(bDb)!.live);
  });
  after(async () => {
    await b.close();
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
    assert.ok(credentialCacheOf(bDb)!.size >= 2, 'the other instance remembers both credentials');

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

  it('remembers nothing while its LISTEN connection is down, and again once it is back', async () => {
    const first = await createUser(a.app, { role: 'viewer' });
    const second = await createUser(a.app, { role: 'viewer' });
    assert.equal((await me(b, first.token)).status, 200);
    const cache = credentialCacheOf(bDb)!;
    assert.ok(cache.size >= 1);

    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      const ended = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`${bName}-listen`]);
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
    const short = await buildApp({ config: testConfig({ ...a.config, authCacheTtlS: 1 }), db: shortDb });
    try {
      await until(() => credentialCacheOf(shortDb)!.live);
      const viewer = await createUser(a.app, { role: 'viewer' });
      assert.equal((await me(short, viewer.token)).status, 200);
      await sql(`UPDATE credentials SET revoked_at = now() WHERE secret_hash = $1`, [hashSecret(viewer.token)]);
      assert.equal((await me(short, viewer.token)).status, 200, 'remembered: the change was not announced');
      await sleep(1_050);
      assert.equal((await me(short, viewer.token)).status, 401);
    } finally {
      await short.close();
      await shortDb.close();
    }
  });
});
