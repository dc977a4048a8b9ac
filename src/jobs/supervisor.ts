import assert from 'node:assert/strict';

// Background work as jobs (DESIGN.md pattern 7, STYLE.md 16): the lifespan (src/server.ts) owns
// one supervisor, starts it once the database is migrated and stops it before the pool closes.
// The supervisor paces every job, runs one run of a job at a time, logs and retries what fails,
// and at stop aborts the runs in progress and waits for them. No job starts a timer of its own.

export interface Job {
  readonly name: string;
  /** From the end of one run to the start of the next; also the wait before the first run, unless `firstRunMs`. */
  readonly intervalMs: number;
  /** Up to this much is added at random to every wait, so that instances started together spread out. */
  readonly jitterMs?: number;
  /** The wait before the first run (0: at start). */
  readonly firstRunMs?: number;
  /** One run; the signal aborts at stop, and the run should then end soon. */
  run(signal: AbortSignal): Promise<void>;
}

/** Where a job's failures are reported (the app's pino logger fits). */
export interface JobLog {
  warn(details: object, message: string): void;
}

/** A job failing again and again waits twice as long each time, up to this (never less than its interval). */
export const FAILURE_BACKOFF_MAX_MS = 5 * 60_000;

export class Supervisor {
  readonly #jobs = new Map<string, Job>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #runs = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  #started = false;

  constructor(private readonly log: JobLog) {}

  add(job: Job): this {
    assert.ok(!this.#started, 'jobs are added before the supervisor starts');
    assert.ok(!this.#jobs.has(job.name), `one job named ${job.name}`);
    assert.ok(job.intervalMs > 0, `job ${job.name} has an interval`);
    this.#jobs.set(job.name, job);
    return this;
  }

  start(): void {
    assert.ok(!this.#started, 'a supervisor starts once');
    this.#started = true;
    for (const job of this.#jobs.values()) this.#schedule(job, job.firstRunMs ?? job.intervalMs, 0);
  }

  /** Starts nothing more, aborts the runs in progress and waits for them to end. */
  async stop(): Promise<void> {
    this.#stopping.abort(new Error('shutting down'));
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all(this.#runs);
  }

  #schedule(job: Job, waitMs: number, failures: number) {
    if (this.#stopping.signal.aborted) return;
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        if (this.#stopping.signal.aborted) return;
        const run = this.#run(job, failures).then((failed) => {
          this.#runs.delete(run);
          const backoffMs = Math.min(job.intervalMs * 2 ** failed, FAILURE_BACKOFF_MAX_MS);
          this.#schedule(job, Math.max(job.intervalMs, backoffMs), failed);
        });
        this.#runs.add(run);
      },
      waitMs + Math.random() * (job.jitterMs ?? 0),
    );
    timer.unref(); // a pending job never keeps the process alive
    this.#timers.add(timer);
  }

  /** Runs the job once; resolves with its consecutive failures (0 once it succeeds), never rejects. */
  async #run(job: Job, failures: number): Promise<number> {
    const signal = this.#stopping.signal;
    try {
      await job.run(signal);
      return 0;
    } catch (error) {
      if (signal.aborted) return failures; // stopped: not a failure of the job
      this.log.warn({ err: error, job: job.name, failures: failures + 1 }, `job ${job.name} failed; will retry`);
      return failures + 1;
    }
  }
}
