import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { DataDirLockedError } from '../db/datadir-lock.ts';
import { AppError } from '../domain/errors.ts';
import { migrate } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { serve } from '../server.ts';
import { seedDemo } from './seed.ts';
import { createUserCommand, USER_USAGE } from './user.ts';

const USAGE = `usage: stockroom <command>

  serve            migrate the database, then serve the API (the default)
  migrate          apply pending migrations and exit
  seed --demo      load a demo data set: locations, ~200 products, 90 days of movements
${USER_USAGE}

Configuration comes from the environment: see the README.`;

async function main(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      demo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      location: { type: 'string', multiple: true },
    },
  });
  const command = positionals[0] ?? 'serve';
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
      await serve(config);
      return;
    case 'migrate': {
      const db = await openDatabase(config);
      try {
        const applied = await migrate(db);
        console.log(applied.length === 0 ? 'the database is up to date' : `applied ${applied.join(', ')}`);
      } finally {
        await db.close();
      }
      return;
    }
    case 'seed': {
      if (!values.demo) throw new UsageError('seed needs --demo (the only data set there is)');
      const db = await openDatabase(config);
      try {
        await migrate(db);
        console.log(await seedDemo(db));
      } finally {
        await db.close();
      }
      return;
    }
    case 'user': {
      if (positionals[1] !== 'create') throw new UsageError('the user command has one subcommand: create');
      const db = await openDatabase(config);
      try {
        await migrate(db);
        console.log(await createUserCommand(db, values, process.env.STOCKROOM_USER_PASSWORD));
      } catch (error) {
        if (error instanceof RangeError) throw new UsageError(error.message);
        throw error;
      } finally {
        await db.close();
      }
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Operating errors get one clear line; anything else is a bug and shows its stack.
  if (error instanceof ConfigError) console.error(`stockroom: invalid configuration: ${error.message}`);
  else if (error instanceof DataDirLockedError) console.error(`stockroom: ${error.message}`);
  else if (error instanceof AppError) console.error(`stockroom: ${error.detail}`);
  else if (error instanceof UsageError) console.error(`stockroom: ${error.message}\n\n${USAGE}`);
  else if ((error as { code?: string }).code === 'ECONNREFUSED') console.error(`stockroom: can't reach the database: ${(error as Error).message}`);
  else console.error(error);
  process.exit(error instanceof UsageError ? 64 : 1);
});
