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
  /**
   * Attempts per account from one client address in a window; an account gets four times as
   * many from all addresses together, and so does an address over all accounts.
   */
  maxAttempts: number;
  windowS: number;
}

// An address adds at most `maxAttempts` to an account's count per window of the pair (past that
// the pair refuses it, and a refused attempt counts nothing), so holding an account closed takes
// ACCOUNT_FACTOR addresses (three, timed across the edges of the fixed windows), while guesses
// spread over many addresses are still bounded per account. An office behind one address gets
// ADDRESS_FACTOR times as many over its accounts.
const ACCOUNT_FACTOR = 4;
const ADDRESS_FACTOR = 4;

function attemptsMax(kind: attempts.AttemptSubjectKind, policy: LoginPolicy): number {
  if (kind === 'pair') return policy.maxAttempts;
  return policy.maxAttempts * (kind === 'account' ? ACCOUNT_FACTOR : ADDRESS_FACTOR);
}

const wrongCredentials = () => new AppError('unauthenticated', 'wrong email or password');

/**
 * Logs in. First, in one transaction, finds the user by email and counts the attempt against
 * what the lookup found (the user, or the email as the database folds it), the client address,
 * and the two together; past any of their limits the transaction rolls back, so the refused
 * attempt counts against nothing, and the answer is 429 before the password is even checked.
 * Then verifies the password off the event loop, and opens a session. Unknown email, wrong
 * password and disabled user all take the same path (an unknown email against a dummy hash)
 * and get the same 401.
 */
export async function login(
  ctx: UseCaseContext,
  input: { email: string; password: string; address: string },
  policy: LoginPolicy,
) {
  const email = input.email.trim();
  const { user, counted } = await ctx.db.transaction(
    async (tx) => {
      const user = await users.findUserForLogin(tx, email);
      const counted = await attempts.countAttempt(tx, { userId: user?.id ?? null, email, address: input.address }, policy.windowS);
      const blocked = counted.filter((count) => count.attempts > attemptsMax(count.kind, policy));
      if (blocked.length > 0) {
        // Thrown inside the transaction, which rolls back: the refused attempt writes nothing.
        const retryAfterS = Math.max(...blocked.map((count) => count.windowLeftS));
        throw new AppError('rate_limited', 'too many login attempts; try again later', {}, retryAfterS);
      }
      return { user, counted };
    },
    { signal: ctx.signal },
  );

  const matches = await verifyPassword(user?.passwordHash, input.password);
  if (user === undefined || !matches || user.disabled) throw wrongCredentials();

  const secret = newSecret();
  const expiresAt = new Date(Date.now() + policy.sessionTtlHours * 3_600_000);
  await ctx.db.transaction(
    async (tx) => {
      await attempts.forgiveAttempt(tx, counted);
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
