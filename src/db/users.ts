import type { Role } from '../domain/access.ts';
import type { Queryable } from './database.ts';
import { Conditions } from './sql.ts';

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
  return rows[0]!.count;
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
  filter: { role?: Role | undefined; disabled?: boolean | undefined; afterEmail?: string | undefined; limit: number },
): Promise<(UserRow & { sortKey: string })[]> {
  const where = new Conditions();
  if (filter.role !== undefined) where.add('u.role = $?', filter.role);
  if (filter.disabled !== undefined) where.add('u.disabled = $?', filter.disabled);
  if (filter.afterEmail !== undefined) where.add('lower(u.email) > $?', filter.afterEmail);
  return db.query(
    `SELECT ${COLUMNS}, lower(u.email) AS "sortKey" FROM users u ${where.where()}
     ORDER BY lower(u.email) LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

export async function insertUser(
  db: Queryable,
  user: { id: string; email: string; name: string; role: Role; passwordHash: string; disabled: boolean },
): Promise<void> {
  await db.query(
    `INSERT INTO users (id, email, name, role, password_hash, disabled) VALUES ($1, $2, $3, $4, $5, $6)`,
    [user.id, user.email, user.name, user.role, user.passwordHash, user.disabled],
  );
}

/** Applies the given changes; false when there is no such user. Locks the row for the caller's transaction. */
export async function updateUser(
  db: Queryable,
  id: string,
  changes: { email?: string | undefined; name?: string | undefined; role?: Role | undefined; passwordHash?: string | undefined; disabled?: boolean | undefined },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE users SET
       email = coalesce($2, email),
       name = coalesce($3, name),
       role = coalesce($4, role),
       password_hash = coalesce($5, password_hash),
       disabled = coalesce($6, disabled),
       updated_at = date_trunc('milliseconds', now())
     WHERE id = $1 RETURNING id`,
    [id, changes.email ?? null, changes.name ?? null, changes.role ?? null, changes.passwordHash ?? null, changes.disabled ?? null],
  );
  return rows.length === 1;
}

export async function replaceUserLocations(db: Queryable, userId: string, locationIds: string[]): Promise<void> {
  await db.query('DELETE FROM user_locations WHERE user_id = $1', [userId]);
  if (locationIds.length > 0) {
    await db.query(
      'INSERT INTO user_locations (user_id, location_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING',
      [userId, locationIds],
    );
  }
}

/**
 * Locks every active admin row and counts them, so that two concurrent demotions can't both see
 * "another admin remains" and leave none.
 */
export async function lockActiveAdmins(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE`,
  );
  return rows.map((row) => row.id);
}
