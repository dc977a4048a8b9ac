import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';

// The `stockroom` command. Its exit codes are for scripts: 0 when all went well, 1 when some
// lines of an import failed (the rest was written, and the report says which), 2 for a wrong
// command line or a failure that stopped the command. Every failure is one line on stderr; a
// wrong command line is followed by the usage of the command it was meant for.

export const EXIT_OK = 0;
export const EXIT_SOME_LINES_FAILED = 1;
export const EXIT_FAILURE = 2;

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** What a command is given: its options and operands, parsed and checked against its own list. */
export interface Invocation {
  values: Values;
  operands: string[];
  config: () => Config;
}

export interface Command {
  /** The words that name it: `import products`. */
  name: string;
  /** Its synopsis, and what it does, as `--help` shows them. */
  usage: string;
  options: Options;
  /** How many operands it takes (the FILE of an import). */
  operands?: { min: number; max: number; names: string };
  /** Runs it; returns the exit code. Throws UsageError for a wrong command line. */
  run(invocation: Invocation): Promise<number>;
}

/** The command line was wrong: one line, the usage, exit 2. */
export class UsageError extends Error {}

/** Runs `work` on the database named by the configuration, migrated first. */
export async function onDatabase<T>(config: Config, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config);
  try {
    await migrate(db);
    return await work(db);
  } finally {
    await db.close();
  }
}
