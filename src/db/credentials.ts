import type { Role } from '../domain/access.ts';
import type { Queryable } from './database.ts';

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
  locationIds: string[];
  lastUsedAt: Date | null;
  expiresAt: Date | null;
}

/** The channel on which a change to who a credential authenticates as is announced. */
export const CREDENTIALS_CHANNEL = 'stockroom_credentials';

/**
 * Tells every instance, when the transaction commits, that credentials or users changed, so that
 * none goes on authenticating from what it remembers (src/services/credential-cache.ts).
 */
export async function announceCredentialChange(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_notify($1, '')`, [CREDENTIALS_CHANNEL]);
}

/**
 * The credential with this secret hash, if it is live: not revoked, not expired, and its user
 * not disabled.
 */
export async function findLiveCredential(db: Queryable, secretHash: Buffer): Promise<AuthenticatedRow | undefined> {
  const rows = await db.query<AuthenticatedRow>(
    `SELECT c.id AS "credentialId", c.kind, c.user_id AS "userId", u.name AS "userName", u.role AS "userRole",
            c.role AS "tokenRole", c.last_used_at AS "lastUsedAt", c.expires_at AS "expiresAt",
            coalesce((SELECT array_agg(ul.location_id::text) FROM user_locations ul WHERE ul.user_id = u.id), '{}') AS "locationIds"
     FROM credentials c JOIN users u ON u.id = c.user_id
     WHERE c.secret_hash = $1 AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()) AND NOT u.disabled`,
    [secretHash],
  );
  return rows[0];
}

/** Records use, at most once a minute per credential: a write per request would cost every read. */
export async function touchCredential(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE credentials SET last_used_at = date_trunc('milliseconds', now())
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id],
  );
}

export async function insertCredential(
  db: Queryable,
  credential: { id: string; kind: CredentialKind; userId: string; name: string | null; role: Role | null; secretHash: Buffer; expiresAt: Date | null },
): Promise<TokenRow> {
  const rows = await db.query<TokenRow>(
    `INSERT INTO credentials (id, kind, user_id, name, role, secret_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
     RETURNING ${TOKEN_COLUMNS}`,
    [credential.id, credential.kind, credential.userId, credential.name, credential.role, credential.secretHash, credential.expiresAt],
  );
  return rows[0]!;
}

export interface TokenRow {
  id: string;
  userId: string;
  name: string;
  role: Role;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

const TOKEN_COLUMNS = `id, user_id AS "userId", name, role, created_at AS "createdAt", expires_at AS "expiresAt", last_used_at AS "lastUsedAt"`;

/** Live API tokens, newest first; of one user, or of everyone. */
export async function listTokens(
  db: Queryable,
  filter: { userId?: string | undefined; before?: string | undefined; limit: number },
): Promise<TokenRow[]> {
  return db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM credentials
     WHERE kind = 'token' AND revoked_at IS NULL
       AND ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR id < $2)
     ORDER BY id DESC LIMIT $3`,
    [filter.userId ?? null, filter.before ?? null, filter.limit + 1],
  );
}

export async function findToken(db: Queryable, id: string): Promise<TokenRow | undefined> {
  const rows = await db.query<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM credentials WHERE id = $1 AND kind = 'token' AND revoked_at IS NULL`,
    [id],
  );
  return rows[0];
}

export async function revokeCredential(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE credentials SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
}

/** Revokes every live credential of these kinds that the user holds. */
export async function revokeUserCredentials(db: Queryable, userId: string, kinds: CredentialKind[]): Promise<void> {
  await db.query(
    `UPDATE credentials SET revoked_at = now() WHERE user_id = $1 AND kind = ANY($2::text[]) AND revoked_at IS NULL`,
    [userId, kinds],
  );
}

/** Drops credentials that expired or were revoked more than a day ago. */
export async function deleteDeadCredentials(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM credentials WHERE coalesce(revoked_at, expires_at) < now() - interval '1 day' RETURNING id`,
  );
  return rows.length;
}
