import type { Config } from '../config.ts';
import { Database } from './database.ts';
import { createPgliteSource } from './pglite.ts';
import { createPostgresSource } from './postgres.ts';

/** Opens the database the configuration names: a PostgreSQL server, or embedded PGlite. */
export async function openDatabase(config: Config, applicationName?: string): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    return new Database(createPostgresSource(config, applicationName));
  }
  return new Database(
    await createPgliteSource({ dataDir: config.dataDir, acquireTimeoutMs: config.dbPoolAcquireTimeoutMs }),
  );
}
