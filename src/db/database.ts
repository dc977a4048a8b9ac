import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommitOutcomeUnknownError, isConnectionError, isRetryableTransactionError, translateDatabaseError } from './errors.ts';

// The one place that owns a connection's life: acquire → (BEGIN) → the caller's work →
// COMMIT or ROLLBACK → release, exactly once, whether the work succeeds, throws, runs past its
// deadline or loses its client (DESIGN.md patterns 1, 3, 4, 8). Both backends plug in below it
// through `ConnectionSource`, so the guarantees are written once.

export interface Queryable {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface ScopeOptions {
  /** Aborting it cancels the running statement and rolls the transaction back. */
  signal?: AbortSignal | undefined;
  readOnly?: boolean;
  /**
   * Whether this transaction's writes are in the database: asked, on another connection, when
   * the connection is lost with COMMIT's answer. Without it such a COMMIT can only be known to
   * have failed, never to have succeeded (see `#committed`).
   */
  confirm?: (db: Queryable) => Promise<boolean>;
}

export interface PoolStats {
  total: number;
  idle: number;
  inUse: number;
  waiting: number;
}

/** A connection checked out of a source; `release` must be called exactly once. */
export interface RawConnection {
  /**
   * Opens a transaction. Returns its id when the source can tell later whether it committed
   * (see `commitStatus`), for a write transaction on PostgreSQL; undefined otherwise.
   */
  begin(readOnly: boolean): Promise<string | undefined>;
  run(text: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  exec(script: string): Promise<void>;
  /** Asks the server to cancel the statement running now; resolves once the request is sent. */
  cancel(): Promise<void>;
  /** `broken` destroys the connection instead of returning it to the pool. */
  release(broken: boolean): void;
}

/** What a listener on a notification channel is told. */
export interface NotificationHandler {
  message(payload: string): void;
  /** Notifications may have been missed (the listening connection was lost, or has just been made). */
  gap(): void;
}

export interface Listening {
  /** True while every notification of the channel reaches the handler. */
  readonly live: boolean;
  close(): Promise<void>;
}

export interface ConnectionSource {
  readonly kind: 'postgres' | 'pglite';
  /** Listens on a channel of NOTIFY, reconnecting by itself, until closed. */
  listen(channel: string, handler: NotificationHandler): Listening;
  /** Rejects with the signal's reason if it aborts first, releasing a late connection itself. */
  acquire(signal?: AbortSignal): Promise<RawConnection>;
  /** Whether the transaction with this id (from `begin`) committed; 'in progress' while it runs. */
  commitStatus(transactionId: string, signal: AbortSignal): Promise<'committed' | 'aborted' | 'in progress'>;
  stats(): PoolStats;
  close(): Promise<void>;
}

const TRANSACTION_ATTEMPTS_MAX = 3;
/** How long work without a deadline of its own (the CLI, background jobs) waits to learn a lost COMMIT's outcome. */
const OUTCOME_WAIT_MS = 10_000;
const OUTCOME_POLL_MS = 200;
const OUTCOME_ABSENT_CHECKS = 3;

class Session implements Queryable {
  #closed = false;

  constructor(
    private readonly connection: RawConnection,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]> {
    assert.ok(!this.#closed, 'query on a session after its scope ended');
    this.signal?.throwIfAborted();
    const running = this.connection.run(text, params);
    if (this.signal === undefined) return (await running) as Row[];
    let cancelling: Promise<void> | undefined;
    const onAbort = () => {
      cancelling = this.connection.cancel().catch(() => undefined);
    };
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return (await running) as Row[];
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      // Wait for the cancel request to land, so that it can't hit the ROLLBACK that follows.
      if (cancelling !== undefined) await cancelling;
      this.signal.throwIfAborted();
    }
  }

  async exec(script: string): Promise<void> {
    assert.ok(!this.#closed, 'exec on a session after its scope ended');
    this.signal?.throwIfAborted();
    await this.connection.exec(script);
  }

  close() {
    this.#closed = true;
  }
}

export class Database {
  constructor(private readonly source: ConnectionSource) {}

  get kind() {
    return this.source.kind;
  }

  /**
   * Runs `work` in one transaction on one connection. Commits when it resolves; rolls back when
   * it throws or the signal aborts first. Deadlocks and serialization failures are retried.
   */
  async transaction<T>(work: (tx: Queryable) => Promise<T>, options: ScopeOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#scope(work, options, true);
      } catch (error) {
        const retry = attempt < TRANSACTION_ATTEMPTS_MAX && isRetryableTransactionError(error);
        if (!retry || options.signal?.aborted) throw translateDatabaseError(error, options.signal);
      }
    }
  }

  /** Runs `work` on one connection, each statement on its own: for reads that need no snapshot. */
  async connection<T>(work: (db: Queryable) => Promise<T>, options: ScopeOptions = {}): Promise<T> {
    try {
      return await this.#scope(work, options, false);
    } catch (error) {
      throw translateDatabaseError(error, options.signal);
    }
  }

  async #scope<T>(work: (db: Queryable) => Promise<T>, options: ScopeOptions, transaction: boolean) {
    const { signal } = options;
    signal?.throwIfAborted();
    const connection = await this.source.acquire(signal);
    const session = new Session(connection, signal);
    let released = false;
    const release = (broken: boolean) => {
      if (released) return;
      released = true;
      connection.release(broken);
    };
    try {
      const transactionId = transaction ? await connection.begin(options.readOnly ?? false) : undefined;
      const result = await work(session);
      session.close();
      if (transaction) {
        // A deadline that passed while the work ran means the client was (or will be) told the
        // request failed, so nothing of it may commit.
        signal?.throwIfAborted();
        try {
          await connection.run('COMMIT');
        } catch (error) {
          if (transactionId === undefined || !isConnectionError(error)) throw error;
          // The connection was lost with COMMIT's answer: the server may have made it durable
          // first. Ask on another connection rather than report a failure that may be false.
          release(true); // first: a pool of dead connections must not wait on itself
          if (await this.#committed(transactionId, signal, error, options.confirm)) return result;
          throw error;
        }
      }
      return result;
    } catch (error) {
      session.close();
      if (transaction && !released) {
        try {
          await connection.run('ROLLBACK');
        } catch {
          release(true); // a connection that can't roll back is destroyed; the server then rolls back
        }
      }
      throw error;
    } finally {
      release(false);
    }
  }

  /**
   * Whether a transaction whose COMMIT lost its answer committed, asked until the database
   * answers or the deadline passes (then the outcome is unknown, and the caller is told so).
   * txid_status() alone can't say "committed": after a crash, PostgreSQL hands out again the ids
   * of transactions whose commit never reached the disk, so the status may be another's. It can
   * say "aborted" (a durable commit keeps its id) and "in progress" (wait); "committed" is then
   * believed only when the transaction's own writes are found.
   */
  async #committed(
    transactionId: string,
    signal: AbortSignal | undefined,
    lost: unknown,
    confirm: ((db: Queryable) => Promise<boolean>) | undefined,
  ): Promise<boolean> {
    const deadline = signal ?? AbortSignal.timeout(OUTCOME_WAIT_MS);
    let absent = 0;
    while (!deadline.aborted) {
      try {
        if (confirm !== undefined && (await this.connection(confirm, { signal: deadline }))) return true;
        const status = await this.source.commitStatus(transactionId, deadline);
        if (status === 'aborted') return false;
        if (status === 'committed') {
          if (confirm === undefined) break;
          // Committed but not (yet) visible: it becomes visible a moment after its status is
          // set; if it stays absent, the id was another transaction's.
          absent += 1;
          if (absent >= OUTCOME_ABSENT_CHECKS) return false;
        }
      } catch {
        // The database is still out of reach: ask again.
      }
      await sleep(OUTCOME_POLL_MS, undefined, { signal: deadline }).catch(() => undefined);
    }
    throw new CommitOutcomeUnknownError(lost);
  }

  /** Hears `NOTIFY channel` from every instance on the database (see src/db/postgres.ts). */
  listen(channel: string, handler: NotificationHandler): Listening {
    return this.source.listen(channel, handler);
  }

  stats(): PoolStats {
    return this.source.stats();
  }

  close(): Promise<void> {
    return this.source.close();
  }
}
