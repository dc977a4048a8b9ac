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

/** The scope of `Database.transaction`: statements in one transaction, which cursors need. */
export interface Transaction extends Queryable {
  /**
   * The rows of one query in batches of at most `batchSize`, read through a cursor so that
   * memory holds one batch at a time however many rows there are, from the transaction's
   * snapshot. The cursor is closed when the iteration ends: it runs out, the consumer breaks out
   * or throws, or a statement fails. Finish or `return()` it before the work resolves.
   */
  stream<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: StreamOptions,
  ): AsyncGenerator<Row[], void, undefined>;
  /**
   * Runs `work` in this transaction once the scope's work has resolved, just before COMMIT (in the
   * order registered): for what several joined use cases gather and write once, as events. It
   * fails the transaction like any statement of it; a transaction run again starts without it.
   */
  beforeCommit(work: () => Promise<void>): void;
  /** Calls `done` once the transaction has committed (never when it rolls back): for waking what reads its writes. */
  afterCommit(done: () => void): void;
}

export interface StreamOptions {
  /** Rows per batch: each batch is one FETCH, and the most rows held in memory at once. */
  batchSize?: number;
}

export interface ScopeOptions {
  /** Aborting it cancels the running statement and rolls the transaction back. */
  signal?: AbortSignal | undefined;
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
const STREAM_BATCH_SIZE_DEFAULT = 1_000;
const STREAM_BATCH_SIZE_MAX = 10_000;
/**
 * Cursors open at once on one session. Their names are reused so that, on PostgreSQL, a query
 * streamed with parameters is one named prepared statement per name (postgres.ts), not one per call.
 */
const STREAM_CURSORS_MAX = 4;

class Session implements Transaction {
  #closed = false;
  /** Names of the cursors open now (see `stream`). */
  readonly #cursors = new Set<string>();
  /** Set when a transaction of the session's own could not be ended: the connection is not reusable. */
  broken = false;
  readonly beforeCommitWork: (() => Promise<void>)[] = [];
  readonly afterCommitDone: (() => void)[] = [];

  constructor(
    private readonly connection: RawConnection,
    private readonly signal: AbortSignal | undefined,
    /** Whether the scope's transaction is open, or each statement runs on its own. */
    private readonly inTransaction: boolean,
  ) {}

  /** Whether a stream is still open: one that outlives its scope is a bug (see `#scope`). */
  get streaming() {
    return this.#cursors.size > 0;
  }

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

  // DECLARE … CURSOR, then FETCH until a short batch: the same statements on both drivers (the
  // drivers' own cursors — pg-cursor, pg-query-stream — exist for `pg` only).
  async *stream<Row>(text: string, params?: readonly unknown[], options: StreamOptions = {}): AsyncGenerator<Row[], void, undefined> {
    const batchSize = options.batchSize ?? STREAM_BATCH_SIZE_DEFAULT;
    assert.ok(Number.isInteger(batchSize), 'stream batchSize is an integer');
    assert.ok(batchSize >= 1 && batchSize <= STREAM_BATCH_SIZE_MAX, `stream batchSize is within 1..${STREAM_BATCH_SIZE_MAX}`);
    assert.ok(!this.#closed, 'stream on a session after its scope ended');
    // Outside a transaction the stream opens one of its own, which a second stream would share.
    assert.ok(this.inTransaction || this.#cursors.size === 0, 'one stream at a time outside a transaction');
    const cursor = this.#cursorName();
    this.#cursors.add(cursor);
    const own = !this.inTransaction;
    let begun = false;
    let declared = false;
    let failed = false;
    try {
      if (own) {
        this.signal?.throwIfAborted();
        await this.connection.begin(true).catch((error: unknown) => {
          this.broken = true; // like a failed ROLLBACK: whether a transaction is open is unknown
          throw error;
        });
        begun = true;
      }
      // A cursor is planned for reading its first tenth fast (cursor_tuple_fraction 0.1); a
      // stream reads it all, so plan for the whole, as the same query without a cursor would be.
      await this.query('SET LOCAL cursor_tuple_fraction = 1');
      await this.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${text}`, params);
      declared = true;
      for (;;) {
        const rows = await this.query<Row>(`FETCH ${batchSize} FROM ${cursor}`);
        if (rows.length > 0) yield rows;
        if (rows.length < batchSize) break;
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      this.#cursors.delete(cursor);
      // Past its scope, the scope's owner has ended the transaction, and the cursor with it. After
      // a failure or an abort the transaction is no good: a stream's own one is rolled back here,
      // the scope's by the scope.
      if (!this.#closed) {
        const usable = !failed && !this.signal?.aborted;
        if (begun) await this.#endOwnTransaction(usable);
        else if (declared && usable) await this.connection.run(`CLOSE ${cursor}`);
      }
    }
  }

  beforeCommit(work: () => Promise<void>): void {
    assert.ok(this.inTransaction && !this.#closed, 'beforeCommit in an open transaction');
    this.beforeCommitWork.push(work);
  }

  afterCommit(done: () => void): void {
    assert.ok(this.inTransaction && !this.#closed, 'afterCommit in an open transaction');
    this.afterCommitDone.push(done);
  }

  #cursorName(): string {
    for (let index = 0; index < STREAM_CURSORS_MAX; index += 1) {
      const name = `stockroom_stream_${index}`;
      if (!this.#cursors.has(name)) return name;
    }
    assert.fail(`at most ${STREAM_CURSORS_MAX} streams open at once on one transaction`);
  }

  /** Ends a stream's own read-only transaction; the COMMIT's error is the stream's, a ROLLBACK's is not. */
  async #endOwnTransaction(usable: boolean) {
    try {
      await this.connection.run(usable ? 'COMMIT' : 'ROLLBACK');
    } catch (error) {
      this.broken = true; // a connection that can't end its transaction is destroyed; the server rolls back
      if (usable) throw error;
    }
  }

  close() {
    this.#closed = true;
  }
}

/** What waits for a commit is told of it; its failure can't undo the commit, so it is not the work's. */
function afterCommitted(done: (() => void)[]) {
  for (const callback of done) {
    try {
      callback();
    } catch (error) {
      queueMicrotask(() => {
        throw error; // a bug in a callback: reported as uncaught, not as the transaction's failure
      });
    }
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
  async transaction<T>(work: (tx: Transaction) => Promise<T>, options: ScopeOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#scope(work, options, true);
      } catch (error) {
        const retry = attempt < TRANSACTION_ATTEMPTS_MAX && isRetryableTransactionError(error);
        if (!retry || options.signal?.aborted) throw translateDatabaseError(error, options.signal);
      }
    }
  }

  /**
   * The rows of one query in batches (see `Transaction.stream`), on a connection of their own in a
   * read-only transaction: for exports too large to hold in memory. The connection is acquired at
   * the first `next()` and released exactly once when the iteration ends — it runs out, the
   * consumer breaks out or throws, a statement fails, or the signal aborts (the running FETCH is
   * cancelled and the iteration rejects with the signal's reason). A consumer that stops pulling
   * without `return()` (for await, `Readable.from` and `pipeline` all call it) holds the connection.
   */
  async *stream<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options: StreamOptions & Pick<ScopeOptions, 'signal'> = {},
  ): AsyncGenerator<Row[], void, undefined> {
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      const connection = await this.source.acquire(signal);
      const session = new Session(connection, signal, false);
      try {
        yield* session.stream<Row>(text, params, options);
      } finally {
        session.close();
        connection.release(session.broken);
      }
    } catch (error) {
      throw translateDatabaseError(error, signal);
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

  async #scope<T>(work: (db: Transaction) => Promise<T>, options: ScopeOptions, transaction: boolean) {
    const { signal } = options;
    signal?.throwIfAborted();
    const connection = await this.source.acquire(signal);
    const session = new Session(connection, signal, transaction);
    let released = false;
    const release = (broken: boolean) => {
      if (released) return;
      released = true;
      connection.release(broken);
    };
    try {
      const transactionId = transaction ? await connection.begin(false) : undefined;
      const result = await work(session);
      // Work registered while this runs runs too.
      for (let index = 0; index < session.beforeCommitWork.length; index += 1) await session.beforeCommitWork[index]!();
      // COMMIT would close its cursor under a consumer still reading.
      assert.ok(!session.streaming, 'a stream outlived its scope: finish or return() it before the work resolves');
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
          if (!(await this.#committed(transactionId, signal, error, options.confirm))) throw error;
        }
        afterCommitted(session.afterCommitDone);
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
