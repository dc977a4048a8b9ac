import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { createPostgresSource } from '../src/db/postgres.ts';
import { DEFAULT_SIZE, loadDataset } from './dataset.ts';
import { SCENARIOS, type Fixture, type Scenario } from './scenarios.ts';

// npm run bench: Stockroom on PostgreSQL under HTTP load, each scenario beside its baseline (the
// same SQL through pg at the same concurrency, measured in the same run). Figures are ratios
// because this machine is shared and noisy.
//   BENCH_SECONDS (20), BENCH_CONNECTIONS (64), BENCH_LEDGER_LINES (1000000), BENCH_SCENARIOS (all)

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA = 'stockroom_bench';
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const poolMax = Number(process.env.DB_POOL_MAX ?? 10);
const scenarios = (process.env.BENCH_SCENARIOS?.split(',') ?? SCENARIOS) as Scenario[];
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function withSchema(url: string) {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${SCHEMA}`);
  return parsed.toString();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function prepare(databaseUrl: string): Promise<Fixture> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin.query(`CREATE SCHEMA ${SCHEMA}`);
  await admin.end();
  const db = new Database(createPostgresSource({ ...loadConfig({}), databaseUrl, dbStatementTimeoutMs: 600_000 }));
  await migrate(db);
  await db.close();
  const client = new pg.Client({ connectionString: databaseUrl, statement_timeout: 0 });
  await client.connect();
  const started = Date.now();
  const size = { ...DEFAULT_SIZE, ledgerLines: Number(process.env.BENCH_LEDGER_LINES ?? DEFAULT_SIZE.ledgerLines) };
  const loaded = await loadDataset(client, size);
  console.log(`data set: ${size.products} products, ${size.locations} locations, ${loaded.levels} levels, ${loaded.ledgerLines} ledger lines (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  const products = await client.query<{ product_id: string }>('SELECT DISTINCT product_id FROM stock_levels');
  const locations = await client.query<{ id: string }>('SELECT id FROM locations ORDER BY code');
  await client.end();
  return { productIds: products.rows.map((r) => r.product_id), locationIds: locations.rows.map((r) => r.id) };
}

async function startServer(databaseUrl: string) {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/stockroom.mjs', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), LOG_LEVEL: 'warn', DB_POOL_MAX: String(poolMax) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i += 1) {
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return { child, url };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill();
  throw new Error('the server did not become ready');
}

async function runJob(job: object) {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/load.ts', JSON.stringify(job)], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    requestsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    total: number;
    non2xx: number;
    errors: number;
  };
}

async function eventLoopP99Ms(url: string) {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const value = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1];
  return value === undefined ? Number.NaN : Number(value) * 1000;
}

async function peakRssMb(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

const databaseUrl = withSchema(serverUrl);
const fixture = await prepare(databaseUrl);
const server = await startServer(databaseUrl);
const rows = [];
try {
  for (const scenario of scenarios) {
    const base = await runJob({ kind: 'baseline', scenario, fixture, connections, seconds, databaseUrl, poolMax });
    await eventLoopP99Ms(server.url); // resets the server's event-loop histogram window
    const http = await runJob({ kind: 'http', scenario, fixture, connections, seconds, url: server.url });
    const row = {
      scenario,
      requestsPerSecond: Math.round(http.requestsPerSecond),
      p50Ms: http.p50Ms,
      p99Ms: http.p99Ms,
      maxMs: http.maxMs,
      non2xx: http.non2xx,
      errors: http.errors,
      baselinePerSecond: Math.round(base.requestsPerSecond),
      baselineP99Ms: Number(base.p99Ms.toFixed(1)),
      ratio: Number((http.requestsPerSecond / base.requestsPerSecond).toFixed(2)),
      eventLoopP99Ms: Number((await eventLoopP99Ms(server.url)).toFixed(1)),
      peakRssMb: Math.round(await peakRssMb(server.child.pid!)),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  server.child.kill('SIGTERM');
}
console.table(rows);
await mkdir(`${ROOT}bench/results`, { recursive: true });
const file = `${ROOT}bench/results/${new Date().toISOString().replaceAll(':', '-')}.json`;
await writeFile(file, JSON.stringify({ seconds, connections, poolMax, database: 'postgres', rows }, null, 2));
console.log(`written to ${file}`);
