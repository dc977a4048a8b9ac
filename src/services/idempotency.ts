import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Transaction } from '../db/database.ts';
import * as idempotency from '../db/idempotency.ts';
import type { Actor } from '../domain/access.ts';
import { AppError } from '../domain/errors.ts';

// Exactly-once writes for any use case that honours an Idempotency-Key (API.md, Idempotency):
// the key is claimed, and the result kept, in the use case's own transaction, so the result is
// stored if and only if the use case's writes commit. It knows nothing of HTTP: the caller says
// what the request asked for (its fingerprint) and gets back a value and whether it is a replay.

/** A use case's request for exactly-once execution. */
export interface IdempotencyRequest {
  /** The Idempotency-Key as the client sent it; scoped to the actor here. */
  key: string;
  /** What was asked, from `fingerprint`: the same key with another fingerprint is refused. */
  fingerprint: string;
  /** How long a result is replayed. */
  ttlHours: number;
}

export interface IdempotentResult<T> {
  value: T;
  /** True when `value` is the stored result of an earlier execution and nothing was written now. */
  replayed: boolean;
}

/** Serialises with object keys sorted, so that equal inputs hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The fingerprint of a request: the operation it names (for HTTP, method and path, as in
 * `POST /api/v1/movements`) and its input, canonically. Stored with the key, so it must not change
 * for a given request: records written earlier are compared with it.
 */
export function fingerprint(operation: string, input: unknown): string {
  return createHash('sha256')
    .update(`${operation}\n${canonicalJson(input)}`)
    .digest('hex');
}

/** One user's key can neither replay nor block another's, as at payment APIs. */
function scopedKey(actor: Actor | null, key: string): string {
  return actor === null ? key : `${actor.id}:${key}`;
}

/**
 * Runs `work` at most once per key, inside the caller's transaction `tx`, which must be the use
 * case's one transaction: `work` writes through it, and the result is stored through it.
 *
 * Without a request, runs `work`. Otherwise takes the key's transaction-scoped advisory lock;
 * while another transaction holds it, refuses with `idempotency_key_in_progress`. A result
 * stored within the time to live is replayed without running `work` when the fingerprint matches,
 * refused with `idempotency_key_reused` when it does not. Else runs `work` and stores its value;
 * when `work` throws, nothing is stored (the transaction rolls back), and the key stays free.
 *
 * The value is stored as `JSON.stringify(value)` text and a replay returns `JSON.parse` of it: so
 * `value` must be plain JSON data (a Date comes back a string), and `JSON.stringify` of a replayed
 * value is, byte for byte, `JSON.stringify` of the first one, which is how the HTTP layer answers.
 */
export async function withIdempotency<T>(
  tx: Transaction,
  actor: Actor | null,
  request: IdempotencyRequest | undefined,
  work: () => Promise<T>,
): Promise<IdempotentResult<T>> {
  if (request === undefined) return { value: await work(), replayed: false };
  const key = scopedKey(actor, request.key);
  const stored = await idempotency.claimIdempotencyKey(tx, key, request.ttlHours);
  if (stored === 'busy') {
    throw new AppError(
      'idempotency_key_in_progress',
      'a request with this Idempotency-Key is being processed; retry after it finishes',
      {},
      1,
    );
  }
  if (stored !== undefined) {
    if (stored.requestHash !== request.fingerprint) {
      throw new AppError('idempotency_key_reused', 'this Idempotency-Key was already used with a different request');
    }
    return { value: JSON.parse(stored.responseBody) as T, replayed: true };
  }
  const value = await work();
  const text = JSON.stringify(value);
  assert.equal(typeof text, 'string', 'an idempotent use case returns JSON data');
  await idempotency.saveIdempotencyKey(tx, key, { requestHash: request.fingerprint, responseBody: text });
  return { value, replayed: false };
}
