import assert from 'node:assert/strict';
import type { Role } from '../domain/access.ts';
import type { Queryable, Transaction } from './database.ts';
import { onlyRow } from './sql.ts';

export type CredentialKind = 'session' | 'token';

/** What a presented secret authenticates as, if anything. */
export interface AuthenticatedRow {
  credentialId: string;
  kind: CredentialKind;
  userId: string;
  userName: string;
  userRole: Role;
  /** The token's own role; null for a session. */
  tokenRole: Role | null;
  /** The user's locations (a clerk's). */
  locationIds: string[];
  /** The locations the token is limited to; null for a session, or a token not limited beyond its creator. */
  tokenLocationIds: string[] | null;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
}

/** A token's location limit, as an array of ids in order, or null when it has none. */
const TOKEN_LOCATIONS = (alias: string) =>
  `(SELECT array_agg(cl.location_id::text ORDER BY cl.location_id) FROM credential_locations cl WHERE cl.credential_id = ${alias}.id)`;

/** The channel on which a change to who a credential authenticates as is announced. */
export const CREDENTIALS_CHANNEL = 'stockroom_credentials';

/**
 * Tells every instance, when the transaction commits, that credentials or users changed, so that
 * none goes on authenticating from what it remembers (src/services/credential-cache.ts).
 */
export async function announceCredentialChange(tx: Transaction): Promise<void> {
  await tx.query(`SELECT pg_notify($1, '')`, [CREDENTIALS_CHANNEL]);
}

/**
 * The credential with this secret hash, if it is live: not revoked, not expired, and its user
 * not disabled.
 */
export async function findLiveCredential(db: Queryable, secretHash: Buffer): Promise<AuthenticatedRow | undefined> {
  const rows = await db.query<AuthenticatedRow>(
    `SELECT c.id AS "credentialId", c.kind, c.user_id AS "userId", u.name AS "userName", u.role AS "userRole",
            c.role AS "tokenRole", c.last_used_at AS "lastUsedAt", c.expires_at AS "expiresAt",
            coalesce((SELECT array_agg(ul.location_id::text) FROM user_locations ul WHERE ul.user_id = u.id), '{}') AS "locationIds",
            ${TOKEN_LOCATIONS('c')} AS "tokenLocationIds"
     FROM credentials c JOIN users u ON u.id = c.user_id
     WHERE c.secret_hash = $1 AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()) AND NOT u.disabled`,
    [secretHash],
  );
  return rows[0];
}

/** How often a credential's use is recorded at most: a write per request would cost every read. */
const TOUCH_INTERVAL_S = 60;

/**
 * Records the use of a credential just found, at most once every TOUCH_INTERVAL_S: not even a
 * statement when its last use, as found, is that recent; and the statement itself writes nothing
 * when another request has recorded a use since.
 */
export async function touchCredential(db: Queryable, found: Pick<AuthenticatedRow, 'credentialId' | 'lastUsedAt'>): Promise<void> {
  if (found.lastUsedAt !== null && Date.now() - found.lastUsedAt.getTime() <= TOUCH_INTERVAL_S * 1000) return;
  await db.query(
    `UPDATE credentials SET last_used_at = date_trunc('milliseconds', now())
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
    [found.credentialId, TOUCH_INTERVAL_S],
  );
}

/**
 * Inserts a credential and, for a location-limited token, its locations, in one statement. An
 * unknown location fails the foreign key (404 by src/db/errors.ts) and inserts nothing.
 */
export async function insertCredential(
  tx: Transaction,
  credential: {
    id: string;
    kind: CredentialKind;
    userId: string;
    name: string | null;
    role: Role | null;
    secretHash: Buffer;
    expiresAt: Date | null;
    /** A token's limit; null for none. Never empty: no rows reads back as "not limited". */
    locationIds: readonly string[] | null;
  },
): Promise<TokenRow> {
  assert.ok(credential.locationIds === null || credential.locationIds.length > 0, 'an empty location limit would read back as none');
  assert.ok(credential.locationIds === null || credential.kind === 'token', 'only a token is limited to locations');
  const rows = await tx.query<TokenRow>(
    `WITH inserted AS (
       INSERT INTO credentials (id, kind, user_id, name, role, secret_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       RETURNING *
     ), limited AS (
       INSERT INTO credential_locations (credential_id, location_id) SELECT inserted.id, unnest($8::uuid[]) FROM inserted
     )
     SELECT id, user_id AS "userId", name, role, created_at AS "createdAt", expires_at AS "expiresAt", last_used_at AS "lastUsedAt",
            (SELECT array_agg(l::text ORDER BY l) FROM unnest($8::uuid[]) l) AS "locationIds"
     FROM inserted`,
    [
      credential.id,
      credential.kind,
      credential.userId,
      credential.name,
      credential.role,
      credential.secretHash,
      credential.expiresAt,
      credential.locationIds === null ? null : [...credential.locationIds],
    ],
  );
  return onlyRow(rows, 'INSERT INTO credentials');
}

export interface TokenRow {
  id: string;
  userId: string;
  name: string;
  role: Role;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  /** The locations the token is limited to, in id order; null when it is not limited. */
  locationIds: string[] | null;
}

const TOKEN_COLUMNS = `c.id, c.user_id AS "userId", c.name, c.role, c.created_at AS "createdAt", c.expires_at AS "expiresAt",
  c.last_used_at AS "lastUsedAt", ${TOKEN_LOCATIONS('c')} AS "locationIds"`;

/** Live API tokens, newest first; of one user, or of everyone. */
export async function listTokens(
  db: Queryable,
  filter: {
    userId?: string | undefined;
    /** The key of the last row of the previous page: its id (the page goes on with older ones). */
    after?: [id: string] | undefined;
    limit: number;
  },
): Promise<TokenRow[]> {
  return db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM credentials c
     WHERE c.kind = 'token' AND c.revoked_at IS NULL
       AND ($1::uuid IS NULL OR c.user_id = $1) AND ($2::uuid IS NULL OR c.id < $2)
     ORDER BY c.id DESC LIMIT $3`,
    [filter.userId ?? null, filter.after?.[0] ?? null, filter.limit + 1],
  );
}

export async function findToken(db: Queryable, id: string): Promise<TokenRow | undefined> {
  const rows = await db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM credentials c WHERE c.id = $1 AND c.kind = 'token' AND c.revoked_at IS NULL`,
    [id],
  );
  return rows[0];
}

export async function revokeCredential(tx: Transaction, id: string): Promise<void> {
  await tx.query(`UPDATE credentials SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
}

/**
 * Revokes every live credential of these kinds that the user holds, but `exceptId` (the one a
 * user changing its own password is using). Run it inside `changeCredentials`
 * (src/services/credential-cache.ts), which makes every instance forget the revoked ones.
 */
export async function revokeUserCredentials(
  tx: Transaction,
  userId: string,
  kinds: CredentialKind[],
  exceptId: string | null = null,
): Promise<void> {
  await tx.query(
    `UPDATE credentials SET revoked_at = now()
     WHERE user_id = $1 AND kind = ANY($2::text[]) AND revoked_at IS NULL AND ($3::uuid IS NULL OR id <> $3)`,
    [userId, kinds, exceptId],
  );
}

/** Whether the credential is still live (not revoked, not expired); locks it against a concurrent revocation. */
export async function lockLiveCredential(tx: Transaction, id: string): Promise<boolean> {
  const rows = await tx.query(
    `SELECT id FROM credentials WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE`,
    [id],
  );
  return rows.length === 1;
}

/**
 * A user's password hash by id, its row locked for the caller's transaction: a user changing its
 * own password is checked against the hash it proved, not one changed since (users.ts finds a user
 * for a login by email; this is the one other read of a hash).
 */
export async function lockPasswordHash(tx: Transaction, userId: string): Promise<string | undefined> {
  const rows = await tx.query<{ passwordHash: string }>(`SELECT password_hash AS "passwordHash" FROM users WHERE id = $1 FOR UPDATE`, [
    userId,
  ]);
  return rows[0]?.passwordHash;
}

/** Drops up to `limit` credentials that expired or were revoked more than a day ago (skipping rows another transaction holds). */
export async function deleteDeadCredentials(tx: Transaction, limit: number): Promise<number> {
  const rows = await tx.query(
    `DELETE FROM credentials WHERE id IN (
       SELECT id FROM credentials WHERE coalesce(revoked_at, expires_at) < now() - interval '1 day' LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [limit],
  );
  return rows.length;
}
