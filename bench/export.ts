import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { DEFAULT_SIZE, loadDataset } from './dataset.ts';
import { BENCH_ADMIN, openSource, serverEnv, withConnection, type Target } from './target.ts';

// The movements export (GET /api/v1/export/movements.csv) on PostgreSQL: BENCH_EXPORT_LINES ledger
// lines (the benchmark's data set, bench/dataset.ts) downloaded whole over HTTP from a server
// process, and a tenth and a half of them, each from a fresh server, so that the server's peak RSS
// can be compared: an export streamed in constant memory levels off whatever its length.
// Beside them, the baseline: the same rows in the same order straight out of PostgreSQL as CSV
// (COPY … TO STDOUT through psql), measured in the same run. Runs alone (npm run bench:export or
// node --import tsx bench/export.ts) and as part of npm run bench (bench/run.ts).
//
//   BENCH_EXPORT_LINES  1000000   ledger lines, all exported; the shorter exports take a tenth and a half
//   DATABASE_URL        postgres://postgres@127.0.0.1:5432/test   (a schema of its own is used)

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA = 'stockroom_bench_export';

export interface ExportMeasurement {
  lines: number;
  rows: number;
  megabytes: number;
  seconds: number;
  megabytesPerSecond: number;
  /** The server's peak RSS before the export (start-up and login), and during it. */
  serverPeakRssBeforeMb: number;
  serverPeakRssMb: number;
  baselineSeconds: number;
  baselineMegabytesPerSecond: number;
  /** How many times longer the export takes than COPY writing the same rows. */
  ratio: number;
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

async function onServer(serverUrl: string, sql: string) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
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

async function startServer(target: Target) {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/stockroom.mjs', 'serve'], {
    cwd: ROOT,
    env: { ...serverEnv(target), PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 300 && child.exitCode === null; i += 1) {
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { pid: child.pid!, url, stop };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stop();
  throw new Error('the server did not become ready');
}

async function peakRssMb(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024;
}

/** Downloads the export, counting bytes and CSV records (lines ending in CRLF: no cell of this data set holds one). */
async function download(url: string, headers: Record<string, string>) {
  const response = await fetch(url, { headers });
  if (response.status !== 200 || response.body === null)
    throw new Error(`the export answered ${response.status}: ${await response.text()}`);
  let bytes = 0;
  let records = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (const byte of chunk) if (byte === 10) records += 1;
  }
  return { bytes, rows: records - 1 };
}

/** The same rows as the export, in its order and columns, as CSV straight from PostgreSQL through psql. */
async function copyBaseline(serverUrl: string, to: Date | undefined) {
  const range = to === undefined ? '' : `WHERE m.created_at < '${to.toISOString()}'`;
  const query = `SELECT m.id, m.created_at, m.type, l.code, tl.code, ml.line_no + 1, p.sku, p.name,
      CASE WHEN m.type IN ('outbound', 'transfer') THEN -ml.delta ELSE ml.delta END, ml.counted_quantity,
      m.reference, m.note, m.reason, u.name
    FROM ${SCHEMA}.movements m
    JOIN ${SCHEMA}.movement_lines ml ON ml.movement_id = m.id AND ml.location_id = m.location_id
    JOIN ${SCHEMA}.products p ON p.id = ml.product_id
    JOIN ${SCHEMA}.locations l ON l.id = m.location_id
    LEFT JOIN ${SCHEMA}.locations tl ON tl.id = m.to_location_id
    LEFT JOIN ${SCHEMA}.users u ON u.id = m.created_by
    ${range} ORDER BY m.created_at, m.id, ml.line_no`;
  const started = performance.now();
  const child = spawn('psql', [serverUrl, '-X', '-q', '-c', `COPY (${query.replaceAll('\n', ' ')}) TO STDOUT (FORMAT csv, HEADER)`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`psql exited with ${code}`);
  return { bytes, seconds: (performance.now() - started) / 1000 };
}

/** One export on a fresh server (its peak RSS is this export's), and its baseline. */
async function measureExport(target: Target, serverUrl: string, lines: number, to: Date | undefined): Promise<ExportMeasurement> {
  const server = await startServer(target);
  try {
    const login = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(BENCH_ADMIN),
    });
    const { token } = (await login.json()) as { token: string };
    const query = to === undefined ? '' : `?to=${encodeURIComponent(to.toISOString())}`;
    const before = await peakRssMb(server.pid);
    const started = performance.now();
    const { bytes, rows } = await download(`${server.url}/api/v1/export/movements.csv${query}`, { authorization: `Bearer ${token}` });
    const seconds = (performance.now() - started) / 1000;
    const serverPeakRssMb = await peakRssMb(server.pid);
    const baseline = await copyBaseline(serverUrl, to);
    const megabytes = bytes / 1e6;
    return {
      lines,
      rows,
      megabytes: round(megabytes),
      seconds: round(seconds, 2),
      megabytesPerSecond: round(megabytes / seconds),
      serverPeakRssBeforeMb: Math.round(before),
      serverPeakRssMb: Math.round(serverPeakRssMb),
      baselineSeconds: round(baseline.seconds, 2),
      baselineMegabytesPerSecond: round(baseline.bytes / 1e6 / baseline.seconds),
      ratio: round(seconds / baseline.seconds, 2),
    };
  } finally {
    await server.stop();
  }
}

export async function benchExport(options: { serverUrl: string; lines: number; keepData?: boolean }) {
  const url = new URL(options.serverUrl);
  url.searchParams.set('options', `-c search_path=${SCHEMA}`);
  const target: Target = { kind: 'postgres', databaseUrl: url.toString(), poolMax: 10 };
  await onServer(options.serverUrl, `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}`);
  try {
    const source = await openSource(target);
    const db = new Database(source);
    // Exports of the oldest tenth and half of the ledger (up to, not including, the time of the
    // line past them) and of all of it: a peak RSS that levels off is one that doesn't grow with the export.
    const parts: { lines: number; to: Date | undefined }[] = [];
    try {
      await migrate(db);
      const loaded = await withConnection(source, (q) => loadDataset(q, { ...DEFAULT_SIZE, ledgerLines: options.lines }));
      for (const fraction of [10, 2]) {
        const part = await withConnection(source, async (q) => {
          const [row] = await q.query<{ at: Date }>('SELECT created_at AS at FROM movements ORDER BY created_at, id OFFSET $1 LIMIT 1', [
            Math.floor(loaded.ledgerLines / fraction),
          ]);
          const [counted] = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM movement_lines WHERE created_at < $1', [row!.at]);
          return { lines: counted!.n, to: row!.at };
        });
        parts.push(part);
      }
      parts.push({ lines: loaded.ledgerLines, to: undefined });
    } finally {
      await db.close();
    }
    const measured: ExportMeasurement[] = [];
    for (const part of parts) {
      const result = await measureExport(target, options.serverUrl, part.lines, part.to);
      if (result.rows !== result.lines) throw new Error(`the export of ${result.lines} lines wrote ${result.rows} rows`);
      measured.push(result);
    }
    return measured;
  } finally {
    if (options.keepData !== true) await onServer(options.serverUrl, `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  }
}

export function printExport(rows: ExportMeasurement[]) {
  console.log('\nmovements export over HTTP on postgres (a fresh server each), beside COPY … TO STDOUT (FORMAT csv) through psql');
  console.table(rows);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchExport({
    serverUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    lines: Number(process.env.BENCH_EXPORT_LINES ?? 1_000_000),
    keepData: process.env.BENCH_KEEP_DATA === '1',
  });
  printExport(rows);
}
