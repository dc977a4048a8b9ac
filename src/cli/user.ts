import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.ts';
import { ROLES, type Role } from '../domain/access.ts';
import { createUser } from '../services/users.ts';

export const USER_USAGE = `  user create --email <address> --role <${ROLES.join('|')}> [--name <name>] [--location <id>]...
                   create a user (e.g. the first admin); the password comes from
                   STOCKROOM_USER_PASSWORD, or a random one is made and printed once`;

/** `stockroom user create`: through the same use case as POST /api/v1/users. Bad options throw RangeError. */
export async function createUserCommand(
  db: Database,
  options: { email?: string | undefined; name?: string | undefined; role?: string | undefined; location?: string[] | undefined },
  password: string | undefined,
): Promise<string> {
  if (options.email === undefined || !/^[^\s@]+@[^\s@]+$/.test(options.email)) throw new RangeError('user create needs --email <address>');
  if (!ROLES.includes(options.role as Role)) throw new RangeError(`user create needs --role, one of ${ROLES.join(', ')}`);
  if (password !== undefined && (password.length < 8 || password.length > 256)) {
    throw new RangeError('STOCKROOM_USER_PASSWORD must be 8 to 256 characters long');
  }
  const chosen = password ?? randomBytes(12).toString('base64url');
  const user = await createUser(
    { db, actor: null },
    { email: options.email, name: options.name ?? options.email.split('@')[0]!, role: options.role as Role, locationIds: options.location, password: chosen },
  );
  const shown = password === undefined ? `\n  password: ${chosen}   (shown this once)` : '';
  return `created ${user.role} ${user.email} (id ${user.id})${shown}`;
}
