import autocannon from 'autocannon';
import pg from 'pg';
import { baselineCall, httpRequest, type Fixture, type Scenario } from './scenarios.ts';

// Runs in a process of its own, so that the load generator doesn't share the server's (or the
// baseline's) CPU time with the code it measures. Prints one JSON result line.

interface Job {
  kind: 'http' | 'baseline';
  scenario: Scenario;
  fixture: Fixture;
  connections: number;
  seconds: number;
  url?: string;
  databaseUrl?: string;
  poolMax?: number;
}

function percentile(sorted: number[], p: number) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function http(job: Job) {
  const result = await autocannon({
    url: job.url!,
    connections: job.connections,
    duration: job.seconds,
    requests: [
      {
        setupRequest: (request) => {
          const next = httpRequest(job.scenario, job.fixture);
          return { ...request, method: next.method, path: next.path, body: next.body, headers: { 'content-type': 'application/json' } };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function baseline(job: Job) {
  const pool = new pg.Pool({ connectionString: job.databaseUrl, max: job.poolMax, connectionTimeoutMillis: 10_000 });
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + job.seconds * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const start = performance.now();
      try {
        await baselineCall(job.scenario, job.fixture, pool);
        latencies.push(performance.now() - start);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: job.connections }, worker));
  await pool.end();
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / job.seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? 0,
    total: latencies.length,
    non2xx: 0,
    errors,
  };
}

const job = JSON.parse(process.argv[2]!) as Job;
const result = job.kind === 'http' ? await http(job) : await baseline(job);
console.log(JSON.stringify(result));
