import { readFile } from 'node:fs/promises';
import type { Fixture } from './dataset.ts';
import { Database } from '../src/db/database.ts';
import { baselineCall, reserveAndFulfil, type Scenario } from './scenarios.ts';
import { openSource, withConnection, type Target } from './target.ts';

// The baseline of one scenario, in a process of its own (started by run.ts with the file of its JSON
// job as its argument): the scenario's SQL issued straight through the driver by `connections` concurrent
// workers — on PostgreSQL sharing a pool of the server's size, on PGlite its one connection.
// Prints one JSON result line.

export interface BaselineJob {
  scenario: Scenario;
  fixture: Fixture;
  target: Target;
  connections: number;
  seconds: number;
}

function percentile(sorted: number[], p: number) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * wrk's correction for coordinated omission (stats_correct in its source), applied here too so
 * that the baseline's percentiles compare with wrk's: a call slower than twice the mean interval
 * between one worker's calls also stands for the calls an open-loop client would have made meanwhile.
 */
function corrected(latencies: number[], interval: number): number[] {
  const all = [...latencies];
  for (const latency of latencies) for (let m = latency - interval; m > interval; m -= interval) all.push(m);
  return all.sort((a, b) => a - b);
}

const job = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as BaselineJob;
const source = await openSource(job.target);
const db = new Database(source);
const latencies: number[] = [];
let errors = 0;
const end = Date.now() + job.seconds * 1000;
const worker = async () => {
  while (Date.now() < end) {
    const start = performance.now();
    try {
      if (job.scenario === 'reserve-fulfil') await reserveAndFulfil(job.fixture, db);
      else await withConnection(source, (connection) => baselineCall(job.scenario, job.fixture, connection));
      latencies.push(performance.now() - start);
    } catch {
      errors += 1;
    }
  }
};
await Promise.all(Array.from({ length: job.connections }, worker));
await source.close();
const sorted = corrected(latencies, (job.seconds * 1000) / Math.max(1, latencies.length / job.connections));
console.log(
  JSON.stringify({
    requests: latencies.length,
    perSecond: latencies.length / job.seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? 0,
    errors,
  }),
);
