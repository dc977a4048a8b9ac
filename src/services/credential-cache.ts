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
  #listening: Listening | undefined;

  constructor(options: CredentialCacheOptions) {
    this.#ttlMs = options.ttlS * 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  /**
   * Starts hearing changes from every instance on `db` (LISTEN); until then, and whenever the
   * listening connection is down, nothing is remembered or used. The returned function stops
   * listening. Called by the credential-listener job (src/jobs/credential-listener.ts).
   */
  listen(db: Pick<Database, 'listen'>): () => Promise<void> {
    assert.ok(this.#listening === undefined, 'a credential cache listens once at a time');
    const listening = db.listen(CREDENTIALS_CHANNEL, { message: () => this.clear(), gap: () => this.clear() });
    this.#listening = listening;
    return async () => {
      this.#listening = undefined;
      this.clear();
      await listening.close();
    };
  }

  /** Marks the start of a lookup; `put` stores its result only if nothing was cleared meanwhile. */
  get generation(): number {
    return this.#generation;
  }

  get(key: string, now = Date.now()): AuthenticatedRow | undefined {
    if (!this.live) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= now || (entry.row.expiresAt !== null && entry.row.expiresAt.getTime() <= now)) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.row;
  }

  put(key: string, row: AuthenticatedRow, generation: number, now = Date.now()): void {
    if (this.#ttlMs === 0 || generation !== this.#generation || !this.live) return;
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
    return this.#listening?.live === true;
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The cache a serving instance keeps (AUTH_CACHE_TTL_S > 0), handed to its app, which puts it in
 * each request's context, and to its jobs, which keep it listening. An instance without one (the
 * CLI, a script, an app a test builds without jobs) looks every credential up.
 */
export function credentialCacheFor(config: { authCacheTtlS: number }): CredentialCache | undefined {
  return config.authCacheTtlS > 0 ? new CredentialCache({ ttlS: config.authCacheTtlS }) : undefined;
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
    ctx.credentials?.clear();
  }
}
