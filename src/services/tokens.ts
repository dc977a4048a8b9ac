import assert from 'node:assert/strict';
import * as credentials from '../db/credentials.ts';
import { exceeds, type Actor, type Role } from '../domain/access.ts';
import { readPage, type Keyset, type PageQuery } from '../domain/cursor.ts';
import { AppError, notFound, validationFailed } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { hashSecret, newSecret } from '../domain/secrets.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { changeCredentials } from './credential-cache.ts';

// API tokens for integrations: created by a user, acting on its behalf with a role no higher than
// its own, and, if it is limited to locations, reading and moving stock only there (within its
// creator's current locations: src/domain/access.ts, locationScope). The secret is returned once,
// at creation; only its hash is kept.

const presentToken = (row: credentials.TokenRow) => ({
  id: row.id,
  name: row.name,
  role: row.role,
  userId: row.userId,
  createdAt: row.createdAt.toISOString(),
  expiresAt: row.expiresAt?.toISOString() ?? null,
  lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  locationIds: row.locationIds,
});

function actorOf(ctx: UseCaseContext): Actor {
  assert.ok(ctx.actor !== null, 'API tokens belong to a user: this use case needs an actor');
  return ctx.actor;
}

/** Newest first: ids are UUIDv7, ordered by creation time. */
const NEWEST_FIRST: Keyset<credentials.TokenRow, readonly ['uuid']> = {
  shape: ['uuid'],
  keyOf: (row) => [row.id],
};

export interface TokenInput {
  name: string;
  role?: Role | undefined;
  expiresAt?: Date | undefined;
  /** The locations it is limited to; null or absent for none beyond its creator's own scope. */
  locationIds?: readonly string[] | null | undefined;
}

/**
 * Creates a token with the acting credential's authority at most: a role no higher, and locations
 * within its scope (a clerk: its own; a location-limited token: its limit; 403 past it). Made by
 * a token whose scope is limited and given no locations, it takes that scope as its limit, so that
 * a token can't make a wider one. Locations that don't exist: 404.
 */
export async function createToken(ctx: UseCaseContext, input: TokenInput) {
  const actor = actorOf(ctx);
  const role = input.role ?? actor.role;
  if (exceeds(role, actor.role)) throw new AppError('forbidden', `a token's role can't exceed your own (${actor.role})`);
  if (input.expiresAt !== undefined && input.expiresAt.getTime() <= Date.now()) {
    throw validationFailed([{ path: '/expiresAt', message: 'must be in the future' }]);
  }
  const locationIds = tokenLocations(actor, input.locationIds ?? null);
  const secret = newSecret();
  const row = await inTransaction(ctx, (tx) =>
    credentials.insertCredential(tx, {
      id: uuidv7(),
      kind: 'token',
      userId: actor.id,
      name: input.name.trim(),
      role,
      secretHash: hashSecret(secret),
      expiresAt: input.expiresAt ?? null,
      locationIds,
    }),
  );
  return { ...presentToken(row), token: secret };
}

/** The location limit a new token gets: the one asked for, within the actor's scope. */
function tokenLocations(actor: Actor, requested: readonly string[] | null): readonly string[] | null {
  // The database gives ids in lower case; a client may send them in upper.
  const asked = requested === null ? null : [...new Set(requested.map((id) => id.toLowerCase()))];
  const scope = actor.locationIds;
  if (scope === null) return asked;
  if (asked === null) {
    // A session's user scope is applied at each request anyway; a token's must be passed on.
    if (actor.credentialKind === 'session') return null;
    if (scope.length === 0) throw new AppError('forbidden', 'this token reaches no location, so it can make no token');
    return scope;
  }
  const outside = asked.filter((id) => !scope.includes(id));
  if (outside.length > 0) {
    const more = outside.length > 1 ? ` (and ${outside.length - 1} more)` : '';
    throw new AppError('forbidden', `a token can only be limited to locations you may work at, not to location ${outside[0]}${more}`);
  }
  return asked;
}

/** One's own live tokens, newest first; an admin sees everyone's (or one user's, with `userId`). */
export async function listTokens(ctx: UseCaseContext, query: PageQuery & { userId?: string | undefined }) {
  const actor = actorOf(ctx);
  const userId = actor.role === 'admin' ? query.userId : actor.id;
  return readPage(
    query,
    NEWEST_FIRST,
    (after) => reading(ctx, (db) => credentials.listTokens(db, { userId, after, limit: query.limit })),
    presentToken,
  );
}

/** Revokes a token at once. Another user's token is "not found" to anyone but an admin. */
export async function revokeToken(ctx: UseCaseContext, id: string): Promise<void> {
  const actor = actorOf(ctx);
  await changeCredentials(ctx, async (tx) => {
    const token = await credentials.findToken(tx, id);
    if (token === undefined || (token.userId !== actor.id && actor.role !== 'admin')) throw notFound('token', id);
    await credentials.revokeCredential(tx, id);
  });
}
