import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { BENCH_ADMIN, openSource, serverEnv, type Target } from './target.ts';

// The product import over HTTP (issue 13): a file of BENCH_IMPORT_LINES lines (100,000) posted
// to POST /api/v1/import/products on a server process of its own, on a fresh database, timed,
// with the server's peak RSS (VmHWM). It runs at a tenth of the size too: the import streams,
// so the peak must not grow with the file. Then the same file again, which changes nothing.
// Each is run twice: with V8's default heap, whose peak RSS grows with the file because V8 lets
// garbage pile up before it collects while memory is plentiful; and with the server's old space
// capped at BENCH_IMPORT_HEAP_MB, where a file ten times larger must fit in the same memory: what
// the import keeps is a batch, and one short entry per distinct SKU (to name a repeated one).
// Alone: `node --import tsx bench/import.ts`; `npm run bench` runs it after its own measurements.
//
//   BENCH_IMPORT_LINES   100000          the larger file's lines (the smaller has a tenth)
//   BENCH_IMPORT_HEAP_MB 96              the capped server's --max-old-space-size
//   BENCH_DATABASES      postgres,pglite which databases
//   DATABASE_URL         postgres://postgres@127.0.0.1:5432/test (a schema of its own is used)

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA = 'stockroom_bench_import';
/** The server's deadline for one request: a large import is one request. */
const IMPORT_REQUEST_TIMEOUT_MS = 600_000;
/** Lines the client generates and sends at a time: the client, too, never holds the file. */
const CHUNK_LINES = 1000;

/** Line `index` of the products file: every column, a category path among 50, a description. */
function productLine(index: number): string {
  const sku = `BENCH-${String(index).padStart(7, '0')}`;
  const category = `Bench ${index % 10}/Shelf ${index % 50}`;
  return `${sku},Benchmark product ${index},${category},pcs,${4_000_000_000_000 + index},${index % 20},"Imported, line ${index + 2}"\n`;
}

async function* productFile(lines: number): AsyncGenerator<string> {
  yield 'sku,name,category,unit,barcode,reorderPoint,description\n';
  for (let start = 0; start < lines; start += CHUNK_LINES) {
    let chunk = '';
    for (let index = start; index < Math.min(lines, start + CHUNK_LINES); index += 1) chunk += productLine(index);
    yield chunk;
  }
}

function fileBytes(lines: number): number {
  let bytes = Buffer.byteLength('sku,name,category,unit,barcode,reorderPoint,description\n');
  for (let index = 0; index < lines; index += 1) bytes += Buffer.byteLength(productLine(index));
  return bytes;
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

async function startServer(target: Target, heapMb: number | undefined) {
  const port = await freePort();
  const nodeArgs = heapMb === undefined ? [] : [`--max-old-space-size=${heapMb}`];
  const child = spawn(process.execPath, [...nodeArgs, 'bin/stockroom.mjs', 'serve'], {
    cwd: ROOT,
    env: { ...serverEnv(target), PORT: String(port), LOG_LEVEL: 'warn', REQUEST_TIMEOUT_MS: String(IMPORT_REQUEST_TIMEOUT_MS) },
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

async function peakRssMb(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) / 1024);
}

async function onServer(serverUrl: string, sql: string) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

async function importFile(url: string, authorization: string, lines: number) {
  const started = performance.now();
  const response = await fetch(`${url}/api/v1/import/products`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'text/csv' },
    body: ReadableStream.from(productFile(lines)),
    duplex: 'half',
  } as RequestInit);
  const report = (await response.json()) as { created: number; updated: number; unchanged: number; failed: number };
  const seconds = (performance.now() - started) / 1000;
  if (response.status !== 200 || report.failed > 0) throw new Error(`the import answered ${response.status}: ${JSON.stringify(report)}`);
  return { seconds, report };
}

/** The admin's token: the server creates that admin just after it starts listening, so a first login may come too soon. */
async function logIn(url: string): Promise<string> {
  for (let attempt = 0; ; attempt += 1) {
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(BENCH_ADMIN),
    });
    const body = (await login.json()) as { token?: string };
    if (login.status === 200 && body.token !== undefined) return body.token;
    if (attempt === 20) throw new Error(`login failed: ${login.status} ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface ImportRow {
  database: Target['kind'];
  lines: number;
  megabytes: number;
  seconds: number;
  linesPerSecond: number;
  /** The same file again: every line unchanged. */
  againSeconds: number;
  againLinesPerSecond: number;
  /** The server's --max-old-space-size, when capped. */
  heapMb: number | undefined;
  peakRssMb: number;
}

/** One file of `lines` lines on a fresh database and a server of its own, imported twice. */
async function measure(kind: Target['kind'], lines: number, serverUrl: string, heapMb: number | undefined): Promise<ImportRow> {
  const work = await mkdtemp(join(tmpdir(), 'stockroom-bench-import-'));
  let target: Target;
  if (kind === 'postgres') {
    await onServer(serverUrl, `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE; CREATE SCHEMA ${SCHEMA}`);
    const url = new URL(serverUrl);
    url.searchParams.set('options', `-c search_path=${SCHEMA}`);
    target = { kind, databaseUrl: url.toString(), poolMax: 10 };
  } else {
    target = { kind, dataDir: join(work, 'pglite') };
  }
  const db = new Database(await openSource(target));
  await migrate(db);
  await db.close();
  const server = await startServer(target, heapMb);
  try {
    const token = await logIn(server.url);
    const first = await importFile(server.url, `Bearer ${token}`, lines);
    if (first.report.created !== lines) throw new Error(`created ${first.report.created} of ${lines}`);
    const again = await importFile(server.url, `Bearer ${token}`, lines);
    if (again.report.unchanged !== lines) throw new Error(`the second run left ${again.report.unchanged} of ${lines} unchanged`);
    const row: ImportRow = {
      database: kind,
      lines,
      megabytes: Number((fileBytes(lines) / 1e6).toFixed(1)),
      seconds: Number(first.seconds.toFixed(1)),
      linesPerSecond: Math.round(lines / first.seconds),
      againSeconds: Number(again.seconds.toFixed(1)),
      againLinesPerSecond: Math.round(lines / again.seconds),
      heapMb,
      peakRssMb: await peakRssMb(server.pid),
    };
    console.log(JSON.stringify({ productImport: row }));
    return row;
  } finally {
    await server.stop();
    if (kind === 'postgres') await onServer(serverUrl, `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await rm(work, { recursive: true, force: true });
  }
}

/** The import at a tenth of BENCH_IMPORT_LINES and at BENCH_IMPORT_LINES, on each database. */
export async function measureImports(kinds: Target['kind'][]): Promise<ImportRow[]> {
  const lines = Number(process.env.BENCH_IMPORT_LINES ?? 100_000);
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const heapMb = Number(process.env.BENCH_IMPORT_HEAP_MB ?? 96);
  const rows: ImportRow[] = [];
  for (const kind of kinds) {
    for (const heap of [undefined, heapMb]) {
      for (const size of [Math.max(1, Math.round(lines / 10)), lines]) rows.push(await measure(kind, size, serverUrl, heap));
    }
  }
  console.log(
    '\nproduct import over HTTP (partial mode), a fresh database and server each; "again": the same file once more; ' +
      "heapMb: the server's old space capped",
  );
  console.table(rows);
  return rows;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const kinds = (process.env.BENCH_DATABASES ?? 'postgres,pglite').split(',').filter((kind) => kind !== '') as Target['kind'][];
  await measureImports(kinds);
}
