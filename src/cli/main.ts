import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { DataDirLockedError, DataDirPermissionError } from '../db/datadir-lock.ts';
import { AppError } from '../domain/errors.ts';
import { migrate } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { DatabaseConnectionError } from '../db/postgres.ts';
import { ListenError, serve } from '../server.ts';
import { seedDemo } from './seed.ts';
import { USER_USAGE, userCommand } from './user.ts';

const USAGE = `usage: stockroom <command>
(from a copy of the repository, run it as: npm run stockroom -- <command>)

  serve            migrate the database, then serve the API (the default)
  migrate          apply pending migrations and exit
  seed --demo      load a demo data set: locations, ~200 products, 90 days of movements
${USER_USAGE}

Configuration comes from the environment: see the README.`;

const HELP_HINT = 'see `npm run stockroom -- --help`';

/** The command line was wrong: exit 64 (EX_USAGE). */
class UsageError extends Error {}

/**
 * What a command can do instead while a server holds the embedded database (which takes one
 * process at a time); `serve` keeps the lock's own message.
 */
const WHILE_THE_SERVER_RUNS: Record<string, string> = {
  'user create': 'stop the server first, or, while it runs, create the user through the API as an admin: POST /api/v1/users',
  'user reset-password':
    'stop the server first, or, while it runs, have an admin set the password through the API: PATCH /api/v1/users/{id} with a password',
  seed: 'stop the server first, then start it again once the data set is loaded',
  migrate: 'the server applies pending migrations itself when it starts',
};

function dataDirInUse(error: DataDirLockedError, command: string): string {
  const advice = WHILE_THE_SERVER_RUNS[command];
  if (advice === undefined || error.ownerPid === undefined) return error.message;
  return `the embedded database in ${error.dataDir} is in use by another Stockroom process (pid ${error.ownerPid}), most likely the server, and it takes one process at a time: ${advice}`;
}

async function main(argv: string[], setCommand: (name: string) => void) {
  let parsed;
  try {
    parsed = parseArgs({
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
  } catch (error) {
    // An unknown option, or one missing its value: node's message says which.
    throw new UsageError((error as Error).message);
  }
  const { positionals, values } = parsed;
  const command = positionals[0] ?? 'serve';
  setCommand(command === 'user' ? `user ${positionals[1] ?? ''}`.trim() : command);
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
      const subcommand = positionals[1];
      if (subcommand !== 'create' && subcommand !== 'reset-password') {
        throw new UsageError('the user command has two subcommands: create, reset-password');
      }
      const usage = (error: unknown) => (error instanceof RangeError ? new UsageError(error.message) : error);
      let run: ReturnType<typeof userCommand>;
      try {
        run = userCommand(subcommand, values, process.env.STOCKROOM_USER_PASSWORD);
      } catch (error) {
        throw usage(error);
      }
      const db = await openDatabase(config);
      try {
        await migrate(db);
        console.log(await run(db));
      } catch (error) {
        throw usage(error);
      } finally {
        await db.close();
      }
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

/**
 * Every failure is one line on stderr and an exit code. Operating errors (configuration, the
 * database, the port, the command line) say what to do; anything else is a bug, whose stack is
 * printed too when LOG_LEVEL is debug or trace, or DEBUG is set.
 */
function report(error: unknown, command: string): number {
  const showStack = ['debug', 'trace'].includes(process.env.LOG_LEVEL?.trim() ?? '') || (process.env.DEBUG ?? '') !== '';
  let line: string;
  if (error instanceof ConfigError) line = `invalid configuration: ${error.message}`;
  else if (error instanceof DataDirLockedError) line = dataDirInUse(error, command);
  else if (error instanceof DataDirPermissionError || error instanceof DatabaseConnectionError || error instanceof ListenError) {
    line = error.message;
  } else if (error instanceof AppError) line = error.detail;
  else if (error instanceof UsageError) line = `${error.message} (${HELP_HINT})`;
  else {
    const message = error instanceof Error ? error.message : String(error);
    line = showStack ? message : `${message} (an unexpected error: set LOG_LEVEL=debug to see where it came from)`;
    if (showStack) console.error(error);
  }
  console.error(`stockroom: ${oneLine(line)}`);
  return error instanceof UsageError ? 64 : 1;
}

let commandName = 'serve';
main(process.argv.slice(2), (name) => {
  commandName = name;
}).catch((error: unknown) => {
  process.exit(report(error, commandName));
});
