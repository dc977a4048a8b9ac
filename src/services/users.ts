import * as credentials from '../db/credentials.ts';
import * as users from '../db/users.ts';
import * as attempts from '../db/login-attempts.ts';
import assert from 'node:assert/strict';
import type { Role } from '../domain/access.ts';
import { readPage, type Keyset, type PageQuery } from '../domain/cursor.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { changeCredentials } from './credential-cache.ts';
import { hashPassword } from './passwords.ts';

export interface UserInput {
  email: string;
  name: string;
  role: Role;
  locationIds?: string[] | undefined;
  password: string;
  disabled?: boolean | undefined;
}

export type UserChanges = Partial<UserInput>;

export const presentUser = (row: users.UserRow) => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  locationIds: row.locationIds,
  disabled: row.disabled,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

/** By email, case-insensitively. */
const BY_EMAIL: Keyset<users.UserRow & { sortKey: string }, readonly ['string']> = {
  shape: ['string'],
  keyOf: (row) => [row.sortKey],
};

export async function createUser(ctx: UseCaseContext, input: UserInput) {
  // Hashing takes tens of milliseconds: done before the transaction, not while holding a connection.
  const passwordHash = await hashPassword(input.password);
  const id = uuidv7();
  const row = await inTransaction(ctx, async (tx) => {
    const inserted = await users.insertUser(tx, {
      id,
      email: input.email.trim(),
      name: input.name.trim(),
      role: input.role,
      passwordHash,
      disabled: input.disabled ?? false,
    });
    return { ...inserted, locationIds: await users.replaceUserLocations(tx, id, input.locationIds ?? []) };
  });
  return presentUser(row);
}

export async function getUser(ctx: UseCaseContext, id: string) {
  const row = await reading(ctx, (db) => users.findUser(db, id));
  if (row === undefined) throw notFound('user', id);
  return presentUser(row);
}

export function listUsers(ctx: UseCaseContext, query: PageQuery & { role?: Role | undefined; disabled?: boolean | undefined }) {
  return readPage(
    query,
    BY_EMAIL,
    (after) => reading(ctx, (db) => users.listUsers(db, { role: query.role, disabled: query.disabled, after, limit: query.limit })),
    presentUser,
  );
}

/**
 * Changes a user. Disabling ends its sessions and API tokens at once; a new password ends its
 * sessions. The last active admin can be neither demoted nor disabled, or nobody could manage
 * users any more.
 */
export async function updateUser(ctx: UseCaseContext, id: string, changes: UserChanges) {
  const passwordHash = changes.password === undefined ? undefined : await hashPassword(changes.password);
  const row = await changeCredentials(ctx, async (tx) => {
    const losesAdmin = (changes.role !== undefined && changes.role !== 'admin') || changes.disabled === true;
    if (losesAdmin) {
      const admins = await users.lockActiveAdmins(tx);
      if (admins.length === 1 && admins[0] === id) {
        throw new AppError('conflict', 'this is the last active admin: make another admin first');
      }
    }
    const updated = await users.updateUser(tx, id, {
      email: changes.email?.trim(),
      name: changes.name?.trim(),
      role: changes.role,
      passwordHash,
      disabled: changes.disabled,
    });
    if (updated === undefined) return undefined;
    const locationIds =
      changes.locationIds === undefined ? updated.locationIds : await users.replaceUserLocations(tx, id, changes.locationIds);
    if (changes.disabled === true) await credentials.revokeUserCredentials(tx, id, ['session', 'token']);
    else if (passwordHash !== undefined) await credentials.revokeUserCredentials(tx, id, ['session']);
    return { ...updated, locationIds };
  });
  if (row === undefined) throw notFound('user', id);
  return presentUser(row);
}

/**
 * The first admin, when the database has no users yet: from STOCKROOM_ADMIN_EMAIL and
 * STOCKROOM_ADMIN_PASSWORD, or given. Returns false (and changes nothing) once any user exists;
 * instances starting together race on the unique email, and the losers see it taken.
 */
export async function createFirstAdmin(ctx: UseCaseContext, admin: { email: string; password: string; name?: string }): Promise<boolean> {
  // It recovers from a conflict, which a joined use case can't (src/services/context.ts).
  assert.ok(ctx.tx === undefined, 'creating the first admin is a transaction of its own');
  const count = await reading(ctx, (db) => users.countUsers(db));
  if (count > 0) return false;
  try {
    await createUser(ctx, { email: admin.email, name: admin.name ?? 'Administrator', role: 'admin', password: admin.password });
    return true;
  } catch (error) {
    if (error instanceof AppError && error.code === 'conflict') return false;
    throw error;
  }
}

/**
 * Sets a new password for the user with this email (any case), for an operator at the server's
 * shell (`stockroom user reset-password`) who has lost it: ends the user's sessions on every
 * instance, as a new password given by an admin does (API tokens stay), and forgets the login
 * attempts counted against the account. Changes nothing else: a disabled user stays disabled.
 */
export async function resetPassword(ctx: UseCaseContext, email: string, password: string) {
  const passwordHash = await hashPassword(password);
  const row = await changeCredentials(ctx, async (tx) => {
    const user = await users.findUserForLogin(tx, email.trim());
    if (user === undefined) return undefined;
    const updated = await users.updateUser(tx, user.id, { passwordHash });
    assert.ok(updated !== undefined, 'a user found in this transaction is still there');
    await credentials.revokeUserCredentials(tx, user.id, ['session']);
    await attempts.forgetAccountAttempts(tx, user.id);
    return updated;
  });
  if (row === undefined) throw new AppError('not_found', `no user has the email ${email.trim()}`);
  return presentUser(row);
}
