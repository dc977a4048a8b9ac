import type { Config } from '../config.ts';
import { Database } from './database.ts';
import { createPgliteSource } from './pglite.ts';
import { checkPostgresConnection, createPostgresSource } from './postgres.ts';

/**
 * Opens the database the configuration names: a PostgreSQL server, or embedded PGlite. A server
 * is connected to once first, so that one that can't be used is reported in one clear line
 * (DatabaseConnectionError) before anything else happens.
 */
export async function openDatabase(config: Config, applicationName?: string): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    await checkPostgresConnection(config, applicationName);
    return new Database(createPostgresSource(config, applicationName));
  }
  return new Database(await createPgliteSource({ dataDir: config.dataDir, acquireTimeoutMs: config.dbPoolAcquireTimeoutMs }));
}
