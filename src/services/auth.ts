import assert from 'node:assert/strict';
import * as credentials from '../db/credentials.ts';
import * as attempts from '../db/login-attempts.ts';
import * as users from '../db/users.ts';
import type { Transaction } from '../db/database.ts';
import { lesserRole, locationScope, type Actor } from '../domain/access.ts';
import { AppError, validationFailed } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { csrfTokenFor, hashSecret, looksLikeSecret, newSecret } from '../domain/secrets.ts';
import { inTransaction, type UseCaseContext } from './context.ts';
import { changeCredentials } from './credential-cache.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
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
 * Counts one attempt at a password (a login, or a user proving its current password) against its
 * account, its client address and the pair, in the caller's transaction. Past any of their limits
 * it throws 429, which rolls the transaction back: the refused attempt counts against nothing.
 */
async function countPasswordAttempt(
  tx: Transaction,
  attempt: { userId: string | null; email: string; address: string },
  policy: LoginPolicy,
  what: string,
): Promise<attempts.AttemptCount[]> {
  const counted = await attempts.countAttempt(tx, attempt, policy.windowS);
  const blocked = counted.filter((count) => count.attempts > attemptsMax(count.kind, policy));
  if (blocked.length > 0) {
    const retryAfterS = Math.max(...blocked.map((count) => count.windowLeftS));
    throw new AppError('rate_limited', `too many ${what} attempts; try again later`, {}, retryAfterS);
  }
  return counted;
}

/**
 * Logs in. First, in one transaction, finds the user by email and counts the attempt against
 * what the lookup found (the user, or the email as the database folds it), the client address,
 * and the two together; past any of their limits the transaction rolls back, so the refused
 * attempt counts against nothing, and the answer is 429 before the password is even checked.
 * Then verifies the password off the event loop, and opens a session. Unknown email, wrong
 * password and disabled user all take the same path (an unknown email against a dummy hash)
 * and get the same 401.
 */
export async function login(ctx: UseCaseContext, input: { email: string; password: string; address: string }, policy: LoginPolicy) {
  // The counted attempt must commit before the password is checked (src/services/context.ts).
  assert.ok(ctx.tx === undefined, 'a login runs transactions of its own');
  const email = input.email.trim();
  const { user, counted } = await inTransaction(ctx, async (tx) => {
    const user = await users.findUserForLogin(tx, email);
    const counted = await countPasswordAttempt(tx, { userId: user?.id ?? null, email, address: input.address }, policy, 'login');
    return { user, counted };
  });

  const matches = await verifyPassword(user?.passwordHash, input.password);
  if (user === undefined || !matches || user.disabled) throw wrongCredentials();

  const secret = newSecret();
  const expiresAt = new Date(Date.now() + policy.sessionTtlHours * 3_600_000);
  await inTransaction(ctx, async (tx) => {
    await attempts.forgiveAttempt(tx, counted);
    await credentials.insertCredential(tx, {
      id: uuidv7(),
      kind: 'session',
      userId: user.id,
      name: null,
      role: null,
      secretHash: hashSecret(secret),
      expiresAt,
      locationIds: null,
    });
  });
  return { token: secret, csrfToken: csrfTokenFor(secret), expiresAt: expiresAt.toISOString(), user: presentUser(user) };
}

/** Ends the session the request came with. An API token is revoked with DELETE /tokens/{id}, not here. */
export async function logout(ctx: UseCaseContext): Promise<void> {
  const actor = ctx.actor;
  if (actor?.credentialKind !== 'session') return;
  await changeCredentials(ctx, (tx) => credentials.revokeCredential(tx, actor.credentialId));
}

export interface MeChanges {
  name?: string | undefined;
  /** The new password; needs `currentPassword`. */
  password?: string | undefined;
  currentPassword?: string | undefined;
}

const wrongCurrentPassword = () => validationFailed([{ path: '/currentPassword', message: 'is not your current password' }]);

/**
 * A user changes its own name or password (PATCH /me). A new password needs the current one,
 * which is checked as a login's is: the attempt counts against the same account, address and pair
 * (so a stolen session can't be used to guess the password faster than a login could), a wrong
 * one answers 422 and stays counted, a right one takes its attempt back. On success every other
 * session of the user ends, on every instance: all of them when the request came with an API
 * token. API tokens stay; they are credentials of their own, listed and revoked at /tokens.
 *
 * Like a login, it counts in one transaction, verifies and hashes off the event loop with no
 * connection held, and then changes in one transaction. That one makes sure the password is still
 * the one just proved and the requesting credential still live (a concurrent change of the same
 * password from another session ends this one), so two changes can't both win.
 */
export async function updateMe(ctx: UseCaseContext, changes: MeChanges, address: string, policy: LoginPolicy) {
  const actor = ctx.actor;
  assert.ok(actor !== null, 'PATCH /me needs an actor');
  // A wrong current password must stay counted (src/services/context.ts).
  assert.ok(ctx.tx === undefined, "a change of one's own password runs transactions of its own");
  if (changes.password !== undefined && changes.currentPassword === undefined) {
    throw validationFailed([{ path: '/currentPassword', message: 'is required to change the password' }]);
  }
  if (changes.password === undefined && changes.currentPassword !== undefined) {
    throw validationFailed([{ path: '/password', message: 'is required with currentPassword' }]);
  }

  let proved: { passwordHash: string; counted: attempts.AttemptCount[]; newHash: string } | undefined;
  if (changes.password !== undefined && changes.currentPassword !== undefined) {
    const { passwordHash, counted } = await inTransaction(ctx, async (tx) => {
      const passwordHash = await credentials.lockPasswordHash(tx, actor.id);
      assert.ok(passwordHash !== undefined, 'an authenticated user exists');
      // The email is only used when no user was found; here the account is the user's id.
      const counted = await countPasswordAttempt(tx, { userId: actor.id, email: '', address }, policy, 'password');
      return { passwordHash, counted };
    });
    if (!(await verifyPassword(passwordHash, changes.currentPassword))) throw wrongCurrentPassword();
    proved = { passwordHash, counted, newHash: await hashPassword(changes.password) };
  }

  const row = await changeCredentials(ctx, async (tx) => {
    if (proved !== undefined) {
      if ((await credentials.lockPasswordHash(tx, actor.id)) !== proved.passwordHash) throw wrongCurrentPassword();
      if (!(await credentials.lockLiveCredential(tx, actor.credentialId))) {
        throw new AppError('unauthenticated', 'the token or session is invalid, expired or revoked');
      }
      await attempts.forgiveAttempt(tx, proved.counted);
    }
    const updated = await users.updateUser(tx, actor.id, { name: changes.name?.trim(), passwordHash: proved?.newHash });
    if (proved !== undefined) {
      await credentials.revokeUserCredentials(tx, actor.id, ['session'], actor.credentialKind === 'session' ? actor.credentialId : null);
    }
    return updated;
  });
  assert.ok(row !== undefined, 'an authenticated user exists');
  return presentUser(row);
}

/**
 * Who a presented secret (a bearer token or a session cookie) belongs to, or null. A token acts
 * with its own role, capped by its creator's current role, and at its own locations, if it is
 * limited to some, within its creator's current ones (locationScope).
 */
export async function authenticate(
  { db, signal, credentials: cache }: Pick<UseCaseContext, 'db' | 'signal' | 'credentials'>,
  secret: string,
): Promise<Actor | null> {
  if (!looksLikeSecret(secret)) return null;
  const secretHash = hashSecret(secret);
  const key = secretHash.toString('base64');
  let row = cache?.get(key);
  if (row === undefined) {
    const generation = cache?.generation ?? 0;
    row = await db.connection(
      async (conn) => {
        const found = await credentials.findLiveCredential(conn, secretHash);
        if (found !== undefined) await credentials.touchCredential(conn, found);
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
    locationIds: locationScope(row.userRole, role, row.locationIds, row.tokenLocationIds),
    credentialId: row.credentialId,
    credentialKind: row.kind,
  };
}
