import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

// Plain SQL migrations, applied in file-name order, all in one transaction under an advisory
// lock: several instances starting at once against one PostgreSQL migrate exactly once, and a
// failed migration leaves the schema as it was.

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  id: string;
  sql: string;
}

let loaded: Promise<Migration[]> | undefined;

export function loadMigrations(): Promise<Migration[]> {
  loaded ??= (async () => {
    const files = (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).sort();
    return Promise.all(files.map(async (file) => ({ id: file.replace(/\.sql$/, ''), sql: await readFile(MIGRATIONS_DIR + file, 'utf8') })));
  })();
  return loaded;
}

/** Applies the migrations not yet applied and returns their ids. */
export async function migrate(db: Database): Promise<string[]> {
  const migrations = await loadMigrations();
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('stockroom.migrate.' || current_schema(), 0))`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         id text PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const applied = new Set((await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((row) => row.id));
    const pending = migrations.filter((migration) => !applied.has(migration.id));
    for (const migration of pending) {
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
    }
    return pending.map((migration) => migration.id);
  });
}

/** True when every migration this build knows of has been applied. */
export async function isMigrated(db: Database, signal?: AbortSignal): Promise<boolean> {
  const migrations = await loadMigrations();
  const rows = await db.connection(
    (conn) =>
      conn.query<{ applied: number }>(`SELECT count(*)::int AS applied FROM schema_migrations WHERE id = ANY($1::text[])`, [
        migrations.map((migration) => migration.id),
      ]),
    { signal },
  );
  return rows[0]?.applied === migrations.length;
}
