import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { findLocationsByCodeOrId } from '../db/locations.ts';
import { ROLES, type Role } from '../domain/access.ts';
import { createUser, resetPassword } from '../services/users.ts';
import { EXIT_OK, UsageError, onDatabase, type Command, type Invocation } from './command.ts';

export const USER_CREATE_USAGE = `user create --email <address> --role <${ROLES.join('|')}> [--name <name>] [--location <code or id>]...
                   create a user (e.g. the first admin); the password comes from
                   STOCKROOM_USER_PASSWORD, or a random one is made and printed once`;
export const USER_RESET_USAGE = `user reset-password --email <address>
                   set a user's password (a lost one, such as the demo admin's) and end its
                   sessions; the password comes as for user create`;

// The bounds of the users API's schemas (src/http/schemas/users.ts), which this command bypasses.
const EMAIL_LENGTH_MAX = 254;
const NAME_LENGTH_MAX = 200;
const PASSWORD_LENGTH_MIN = 8;
const PASSWORD_LENGTH_MAX = 256;

/** What is wrong with the --email given, for a one-line refusal (RangeError). */
function checkEmail(command: string, email: string | undefined): string {
  if (email === undefined) throw new RangeError(`${command} needs --email <address>`);
  if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > EMAIL_LENGTH_MAX) {
    throw new RangeError(`--email ${JSON.stringify(email)} is not an email address`);
  }
  return email;
}

/** STOCKROOM_USER_PASSWORD, or a random password that the caller shows once. */
function choosePassword(given: string | undefined): { password: string; generated: boolean } {
  if (given === undefined) return { password: randomBytes(12).toString('base64url'), generated: true };
  if (given.length < PASSWORD_LENGTH_MIN || given.length > PASSWORD_LENGTH_MAX) {
    throw new RangeError(`STOCKROOM_USER_PASSWORD must be ${PASSWORD_LENGTH_MIN} to ${PASSWORD_LENGTH_MAX} characters long`);
  }
  return { password: given, generated: false };
}

const shownOnce = (chosen: { password: string; generated: boolean }) =>
  chosen.generated ? `\n  password: ${chosen.password}   (shown this once)` : '';

/** The ids of the locations named by code or id; refuses the unknown ones, naming them. */
async function resolveLocations(db: Database, references: string[]): Promise<string[]> {
  if (references.length === 0) return [];
  const found = await db.connection((conn) => findLocationsByCodeOrId(conn, references));
  const unknown = found.filter((location) => location.id === undefined).map((location) => JSON.stringify(location.reference));
  if (unknown.length > 0) {
    throw new RangeError(`no location has the code or id ${unknown.join(', ')}`);
  }
  return [...new Set(found.map((location) => location.id!))];
}

type UserOptions = { email?: string | undefined; name?: string | undefined; role?: string | undefined; location?: string[] | undefined };

/**
 * `stockroom user create` and `user reset-password`: checks the options at once, before any
 * database is opened (bad ones throw RangeError), and gives the step that runs on the database.
 * create goes through the same use case as POST /api/v1/users.
 */
export function userCommand(
  subcommand: 'create' | 'reset-password',
  options: UserOptions,
  password: string | undefined,
): (db: Database) => Promise<string> {
  if (subcommand === 'reset-password') {
    const email = checkEmail('user reset-password', options.email);
    const chosen = choosePassword(password);
    return async (db) => {
      const user = await resetPassword({ db, actor: null }, email, chosen.password);
      const disabled = user.disabled ? '\n  note: this user is disabled; an admin can enable it (PATCH /api/v1/users/{id})' : '';
      return `set a new password for ${user.role} ${user.email} and ended its sessions${shownOnce(chosen)}${disabled}`;
    };
  }
  const email = checkEmail('user create', options.email);
  if (!ROLES.includes(options.role as Role)) {
    const given = options.role === undefined ? '' : ` (not ${JSON.stringify(options.role)})`;
    throw new RangeError(`user create needs --role, one of ${ROLES.join(', ')}${given}`);
  }
  const role = options.role as Role;
  const name = options.name ?? email.split('@')[0]!;
  if (name.trim() === '' || name.length > NAME_LENGTH_MAX)
    throw new RangeError(`--name must be 1 to ${NAME_LENGTH_MAX} characters, not blank`);
  const chosen = choosePassword(password);
  return async (db) => {
    const locationIds = await resolveLocations(db, options.location ?? []);
    const user = await createUser({ db, actor: null }, { email, name, role, locationIds, password: chosen.password });
    return `created ${user.role} ${user.email} (id ${user.id})${shownOnce(chosen)}`;
  };
}

async function runUserCommand(subcommand: 'create' | 'reset-password', { values, config }: Invocation): Promise<number> {
  // The options are checked before any database is opened; a bad one, or an unknown location,
  // is a wrong command line.
  const usage = (error: unknown) => (error instanceof RangeError ? new UsageError(error.message) : error);
  let step: ReturnType<typeof userCommand>;
  try {
    step = userCommand(subcommand, values as UserOptions, process.env.STOCKROOM_USER_PASSWORD);
  } catch (error) {
    throw usage(error);
  }
  try {
    console.log(await onDatabase(config(), step));
  } catch (error) {
    throw usage(error);
  }
  return EXIT_OK;
}

export const userCommands: Command[] = [
  {
    name: 'user create',
    usage: USER_CREATE_USAGE,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      location: { type: 'string', multiple: true },
    },
    run: (invocation) => runUserCommand('create', invocation),
  },
  {
    name: 'user reset-password',
    usage: USER_RESET_USAGE,
    options: { email: { type: 'string' } },
    run: (invocation) => runUserCommand('reset-password', invocation),
  },
];
