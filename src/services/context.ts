import type { Database } from '../db/database.ts';
import type { Actor } from '../domain/access.ts';

export type { Actor };

/** What every use case receives from the request that runs it. */
export interface UseCaseContext {
  db: Database;
  /** Aborts on the request's deadline or when its client goes away. */
  signal?: AbortSignal | undefined;
  /** Who is acting; null for the system itself (the CLI, start-up, background work). */
  actor: Actor | null;
}
