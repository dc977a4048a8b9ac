// How a job works through a backlog: in bounded batches, each its own transaction, so that no
// transaction holds many locks or runs long, and a crash loses at most the batch in progress.

/** Where a job reports what it did (the app's logger). */
export interface JobProgressLog {
  info(details: object, message: string): void;
}

/**
 * Runs `batch(size)` until one comes back short (fewer than `size` items done) or `batchesMax`
 * have run, checking the signal before each: what is left waits for the job's next run.
 * Returns how many items the batches did in all.
 */
export async function inBatches(
  signal: AbortSignal,
  { size, batchesMax }: { size: number; batchesMax: number },
  batch: (limit: number) => Promise<number>,
): Promise<number> {
  let done = 0;
  for (let run = 0; run < batchesMax; run += 1) {
    signal.throwIfAborted();
    const count = await batch(size);
    done += count;
    if (count < size) break;
  }
  return done;
}
