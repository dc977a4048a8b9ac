import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { DataDirLockedError, DataDirPermissionError } from '../db/datadir-lock.ts';
import { AppError } from '../domain/errors.ts';
import { migrate } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { DatabaseConnectionError } from '../db/postgres.ts';
import { ListenError, serve } from '../server.ts';
import { EXIT_FAILURE, EXIT_OK, UsageError, onDatabase, type Command, type Options } from './command.ts';
import { seedDemo } from './seed.ts';
import { exportCommands } from './exports.ts';
import { importCommands } from './imports.ts';
import { userCommands } from './user.ts';

// The \`stockroom\` command line: finds the command the words name, parses its options against its
// own list, and turns every failure into one line and an exit code (src/cli/command.ts).

const HELP = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

const COMMANDS: Command[] = [
  {
    name: 'serve',
    usage: `serve            migrate the database, then serve the API (the default)`,
    options: {},
    async run({ config }) {
      await serve(config());
      return EXIT_OK;
    },
  },
  {
    name: 'migrate',
    usage: `migrate          apply pending migrations and exit`,
    options: {},
    async run({ config }) {
      const db = await openDatabase(config());
      try {
        const applied = await migrate(db);
        console.log(applied.length === 0 ? 'the database is up to date' : `applied ${applied.join(', ')}`);
      } finally {
        await db.close();
      }
      return EXIT_OK;
    },
  },
  {
    name: 'seed',
    usage: `seed --demo      load a demo data set: locations, ~200 products, 90 days of movements`,
    options: { demo: { type: 'boolean' } },
    async run({ values, config }) {
      if (values.demo !== true) throw new UsageError('seed needs --demo (the only data set there is)');
      console.log(await onDatabase(config(), seedDemo));
      return EXIT_OK;
    },
  },
  ...userCommands,
  ...importCommands,
  ...exportCommands,
];

const usageOf = (commands: Command[]) => commands.map((command) => `  ${command.usage}`).join('\n');

function generalUsage(): string {
  return `usage: stockroom <command> [options]
(from a copy of the repository, run it as: npm run stockroom -- <command>)

${usageOf(COMMANDS)}

\`stockroom <command> --help\` tells more of one. Configuration comes from the environment
(DATABASE_URL, STOCKROOM_DATA_DIR, …): see the README. Exit codes: 0 all good, 1 some lines of
an import failed, 2 a wrong command line or a failure.`;
}

const commandUsage = (commands: Command[]) => `usage:\n${usageOf(commands)}`;

/** The command the words name, the longest match first (`user create` before `user`). */
function findCommand(positionals: string[]): { command?: Command; family: Command[]; words: number } {
  const [first = 'serve', second] = positionals;
  const exact = COMMANDS.find((command) => command.name === `${first} ${second ?? ''}`.trim() && command.name.includes(' '));
  if (exact) return { command: exact, family: [exact], words: 2 };
  const single = COMMANDS.find((command) => command.name === first);
  if (single) return { command: single, family: [single], words: 1 };
  return { family: COMMANDS.filter((command) => command.name.startsWith(`${first} `)), words: 1 };
}

/** What `report` needs to know of the command line when it fails. */
interface Attempt {
  name: string;
  usage?: string;
}

async function main(argv: string[], attempt: Attempt): Promise<number> {
  // A first pass finds the command among the words before any option.
  const words = argv.filter((arg) => !arg.startsWith('-'));
  const asksHelp = argv.includes('--help') || argv.includes('-h');
  if (words.length === 0 && asksHelp) return help(generalUsage());
  const { command, family, words: taken } = findCommand(words.slice(0, 2));
  if (command === undefined) {
    if (family.length > 0) {
      attempt.name = family[0]!.name.split(' ')[0]!;
      attempt.usage = commandUsage(family);
      if (asksHelp) return help(attempt.usage);
      const given = words[1] === undefined ? 'needs a subcommand' : `has no subcommand "${words[1]}"`;
      throw new UsageError(`${attempt.name} ${given}: ${family.map((c) => c.name.split(' ')[1]).join(', ')}`);
    }
    attempt.usage = generalUsage();
    throw new UsageError(`unknown command "${words[0]}"`);
  }
  attempt.name = command.name;
  attempt.usage = commandUsage([command]);

  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...command.options, ...HELP } });
  } catch (error) {
    // An unknown option, or one missing its value: node's message says which, and its code
    // (ERR_PARSE_ARGS_…) is no business of the person typing.
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(message.replace(/^Unknown option '(.+)'$/, 'unknown option $1'));
  }
  if (parsed.values.help === true) return help(attempt.usage);
  const operands = parsed.positionals.slice(taken);
  const expected = command.operands ?? { min: 0, max: 0, names: '' };
  if (operands.length < expected.min) throw new UsageError(`${command.name} needs ${expected.names}`);
  if (operands.length > expected.max) {
    throw new UsageError(
      `${command.name} takes ${expected.max === 0 ? 'no operand' : expected.names}, not ${JSON.stringify(operands.join(' '))}`,
    );
  }
  return command.run({ values: parsed.values, operands, config: () => loadConfig() });
}

function help(text: string): number {
  console.log(text);
  return EXIT_OK;
}

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
  'import products': 'stop the server first, or, while it runs, import through the API: POST /api/v1/import/products',
  'import counts': 'stop the server first, or, while it runs, import through the API: POST /api/v1/import/stock-counts',
  'export products': 'stop the server first, or, while it runs, export through the API: GET /api/v1/export/products.csv',
  'export stock': 'stop the server first, or, while it runs, export through the API: GET /api/v1/export/stock.csv',
  'export movements': 'stop the server first, or, while it runs, export through the API: GET /api/v1/export/movements.csv',
};

function dataDirInUse(error: DataDirLockedError, command: string): string {
  const advice = WHILE_THE_SERVER_RUNS[command];
  if (advice === undefined || error.ownerPid === undefined) return error.message;
  return `the embedded database in ${error.dataDir} is in use by another Stockroom process (pid ${error.ownerPid}), most likely the server, and it takes one process at a time: ${advice}`;
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

/**
 * Every failure is one line on stderr and exit 2. Operating errors (configuration, the database,
 * the port, the command line) say what to do; anything else is a bug, whose stack is printed too
 * when LOG_LEVEL is debug or trace, or DEBUG is set. A wrong command line is followed by the usage.
 */
function report(error: unknown, attempt: Attempt): number {
  const showStack = ['debug', 'trace'].includes(process.env.LOG_LEVEL?.trim() ?? '') || (process.env.DEBUG ?? '') !== '';
  let line: string;
  if (error instanceof ConfigError) line = `invalid configuration: ${error.message}`;
  else if (error instanceof DataDirLockedError) line = dataDirInUse(error, attempt.name);
  else if (error instanceof DataDirPermissionError || error instanceof DatabaseConnectionError || error instanceof ListenError) {
    line = error.message;
  } else if (error instanceof AppError) line = error.detail;
  else if (error instanceof UsageError) line = error.message;
  else {
    const message = error instanceof Error ? error.message : String(error);
    line = showStack ? message : `${message} (an unexpected error: set LOG_LEVEL=debug to see where it came from)`;
    if (showStack) console.error(error);
  }
  console.error(`stockroom: ${oneLine(line)}`);
  if (error instanceof UsageError && attempt.usage !== undefined) console.error(attempt.usage);
  return EXIT_FAILURE;
}

async function runCli(argv: string[]): Promise<number> {
  const attempt: Attempt = { name: 'serve' };
  try {
    return await main(argv, attempt);
  } catch (error) {
    return report(error, attempt);
  }
}

// A command that succeeded ends when its last handle closes (a server, when it has shut down);
// one that failed ends now, whatever it left open. Writes to a pipe or a file are synchronous
// on Linux, so the report is out before the exit.
const code = await runCli(process.argv.slice(2));
if (code !== EXIT_OK) process.exit(code);
