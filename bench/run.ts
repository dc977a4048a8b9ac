import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { Database } from '../src/db/database.ts';
import { insertEvents, publishEvents } from '../src/db/events.ts';
import { migrate } from '../src/db/migrate.ts';
import type { BaselineJob } from './baseline.ts';
import { DEFAULT_SIZE, loadDataset, readFixture, type Fixture } from './dataset.ts';
import { SCENARIOS, type Scenario } from './scenarios.ts';
import { BENCH_ADMIN, openSource, serverEnv, withConnection, type Target } from './target.ts';
import { followEvents, type EventLatency } from './event-latency.ts';
import { directPostRate, startReceiver } from './webhooks.ts';
import { ensureWrk, runWrk } from './wrk.ts';
import { measureImports } from './import.ts';
import { benchExport, printExport, type ExportMeasurement } from './export.ts';

// npm run bench: Stockroom under HTTP load from wrk, on PostgreSQL and on the embedded database,
// each scenario beside its baseline (the same SQL straight through the driver at the same
// concurrency, measured in the same run, just before). Then, when asked, the scale series: a few
// scenarios' latency at several ledger sizes on PostgreSQL, to show that it stays flat.
// Prints tables and writes everything as JSON to bench/results/ (git-ignored). `npm run bench:scale`
// runs the scale series alone, at 10^5, 10^6 and 10^7 ledger lines (about 10 minutes).
//
//   BENCH_DATABASES     postgres,pglite   which full runs to do (empty: none)
//   BENCH_SCENARIOS     all               comma-separated, from SCENARIOS in bench/scenarios.ts
//   BENCH_SECONDS       20                each measurement (HTTP and baseline alike)
//   BENCH_CONNECTIONS   64                concurrent HTTP connections, and baseline workers
//   BENCH_LEDGER_LINES  1000000           ledger size of the full runs (PGlite too)
//   BENCH_SCALE         (none)            ledger sizes of the scale series, e.g. 100000,1000000,10000000
//   BENCH_SCALE_SECONDS 10                each measurement of the scale series
//   BENCH_SCALE_CONNECTIONS 8             its concurrency: enough to keep the server busy, few enough
//                                         that latency shows a request's cost rather than a queue
//   BENCH_EVENTS        1                 0: skip the event measurements (a stream followed under inbound load; the
//                                         webhook sender draining a backlog, beside direct POSTs to its receiver)
//   BENCH_WEBHOOK_BACKLOG 5000            deliveries the webhook sender drains in its measurement
//   BENCH_IMPORT_LINES  100000            the product import over HTTP (bench/import.ts), at this and a tenth; 0: skip it
//   BENCH_EXPORT        1                 0: skip the movements export (bench/export.ts: over HTTP on PostgreSQL, its
//                                         peak RSS at a tenth and at all of the lines, beside COPY … TO STDOUT)
//   BENCH_EXPORT_LINES  1000000           ledger lines the export measurement loads and exports
//   BENCH_KEEP_DATA     (unset)           1: leave the schema and the PGlite directory for inspection
//   BENCH_SERVER_NODE_ARGS (none)         Node options for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
//   DATABASE_URL        postgres://postgres@127.0.0.1:5432/test   the server (a schema of its own is used)
//   DB_POOL_MAX         10                the server's pool, and the PostgreSQL baseline's
//   any other variable of the server's (LOG_LEVEL excepted: warn) reaches the server it starts

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA = 'stockroom_bench';
const list = (value: string | undefined, fallback: string) => (value ?? fallback).split(',').filter((item) => item !== '');
const databases = list(process.env.BENCH_DATABASES, 'postgres,pglite') as Target['kind'][];
const scenarios = list(process.env.BENCH_SCENARIOS, SCENARIOS.join(',')) as Scenario[];
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ledgerLines = Number(process.env.BENCH_LEDGER_LINES ?? DEFAULT_SIZE.ledgerLines);
const scaleSizes = list(process.env.BENCH_SCALE, '').map(Number);
const scaleSeconds = Number(process.env.BENCH_SCALE_SECONDS ?? 10);
const scaleConnections = Number(process.env.BENCH_SCALE_CONNECTIONS ?? 8);
const keepData = process.env.BENCH_KEEP_DATA === '1';
const serverNodeArgs = list(process.env.BENCH_SERVER_NODE_ARGS?.replaceAll(' ', ','), '');
const poolMax = Number(process.env.DB_POOL_MAX ?? 10);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// The scale series: one read, one write, and the two that read the ledger itself.
const SCALE_SCENARIOS: Scenario[] = ['stock-read', 'inbound', 'as-of', 'history', 'history-level'];
// Before each measurement, to get the server's code compiled and its pool filled.
const WARM_UP_SECONDS = 1;

const work = await mkdtemp(join(tmpdir(), 'stockroom-bench-'));
const postgres: Target = {
  kind: 'postgres',
  databaseUrl: (() => {
    const url = new URL(serverUrl);
    url.searchParams.set('options', `-c search_path=${SCHEMA}`);
    return url.toString();
  })(),
  poolMax,
};
const pglite: Target = { kind: 'pglite', dataDir: join(work, 'pglite') };

async function onServer(sql: string) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** A fresh, migrated database with the data set loaded; the fixture the scenarios pick from. */
async function prepare(target: Target, lines: number): Promise<{ fixture: Fixture; ledgerLines: number; loadSeconds: number }> {
  if (target.kind === 'postgres') await onServer(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}`);
  else await rm(target.dataDir, { recursive: true, force: true });
  const source = await openSource(target);
  const db = new Database(source);
  try {
    await migrate(db);
    const started = Date.now();
    const loaded = await withConnection(source, (q) => loadDataset(q, { ...DEFAULT_SIZE, ledgerLines: lines }));
    const loadSeconds = Math.round((Date.now() - started) / 1000);
    console.log(`${target.kind}: ${loaded.levels} levels, ${loaded.ledgerLines} ledger lines loaded in ${loadSeconds} s`);
    return { fixture: await withConnection(source, readFixture), ledgerLines: loaded.ledgerLines, loadSeconds };
  } finally {
    await db.close();
  }
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

async function startServer(target: Target, env: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [...serverNodeArgs, 'bin/stockroom.mjs', 'serve'], {
    cwd: ROOT,
    env: { ...serverEnv(target), ...env, PORT: String(port), LOG_LEVEL: 'warn' },
    // Its log (JSON lines on stdout) would bury the tables: the statuses counted by wrk say as much.
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 300 && child.exitCode === null; i += 1) {
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { pid: child.pid!, url, stop };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stop();
  throw new Error('the server did not become ready');
}

/**
 * The headers of every benchmark request: logged in as the admin the server creates from
 * STOCKROOM_ADMIN_EMAIL and STOCKROOM_ADMIN_PASSWORD (set in serverEnv). Every request is then
 * authenticated as in production: one more indexed lookup than the baseline's SQL.
 */
async function requestHeaders(url: string): Promise<Record<string, string>> {
  const response = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(BENCH_ADMIN),
  });
  const body = (await response.json()) as { token?: string };
  if (response.status !== 200) throw new Error(`login failed: ${JSON.stringify(body)}`);
  return { 'content-type': 'application/json', authorization: `Bearer ${body.token}` };
}

async function runBaseline(job: BaselineJob) {
  const file = join(work, 'baseline-job.json');
  await writeFile(file, JSON.stringify(job));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/baseline.ts', file], { cwd: ROOT });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    perSecond: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    errors: number;
  };
}

/** The server's event-loop delay p99 since the last call (prom-client resets it on each scrape). */
async function eventLoopP99Ms(url: string) {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const value = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1];
  return value === undefined ? Number.NaN : Number(value) * 1000;
}

/** CPU time the process has used, from /proc (clock ticks of 10 ms). */
async function cpuSeconds(pid: number) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime
}

async function peakRssMb(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

/** One scenario over HTTP, on a server started for it alone, after its baseline when asked. */
async function measure(target: Target, fixture: Fixture, scenario: Scenario, duration: number, connections: number, withBaseline: boolean) {
  const base = withBaseline ? await runBaseline({ scenario, fixture, target, connections, seconds: duration }) : undefined;
  const server = await startServer(target);
  try {
    const job = {
      url: server.url,
      scenario,
      fixture,
      headers: await requestHeaders(server.url),
      connections,
      requestFile: join(work, 'requests.tsv'),
    };
    await runWrk({ ...job, seconds: WARM_UP_SECONDS });
    await eventLoopP99Ms(server.url);
    const cpuBefore = await cpuSeconds(server.pid);
    const http = await runWrk({ ...job, seconds: duration });
    const serverCpuUsPerRequest = Math.round((((await cpuSeconds(server.pid)) - cpuBefore) * 1e6) / http.requests);
    // reserve-fulfil counts pairs: the fulfilments answered 200.
    const perSecond = (scenario === 'reserve-fulfil' ? (http.statuses['200'] ?? 0) : http.requests) / http.seconds;
    const ok = Object.entries(http.statuses).filter(([status]) => status.startsWith('2'));
    const row = {
      scenario,
      perSecond: Math.round(perSecond),
      p50Ms: round(http.p50Ms),
      p99Ms: round(http.p99Ms),
      maxMs: Math.round(http.maxMs),
      non2xx: http.requests - ok.reduce((sum, [, n]) => sum + n, 0),
      statuses: http.statuses,
      socketErrors: Object.values(http.socketErrors).reduce((sum, n) => sum + n, 0),
      ...(base && {
        baselinePerSecond: Math.round(base.perSecond),
        baselineP50Ms: round(base.p50Ms),
        baselineP99Ms: round(base.p99Ms),
        baselineErrors: base.errors,
        ratio: round(perSecond / base.perSecond, 2),
      }),
      serverCpuUsPerRequest,
      eventLoopP99Ms: round(await eventLoopP99Ms(server.url)),
      peakRssMb: Math.round(await peakRssMb(server.pid)),
    };
    console.log(JSON.stringify(row));
    return row;
  } finally {
    await server.stop();
  }
}

type Row = Awaited<ReturnType<typeof measure>>;

/**
 * The webhook sender draining a backlog, beside this process posting to the same receiver
 * (bench/webhooks.ts). The backlog is written while no server runs — the events and their
 * deliveries as a change writes them, then published — so that the drain alone is timed.
 */
async function measureWebhooks(target: Target) {
  const receiver = await startReceiver();
  const concurrency = Number(process.env.WEBHOOK_CONCURRENCY ?? 16);
  const env = { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: String(concurrency) };
  let server = await startServer(target, env);
  try {
    const created = await fetch(`${server.url}/api/v1/webhooks`, {
      method: 'POST',
      headers: await requestHeaders(server.url),
      body: JSON.stringify({ url: receiver.url, events: ['movement.recorded'] }),
    });
    if (created.status !== 201) throw new Error(`POST /webhooks answered ${created.status}: ${await created.text()}`);
    await server.stop();
    const backlog = Number(process.env.BENCH_WEBHOOK_BACKLOG ?? 5000);
    const db = new Database(await openSource(target));
    try {
      for (let written = 0; written < backlog; written += 500) {
        const events = Array.from({ length: Math.min(500, backlog - written) }, (_, index) => ({
          type: 'movement.recorded' as const,
          locationId: null,
          data: { index: written + index },
        }));
        await db.transaction((tx) => insertEvents(tx, events, []));
      }
      while ((await db.transaction((tx) => publishEvents(tx, 1000))).pending);
    } finally {
      await db.close();
    }
    server = await startServer(target, env);
    const deadline = Date.now() + 300_000;
    while (receiver.received().unique < backlog && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const { unique, firstMs, lastMs } = receiver.received();
    const perSecond = unique / Math.max(0.001, (lastMs - firstMs) / 1000);
    await server.stop();
    const body = JSON.stringify({ type: 'movement.recorded', timestamp: new Date().toISOString(), data: { index: 0 } });
    const limit = await directPostRate(receiver.url, body, concurrency, 5);
    const row = {
      backlog,
      delivered: unique,
      perSecond: Math.round(perSecond),
      directPerSecond: Math.round(limit),
      ratio: round(perSecond / limit, 2),
    };
    console.log(JSON.stringify({ webhooks: row }));
    return row;
  } finally {
    await server.stop();
    await receiver.close();
  }
}

/** Event latency under the inbound load (bench/event-latency.ts). */
async function measureEventLatency(target: Target, fixture: Fixture): Promise<EventLatency & { perSecond: number }> {
  const server = await startServer(target);
  try {
    const headers = await requestHeaders(server.url);
    const job = { url: server.url, scenario: 'inbound' as const, fixture, headers, connections, requestFile: join(work, 'requests.tsv') };
    await runWrk({ ...job, seconds: WARM_UP_SECONDS });
    const follower = await followEvents(server.url, headers);
    const http = await runWrk({ ...job, seconds });
    const latency = await follower.finish(http.statuses['201'] ?? 0);
    const row = {
      ...latency,
      perSecond: Math.round((http.statuses['201'] ?? 0) / http.seconds),
      p50Ms: round(latency.p50Ms),
      p99Ms: round(latency.p99Ms),
    };
    console.log(JSON.stringify({ eventLatency: row }));
    return row;
  } finally {
    await server.stop();
  }
}

ensureWrk();
await mkdir(`${ROOT}bench/results`, { recursive: true });
const resultFile = `${ROOT}bench/results/${new Date().toISOString().replaceAll(':', '-')}.json`;
const report = {
  startedAt: new Date().toISOString(),
  seconds,
  connections,
  poolMax,
  runs: [] as {
    database: string;
    ledgerLines: number;
    loadSeconds: number;
    rows: Row[];
    eventLatency?: EventLatency & { perSecond: number };
    webhooks?: Awaited<ReturnType<typeof measureWebhooks>>;
  }[],
  scaleConnections,
  scale: [] as { ledgerLines: number; loadSeconds: number; rows: Row[] }[],
  export: [] as ExportMeasurement[],
};
// Written after every measurement, so that an interrupted run keeps what it measured.
const save = () => writeFile(resultFile, JSON.stringify(report, null, 2));

try {
  for (const database of databases) {
    const target = database === 'postgres' ? postgres : pglite;
    const { fixture, ...loaded } = await prepare(target, ledgerLines);
    const run: (typeof report.runs)[number] = { database, ...loaded, rows: [] as Row[] };
    report.runs.push(run);
    await save();
    for (const scenario of scenarios) {
      run.rows.push(await measure(target, fixture, scenario, seconds, connections, true));
      await save();
    }
    if (process.env.BENCH_EVENTS !== '0') {
      run.eventLatency = await measureEventLatency(target, fixture);
      await save();
      run.webhooks = await measureWebhooks(target);
      await save();
    }
  }
  for (const lines of scaleSizes) {
    const { fixture, ...loaded } = await prepare(postgres, lines);
    const point = { ...loaded, rows: [] as Row[] };
    report.scale.push(point);
    await save();
    for (const scenario of SCALE_SCENARIOS) {
      point.rows.push(await measure(postgres, fixture, scenario, scaleSeconds, scaleConnections, false));
      await save();
    }
  }
  if (process.env.BENCH_IMPORT_LINES !== '0' && databases.length > 0) {
    Object.assign(report, { productImport: await measureImports(databases) });
    await save();
  }
  if (process.env.BENCH_EXPORT !== '0') {
    const lines = Number(process.env.BENCH_EXPORT_LINES ?? 1_000_000);
    report.export = await benchExport({ serverUrl, lines, keepData });
    await save();
  }
} finally {
  if (!keepData) {
    if (databases.includes('postgres') || scaleSizes.length > 0) await onServer(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await rm(work, { recursive: true, force: true });
  }
}

for (const run of report.runs) {
  console.log(`\n${run.database}, ${run.ledgerLines} ledger lines, ${connections} connections, ${seconds} s each`);
  console.table(run.rows.map(({ statuses: _s, ...row }) => row));
  if (run.eventLatency !== undefined) {
    const e = run.eventLatency;
    console.log(
      `event latency under inbound load (${e.perSecond} movements/s): ${e.delivered} of ${e.written} delivered, ` +
        `from the change's start to the stream p50 ${e.p50Ms} ms, p99 ${e.p99Ms} ms, max ${e.maxMs} ms`,
    );
  }
  if (run.webhooks !== undefined) {
    const w = run.webhooks;
    console.log(
      `webhooks: a backlog of ${w.backlog} deliveries drained at ${w.perSecond}/s (${w.delivered} delivered); ` +
        `this process posting to the same receiver: ${w.directPerSecond}/s; ratio ${w.ratio}`,
    );
  }
}
if (report.scale.length > 0) {
  console.log(`\nscale series on postgres, ${scaleConnections} connections, ${scaleSeconds} s each: p50 / p99 / max ms, requests/s`);
  const table: Record<string, Record<string, string>> = {};
  for (const point of report.scale) {
    for (const row of point.rows) {
      const failed = row.non2xx + row.socketErrors > 0 ? `, ${row.non2xx + row.socketErrors} failed` : '';
      (table[row.scenario] ??= {})[`${point.ledgerLines} lines`] =
        `${row.p50Ms} / ${row.p99Ms} / ${row.maxMs}, ${row.perSecond}/s${failed}`;
    }
  }
  console.table(table);
}
if (report.export.length > 0) printExport(report.export);
console.log(`written to ${resultFile}`);
