import type { Database } from '../db/database.ts';

/** Who is acting. Authentication (a later plugin) fills it in; until then requests are anonymous. */
export interface Actor {
  id: string;
  name: string;
}

/** What every use case receives from the request that runs it. */
export interface UseCaseContext {
  db: Database;
  /** Aborts on the request's deadline or when its client goes away. */
  signal?: AbortSignal | undefined;
  actor: Actor | null;
}
