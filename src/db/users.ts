import type { Role } from '../domain/access.ts';
import type { Queryable, Transaction } from './database.ts';
import type { ConstraintMessages } from './errors.ts';
import { Conditions, onlyRow, partialSet, type SettableColumn } from './sql.ts';

/** What a client is told when a write breaks one of the table's constraints (src/db/errors.ts). */
export const USER_CONSTRAINTS: ConstraintMessages = {
  users_email_key: 'a user with this email already exists',
};

export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  /** The clerk's locations, by id (empty for the other roles). */
  locationIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

// A user with its locations in one statement: the array is aggregated in a correlated subquery
// so that a page of users is still one index scan.
const COLUMNS = `u.id, u.email, u.name, u.role, u.disabled,
  coalesce((SELECT array_agg(ul.location_id::text ORDER BY ul.location_id) FROM user_locations ul WHERE ul.user_id = u.id), '{}') AS "locationIds",
  u.created_at AS "createdAt", u.updated_at AS "updatedAt"`;

export async function countUsers(db: Queryable): Promise<number> {
  const rows = await db.query<{ count: number }>('SELECT count(*)::int AS count FROM users');
  return onlyRow(rows, 'a count of users').count;
}

export async function findUser(db: Queryable, id: string): Promise<UserRow | undefined> {
  return (await db.query<UserRow>(`SELECT ${COLUMNS} FROM users u WHERE u.id = $1`, [id]))[0];
}

/**
 * The user and its password hash, for a login. Found by the database's lower(), which is also how
 * login-attempts.ts folds an email that finds nobody: one case folding, not two.
 */
export async function findUserForLogin(db: Queryable, email: string): Promise<(UserRow & { passwordHash: string }) | undefined> {
  const rows = await db.query<UserRow & { passwordHash: string }>(
    `SELECT ${COLUMNS}, u.password_hash AS "passwordHash" FROM users u WHERE lower(u.email) = lower($1)`,
    [email],
  );
  return rows[0];
}

export async function listUsers(
  db: Queryable,
  filter: {
    role?: Role | undefined;
    disabled?: boolean | undefined;
    /** The key of the last row of the previous page: its lower-cased email. */
    after?: [email: string] | undefined;
    limit: number;
  },
): Promise<(UserRow & { sortKey: string })[]> {
  const where = new Conditions();
  if (filter.role !== undefined) where.add('u.role = $?', filter.role);
  if (filter.disabled !== undefined) where.add('u.disabled = $?', filter.disabled);
  if (filter.after !== undefined) where.add('lower(u.email) > $?', ...filter.after);
  return db.query(
    `SELECT ${COLUMNS}, lower(u.email) AS "sortKey" FROM users u ${where.where()}
     ORDER BY lower(u.email) LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

/** Inserts a user with no locations (`replaceUserLocations` gives it some). */
export async function insertUser(
  tx: Transaction,
  user: { id: string; email: string; name: string; role: Role; passwordHash: string; disabled: boolean },
): Promise<UserRow> {
  const rows = await tx.query<UserRow>(
    `INSERT INTO users AS u (id, email, name, role, password_hash, disabled) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
    [user.id, user.email, user.name, user.role, user.passwordHash, user.disabled],
  );
  return onlyRow(rows, 'INSERT INTO users');
}

export interface UserChanges {
  email?: string | undefined;
  name?: string | undefined;
  role?: Role | undefined;
  passwordHash?: string | undefined;
  disabled?: boolean | undefined;
}

const SETTABLE: { readonly [Field in keyof UserChanges]-?: SettableColumn } = {
  email: ['email', 'text'],
  name: ['name', 'text'],
  role: ['role', 'text'],
  passwordHash: ['password_hash', 'text'],
  disabled: ['disabled', 'boolean'],
};

/**
 * Sets the given fields; undefined when there is no such user. Locks the row for the caller's
 * transaction. The row's locations are as they were before any `replaceUserLocations` of it.
 */
export async function updateUser(tx: Transaction, id: string, changes: UserChanges): Promise<UserRow | undefined> {
  const sql = new Conditions();
  const rows = await tx.query<UserRow>(
    `UPDATE users AS u SET ${partialSet(sql, changes, SETTABLE)} WHERE u.id = ${sql.param(id)} RETURNING ${COLUMNS}`,
    sql.params,
  );
  return rows[0];
}

/** Makes these (and only these) the user's locations; returns them as a user row lists them, in id order. */
export async function replaceUserLocations(tx: Transaction, userId: string, locationIds: readonly string[]): Promise<string[]> {
  await tx.query('DELETE FROM user_locations WHERE user_id = $1', [userId]);
  if (locationIds.length === 0) return [];
  const rows = await tx.query<{ locationIds: string[] }>(
    `WITH inserted AS (
       INSERT INTO user_locations (user_id, location_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING location_id
     )
     SELECT coalesce(array_agg(location_id::text ORDER BY location_id), '{}') AS "locationIds" FROM inserted`,
    [userId, locationIds],
  );
  return onlyRow(rows, 'INSERT INTO user_locations').locationIds;
}

/**
 * Locks every active admin row and counts them, so that two concurrent demotions can't both see
 * "another admin remains" and leave none.
 */
export async function lockActiveAdmins(tx: Transaction): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(`SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE`);
  return rows.map((row) => row.id);
}
