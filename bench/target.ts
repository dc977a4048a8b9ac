import { loadConfig } from '../src/config.ts';
import type { ConnectionSource, Queryable } from '../src/db/database.ts';
import { createPgliteSource } from '../src/db/pglite.ts';
import { createPostgresSource } from '../src/db/postgres.ts';

// Where a benchmark's data lives: a schema of its own on a PostgreSQL server, or a PGlite data
// directory. The loader and the baselines reach it through the same driver and pool code the
// server uses (src/db/postgres.ts, src/db/pglite.ts) but none of the service above them, so a
// baseline pays for the driver, its type parsers and the pool, as the server does, and no more.

export type Target = { kind: 'postgres'; databaseUrl: string; poolMax: number } | { kind: 'pglite'; dataDir: string };

// Loading and baselines queue for connections by design: they must wait, never fail, for one.
const PATIENT_MS = 600_000;

export async function openSource(target: Target): Promise<ConnectionSource> {
  if (target.kind === 'pglite') return createPgliteSource({ dataDir: target.dataDir, acquireTimeoutMs: PATIENT_MS });
  const config = { ...loadConfig({}), databaseUrl: target.databaseUrl, dbPoolMax: target.poolMax };
  return createPostgresSource({ ...config, dbPoolAcquireTimeoutMs: PATIENT_MS, dbStatementTimeoutMs: 3_600_000 }, 'stockroom-bench');
}

/** Runs `work` on one connection of the source and gives the connection back. */
export async function withConnection<T>(source: ConnectionSource, work: (db: Queryable) => Promise<T>): Promise<T> {
  const connection = await source.acquire();
  const db: Queryable = {
    query: async <Row>(text: string, params?: readonly unknown[]) => (await connection.run(text, params)) as Row[],
    exec: (script) => connection.exec(script),
  };
  try {
    return await work(db);
  } finally {
    connection.release(false);
  }
}

/** The admin the benchmark's server creates at start-up, and the benchmark logs in as. */
export const BENCH_ADMIN = { email: 'bench@stockroom.test', password: 'benchmark password' };

/** What the server's environment says to serve the target (and nothing that would point elsewhere). */
export function serverEnv(target: Target): Record<string, string> {
  const { DATABASE_URL: _url, STOCKROOM_DATA_DIR: _dir, ...inherited } = process.env as Record<string, string>;
  const admin = { STOCKROOM_ADMIN_EMAIL: BENCH_ADMIN.email, STOCKROOM_ADMIN_PASSWORD: BENCH_ADMIN.password };
  return target.kind === 'postgres'
    ? { ...inherited, ...admin, DATABASE_URL: target.databaseUrl, DB_POOL_MAX: String(target.poolMax) }
    : { ...inherited, ...admin, STOCKROOM_DATA_DIR: target.dataDir };
}
