import * as credentials from '../db/credentials.ts';
import * as attempts from '../db/login-attempts.ts';
import * as users from '../db/users.ts';
import type { Database } from '../db/database.ts';
import { lesserRole, locationScope, type Actor } from '../domain/access.ts';
import { AppError } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { csrfTokenFor, hashSecret, looksLikeSecret, newSecret } from '../domain/secrets.ts';
import type { UseCaseContext } from './context.ts';
import { changeCredentials, credentialCacheOf } from './credential-cache.ts';
import { verifyPassword } from './passwords.ts';
import { presentUser } from './users.ts';

export interface LoginPolicy {
  sessionTtlHours: number;
  /** Attempts per account in a window; an address gets four times as many (an office shares one). */
  maxAttempts: number;
  windowS: number;
}

const ADDRESS_FACTOR = 4;

const wrongCredentials = () => new AppError('unauthenticated', 'wrong email or password');

/**
 * Logs in: counts the attempt against the account and the client address first (refusing with
 * 429 past the limit, before the password is even checked), verifies the password off the event
 * loop, and opens a session. Unknown email, wrong password and disabled user all take the same
 * path and get the same 401.
 */
export async function login(
  ctx: UseCaseContext,
  input: { email: string; password: string; address: string },
  policy: LoginPolicy,
) {
  const account = `email:${input.email.trim().toLowerCase()}`;
  const address = `ip:${input.address}`;
  const counts = await ctx.db.transaction((tx) => attempts.countAttempt(tx, [account, address], policy.windowS), { signal: ctx.signal });
  const blocked = counts.filter((count) =>
    count.attempts > (count.subject === account ? policy.maxAttempts : policy.maxAttempts * ADDRESS_FACTOR),
  );
  if (blocked.length > 0) {
    const retryAfterS = Math.max(...blocked.map((count) => count.windowLeftS));
    throw new AppError('rate_limited', 'too many login attempts; try again later', {}, retryAfterS);
  }

  const user = await ctx.db.connection((db) => users.findUserForLogin(db, input.email.trim()), { signal: ctx.signal });
  const matches = await verifyPassword(user?.passwordHash, input.password);
  if (user === undefined || !matches || user.disabled) throw wrongCredentials();

  const secret = newSecret();
  const expiresAt = new Date(Date.now() + policy.sessionTtlHours * 3_600_000);
  await ctx.db.transaction(
    async (tx) => {
      await attempts.forgiveAttempt(tx, account, address);
      await credentials.insertCredential(tx, {
        id: uuidv7(),
        kind: 'session',
        userId: user.id,
        name: null,
        role: null,
        secretHash: hashSecret(secret),
        expiresAt,
      });
    },
    { signal: ctx.signal },
  );
  return { token: secret, csrfToken: csrfTokenFor(secret), expiresAt: expiresAt.toISOString(), user: presentUser(user) };
}

/** Ends the session the request came with. An API token is revoked with DELETE /tokens/{id}, not here. */
export async function logout(ctx: UseCaseContext): Promise<void> {
  const actor = ctx.actor;
  if (actor?.credentialKind !== 'session') return;
  await changeCredentials(ctx, (tx) => credentials.revokeCredential(tx, actor.credentialId));
}

/**
 * Who a presented secret (a bearer token or a session cookie) belongs to, or null. A token acts
 * with its own role, capped by its creator's current role, and with its creator's locations.
 */
export async function authenticate(db: Database, secret: string, signal?: AbortSignal): Promise<Actor | null> {
  if (!looksLikeSecret(secret)) return null;
  const secretHash = hashSecret(secret);
  const cache = credentialCacheOf(db);
  const key = secretHash.toString('base64');
  let row = cache?.get(key);
  if (row === undefined) {
    const generation = cache?.generation ?? 0;
    row = await db.connection(
      async (conn) => {
        const found = await credentials.findLiveCredential(conn, secretHash);
        if (found !== undefined && (found.lastUsedAt === null || Date.now() - found.lastUsedAt.getTime() > 60_000)) {
          await credentials.touchCredential(conn, found.credentialId);
        }
        return found;
      },
      { signal },
    );
    if (row === undefined) return null;
    cache?.put(key, row, generation);
  }
  const role = row.tokenRole === null ? row.userRole : lesserRole(row.tokenRole, row.userRole);
  return {
    id: row.userId,
    name: row.userName,
    role,
    locationIds: locationScope(row.userRole, role, row.locationIds),
    credentialId: row.credentialId,
    credentialKind: row.kind,
  };
}
