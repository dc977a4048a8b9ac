import { announceCredentialChange, CREDENTIALS_CHANNEL, type AuthenticatedRow } from '../db/credentials.ts';
import assert from 'node:assert/strict';
import type { Database, Listening, Transaction } from '../db/database.ts';
import { inTransaction, type UseCaseContext } from './context.ts';

// What each credential authenticated as, remembered for a few seconds, so that a request costs
// one database round trip instead of two (measured on GET /stock: see the README, Performance).
// Forgetting is what makes it safe:
// - every use case that changes what a credential stands for (logout, revoking a token, changing
//   or disabling a user) goes through `changeCredentials`, which clears this instance's memory
//   after its transaction and, by NOTIFY at its commit, every other instance's;
// - while the LISTEN connection is down nothing is remembered or used, since a notification
//   could be missed; it is cleared again when the connection comes back;
// - a lookup that was running when memory was cleared is not stored (the generation moved);
// - nothing is remembered past the credential's own expiry, nor past AUTH_CACHE_TTL_S, which
//   bounds how long a change made behind the service's back (SQL by hand) goes unseen.
// Unknown secrets are never remembered, so guessing fills nothing.

export interface CredentialCacheOptions {
  ttlS: number;
  maxEntries?: number;
}

interface Entry {
  row: AuthenticatedRow;
  until: number;
}

export class CredentialCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  #generation = 0;

  constructor(
    options: CredentialCacheOptions,
    private readonly isLive: () => boolean,
  ) {
    this.#ttlMs = options.ttlS * 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  /** Marks the start of a lookup; `put` stores its result only if nothing was cleared meanwhile. */
  get generation(): number {
    return this.#generation;
  }

  get(key: string, now = Date.now()): AuthenticatedRow | undefined {
    if (!this.isLive()) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now || (entry.row.expiresAt !== null && entry.row.expiresAt.getTime() <= now)) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.row;
  }

  put(key: string, row: AuthenticatedRow, generation: number, now = Date.now()): void {
    if (this.#ttlMs === 0 || generation !== this.#generation || !this.isLive()) return;
    // Oldest first out: a Map iterates in insertion order.
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { row, until: now + this.#ttlMs });
  }

  clear(): void {
    this.#generation += 1;
    this.#entries.clear();
  }

  /** False while changes from other instances could go unheard: nothing is remembered then. */
  get live(): boolean {
    return this.isLive();
  }

  get size(): number {
    return this.#entries.size;
  }
}

// One cache per database handle: a background job starts it (src/jobs/credential-listener.ts,
// run by the lifespan's supervisor), the use cases that authenticate or change credentials find
// it by the handle they already hold. A handle without one (the CLI, a script, an app started
// without its jobs, as tests build them) simply looks every credential up.
const caches = new WeakMap<Database, CredentialCache>();

/**
 * Starts remembering credentials for this database, listening for changes from other instances;
 * the returned function stops both. Called by the credential-listener job, not by the app.
 */
export function startCredentialCache(db: Database, options: CredentialCacheOptions): () => Promise<void> {
  if (options.ttlS === 0) return async () => undefined;
  assert.ok(!caches.has(db), 'this database handle already has a credential cache: one app per handle');
  let listening: Listening | undefined;
  const cache = new CredentialCache(options, () => listening?.live === true);
  listening = db.listen(CREDENTIALS_CHANNEL, { message: () => cache.clear(), gap: () => cache.clear() });
  caches.set(db, cache);
  return async () => {
    caches.delete(db);
    await listening?.close();
  };
}

export function credentialCacheOf(db: Database): CredentialCache | undefined {
  return caches.get(db);
}

/**
 * Runs a change to credentials or users in one transaction that announces it to every instance
 * at its commit, then forgets what this instance remembered. It forgets even when the outcome is
 * unknown (the connection lost during COMMIT): forgetting too much only costs a lookup.
 *
 * It does not join a caller's transaction: this instance must forget after the commit, which only
 * the transaction's owner sees (forgetting before it, a lookup could remember the old credential
 * again until the NOTIFY arrives).
 */
export async function changeCredentials<T>(ctx: UseCaseContext, work: (tx: Transaction) => Promise<T>): Promise<T> {
  assert.ok(ctx.tx === undefined, 'a change to credentials is a transaction of its own');
  try {
    return await inTransaction(ctx, async (tx) => {
      const result = await work(tx);
      await announceCredentialChange(tx);
      return result;
    });
  } finally {
    credentialCacheOf(ctx.db)?.clear();
  }
}
