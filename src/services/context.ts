import type { Database, Queryable, ScopeOptions, Transaction } from '../db/database.ts';
import type { Actor } from '../domain/access.ts';
import type { CredentialCache } from './credential-cache.ts';

export type { Actor };

/** What every use case receives from the request that runs it. */
export interface UseCaseContext {
  db: Database;
  /** Aborts on the request's deadline or when its client goes away. */
  signal?: AbortSignal | undefined;
  /** Who is acting; null for the system itself (the CLI, start-up, background work). */
  actor: Actor | null;
  /**
   * The caller's transaction, for a use case run as one step of a larger one (an import creating
   * a product per row): the use case joins it instead of opening its own (see `inTransaction`).
   */
  tx?: Transaction | undefined;
  /** This instance's memory of credentials, if it keeps one: read by authentication, cleared by changes. */
  credentials?: CredentialCache | undefined;
  /**
   * This instance's event feed, told when a transaction that wrote events has committed, so that
   * they are published at once; without one they are published at the publisher's next poll.
   */
  events?: { written(): void } | undefined;
}

// A use case is one transaction, and several can compose into one: the one that opens the
// transaction owns it, the ones given it in `ctx.tx` join it. The rule for a joined use case:
// - it never retries on its own, nor commits or rolls back: a deadlock or a serialization failure
//   aborts the whole transaction, so only its owner can run it again, from the start
//   (`Database.transaction` reruns the owner's work, and the joined use cases with it);
// - it lets every database error through to the owner: after one, PostgreSQL refuses every
//   statement until ROLLBACK, so a use case that catches one and carries on can't be joined;
// - it confirms nothing: a lost COMMIT's outcome is asked about by the owner (`confirm`);
// - what it does after its work (forgetting cached credentials) happens before the owner commits.
// Use cases that can't follow it (a login, which commits a counted attempt before it checks the
// password) assert that they are not joined.

/**
 * Runs a use case's writes in the caller's transaction (`ctx.tx`) or, without one, in a
 * transaction of its own that ends with `work`, aborted by the context's signal.
 * `options.confirm` only applies to a transaction of its own.
 */
export function inTransaction<T>(
  ctx: UseCaseContext,
  work: (tx: Transaction) => Promise<T>,
  options: Pick<ScopeOptions, 'confirm'> = {},
): Promise<T> {
  if (ctx.tx !== undefined) return work(ctx.tx);
  return ctx.db.transaction(work, { signal: ctx.signal, confirm: options.confirm });
}

/** Runs a use case's reads in the caller's transaction (`ctx.tx`) or, without one, on a connection of their own. */
export function reading<T>(ctx: UseCaseContext, work: (db: Queryable) => Promise<T>): Promise<T> {
  if (ctx.tx !== undefined) return work(ctx.tx);
  return ctx.db.connection(work, { signal: ctx.signal });
}
