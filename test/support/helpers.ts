import { cp, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { Database } from '../../src/db/database.ts';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import { createPgliteSource } from '../../src/db/pglite.ts';
import { createPostgresSource } from '../../src/db/postgres.ts';
import { backgroundJobs } from '../../src/jobs/background-jobs.ts';
import { credentialCacheFor, type CredentialCache } from '../../src/services/credential-cache.ts';
import { EventFeed } from '../../src/services/event-feed.ts';
import type { Supervisor } from '../../src/jobs/supervisor.ts';
import { createFirstAdmin } from '../../src/services/users.ts';
import { TEST_ADMIN } from './test-admin.ts';

// Every test file gets a database of its own, migrated: on PostgreSQL (DATABASE_URL set) a fresh
// schema, dropped afterwards; on PGlite a copy of a migrated template data directory, because
// creating a PGlite data directory takes seconds and reopening a copy takes a fraction of one.

export const usingPostgres = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '';

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ DATABASE_URL: process.env.DATABASE_URL }), logLevel: 'silent', ...overrides };
}

export interface TestDatabase {
  db: Database;
  /** A config that points at this database (for apps, and for servers spawned as processes). */
  config: Config;
  /** Environment variables that point a spawned server at this database. */
  env: Record<string, string>;
  /** Closes the database and removes what was made for it. */
  destroy(): Promise<void>;
}

const TEMPLATE_ROOT = join(process.cwd(), 'node_modules', '.cache', 'stockroom-test');

async function exists(path: string) {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A migrated PGlite data directory for this set of migrations, made once and reused. */
async function pgliteTemplate(): Promise<string> {
  const migrations = await loadMigrations();
  const hash = createHash('sha256')
    .update(migrations.map((m) => m.id + m.sql).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const template = join(TEMPLATE_ROOT, `pglite-${hash}`);
  if (await exists(template)) return template;
  await mkdir(TEMPLATE_ROOT, { recursive: true });
  const building = await mkdtemp(join(TEMPLATE_ROOT, 'building-'));
  const db = new Database(await createPgliteSource({ dataDir: building, acquireTimeoutMs: 60_000 }));
  await migrate(db);
  await db.close();
  // Renaming is atomic: if another test process finished first, its template stands.
  await rename(building, template).catch(() => rm(building, { recursive: true, force: true }));
  return template;
}

/** Drops the schemas that test processes killed before their clean-up left behind. */
async function dropSchemasOfDeadRuns(admin: pg.Client) {
  const { rows } = await admin.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^test_[0-9]+_[a-z0-9]+$'`,
  );
  for (const { name } of rows) {
    const pid = Number(name.split('_')[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`).catch(() => undefined);
  }
}

export async function createTestDatabase(overrides: Partial<Config> = {}): Promise<TestDatabase> {
  if (usingPostgres) {
    const schema = `test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await dropSchemasOfDeadRuns(admin);
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const url = new URL(process.env.DATABASE_URL!);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const config = testConfig({ databaseUrl: url.toString(), ...overrides });
    const db = new Database(createPostgresSource(config, schema));
    await migrate(db);
    return {
      db,
      config,
      env: { DATABASE_URL: url.toString() },
      async destroy() {
        await db.close();
        const cleanup = new pg.Client({ connectionString: process.env.DATABASE_URL });
        await cleanup.connect();
        await cleanup.query(`DROP SCHEMA ${schema} CASCADE`);
        await cleanup.end();
      },
    };
  }
  const template = await pgliteTemplate();
  const dataDir = await mkdtemp(join(tmpdir(), 'stockroom-test-'));
  await cp(template, dataDir, { recursive: true });
  const config = testConfig({ databaseUrl: undefined, dataDir, ...overrides });
  const db = new Database(await createPgliteSource({ dataDir, acquireTimeoutMs: config.dbPoolAcquireTimeoutMs }));
  return {
    db,
    config,
    env: { STOCKROOM_DATA_DIR: dataDir },
    async destroy() {
      await db.close().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof buildApp>>;

export { TEST_ADMIN };

/** Credentials `api()` sends when a test gives none: the harness admin's bearer token. */
const defaultAuthorization = new WeakMap<TestApp, string>();

export interface Harness extends TestDatabase {
  app: TestApp;
  /** The admin's bearer token, and the header that carries it (for fetch over real HTTP). */
  token: string;
  auth: { authorization: string };
  /** The background jobs the server runs (started), unless asked for none with `{ jobs: false }`. */
  jobs: Supervisor | undefined;
  /** The app's credential cache, kept live by the jobs; none without jobs. */
  credentials: CredentialCache | undefined;
  /** The app's event feed, published to by the jobs; none without jobs. */
  events: EventFeed | undefined;
  close(): Promise<void>;
}

/**
 * A migrated database, the app on it, and a logged-in admin whose token `api()` sends by default.
 * It starts the background jobs the server starts (src/jobs/background-jobs.ts), so that requests
 * go through the credential cache as in production; `{ jobs: false }` builds it without them.
 * Call `close()` in an `after` hook.
 */
export async function createHarness(overrides: Partial<Config> = {}, options: { jobs?: boolean } = {}): Promise<Harness> {
  const database = await createTestDatabase(overrides);
  const withJobs = options.jobs !== false;
  const credentials = withJobs ? credentialCacheFor(database.config) : undefined;
  const events = withJobs ? new EventFeed(database.db, { warn: (details, message) => app.log.warn(details, message) }) : undefined;
  const app = await buildApp({ config: database.config, db: database.db, credentials, events });
  await app.ready();
  const jobs = withJobs ? backgroundJobs(database.db, database.config, app.log, { credentials, events }) : undefined;
  jobs?.start();
  await createFirstAdmin({ db: database.db, actor: null }, TEST_ADMIN);
  const login = await api(app, 'POST', '/api/v1/auth/login', TEST_ADMIN);
  if (login.status !== 200) throw new Error(`harness login failed: ${JSON.stringify(login.body)}`);
  const auth = { authorization: `Bearer ${login.body.token}` };
  defaultAuthorization.set(app, auth.authorization);
  return {
    ...database,
    app,
    token: login.body.token,
    auth,
    jobs,
    credentials,
    events,
    async close() {
      await app.close();
      await jobs?.stop();
      events?.close();
      await database.destroy();
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: T;
}

/**
 * One request through app.inject, with the JSON answer parsed. It carries the harness admin's
 * token unless `headers` has an `authorization` or `cookie` of its own; `authorization: undefined`
 * sends no credentials at all.
 */
export async function api<T = any>(
  app: TestApp,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  url: string,
  payload?: unknown,
  headers: Record<string, string | undefined> = {},
): Promise<ApiResponse<T>> {
  const fallback = defaultAuthorization.get(app);
  const withAuth: Record<string, string | undefined> =
    'authorization' in headers || 'cookie' in headers || fallback === undefined ? headers : { authorization: fallback, ...headers };
  const sent = Object.fromEntries(Object.entries(withAuth).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await app.inject({
    method,
    url,
    headers: payload === undefined ? sent : { 'content-type': 'application/json', ...sent },
    ...(payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
  });
  const text = response.body;
  return { status: response.statusCode, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Listens on a free loopback port, for tests that need real HTTP; returns the base URL. */
export async function listen(app: TestApp): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}
