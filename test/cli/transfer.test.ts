import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Database } from '../../src/db/database.ts';
import { createPgliteSource } from '../../src/db/pglite.ts';
import { createLocation } from '../../src/services/locations.ts';
import { createTestDatabase, type TestDatabase } from '../support/helpers.ts';

// `stockroom import` and `stockroom export`, run as a script would: the report on stdout, the
// progress and the one-line refusals on stderr, and exit codes to rely on (0 all good, 1 some
// lines failed, 2 a wrong command line or a failure), straight on the database.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let t: TestDatabase;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function stockroom(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/stockroom.mjs', ...args],
      { cwd: ROOT, env: { ...process.env, ...t.env, LOG_LEVEL: 'silent' } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number((error as { code?: number }).code), stdout, stderr }),
    );
  });
}

async function withDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
  const db = t.db.kind === 'pglite' ? new Database(await createPgliteSource({ dataDir: t.config.dataDir, acquireTimeoutMs: 5000 })) : t.db;
  try {
    return await work(db);
  } finally {
    if (db !== t.db) await db.close();
  }
}

const file = async (name: string, text: string) => {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
};

/** A refusal of the command line: exit 2, one line, the usage, no stack. */
function assertUsageRefusal(run: Run, line: RegExp) {
  assert.equal(run.code, 2, run.stderr);
  const [first, second] = run.stderr.split('\n');
  assert.match(first!, line);
  assert.match(second!, /^usage:/);
  assert.doesNotMatch(run.stderr, /^\s+at |ERR_PARSE_ARGS/m);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stockroom-cli-'));
  t = await createTestDatabase();
  await createLocation({ db: t.db, actor: null }, { code: 'CLI-WH', name: 'CLI warehouse' });
  if (t.db.kind === 'pglite') await t.db.close();
});
after(async () => {
  await t.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('stockroom import and export', () => {
  it('imports products: the report on stdout, exit 1 when some lines failed and the rest written', async () => {
    const path = await file('products.csv', 'sku,name,category,reorderPoint\nCLI-1,First,Tools/Hand,3\nCLI-2,,Tools,x\nCLI-3,Third,,0\n');
    const run = await stockroom('import', 'products', path);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^created 2, updated 0, unchanged 0, failed 1\n {2}line 3 \(/);
    assert.match(run.stderr, /^read 3 lines in [\d.]+ s/m, 'the progress ends with a summary on stderr');
    const again = await stockroom('import', 'products', path, '--all-or-nothing');
    assert.equal(again.code, 1);
    assert.match(again.stdout, /nothing was written/);
    const skus = await withDatabase((db) => db.connection((conn) => conn.query<{ sku: string }>('SELECT sku FROM products ORDER BY sku')));
    assert.deepEqual(
      skus.map((row) => row.sku),
      ['CLI-1', 'CLI-3'],
    );
  });

  it('exports products to a file that imports back with every line unchanged, exit 0', async () => {
    const out = join(dir, 'export.csv');
    const exported = await stockroom('export', 'products', '--out', out);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /^exported 2 rows in /m);
    const text = await readFile(out, 'utf8');
    assert.match(text, /^\uFEFFsku,name,category,unit,barcode,reorderPoint,description\r\nCLI-1,First,Tools\/Hand,pcs,,3,\r\n/);
    const reimported = await stockroom('import', 'products', out);
    assert.equal(reimported.code, 0, reimported.stderr);
    assert.equal(reimported.stdout, 'created 0, updated 0, unchanged 2, failed 0\n');
  });

  it('records a stocktake at a location named by its code, and exports the ledger to standard output', async () => {
    const counts = await file('counts.csv', 'sku,countedQuantity\nCLI-1,7\nCLI-3,0\n');
    const run = await stockroom('import', 'counts', counts, '--location', 'cli-wh');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^counted 2 products: 1 adjusted, 1 as expected, in 1 movements/);
    const stale = await file('stale.csv', 'sku,countedQuantity,expectedOnHand\nCLI-1,9,3\n');
    const refused = await stockroom('import', 'counts', stale, '--location', 'CLI-WH');
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stdout, /expected on hand 3, now 7/);

    const ledger = await stockroom('export', 'movements', '--location', 'CLI-WH', '--product', 'CLI-1');
    assert.equal(ledger.code, 0, ledger.stderr);
    const rows = ledger.stdout.trim().split('\r\n');
    assert.equal(rows.length, 2, ledger.stdout);
    assert.match(rows[1]!, /,adjustment,CLI-WH,,1,CLI-1,First,7,7,,stock-count import,stocktake,$/);
  });

  it('refuses a wrong command line with one line and the usage, exit 2; a missing file or location likewise', async () => {
    assertUsageRefusal(await stockroom('export', 'products', '--colour', 'red'), /^stockroom: unknown option --colour$/);
    assertUsageRefusal(await stockroom('export', 'things'), /^stockroom: export has no subcommand "things": products, stock, movements$/);
    assertUsageRefusal(await stockroom('import', 'products'), /^stockroom: import products needs a FILE/);
    assertUsageRefusal(await stockroom('import', 'counts', join(dir, 'counts.csv')), /needs --location/);
    assertUsageRefusal(await stockroom('import', 'products', join(dir, 'none.csv')), /can't read .*none\.csv: no such file/);
    assertUsageRefusal(await stockroom('export', 'stock', '--location', 'NOWHERE'), /no location has the code or id "NOWHERE"/);
    assertUsageRefusal(await stockroom('export', 'movements', '--from', 'soon'), /--from must be a date/);
    assertUsageRefusal(await stockroom('frobnicate'), /^stockroom: unknown command "frobnicate"$/);
  });

  it('answers --help for every command, with exit 0', async () => {
    const general = await stockroom('--help');
    assert.equal(general.code, 0);
    const commands = [...general.stdout.matchAll(/^ {2}([a-z]+(?: [a-z-]+)?)(?= |$)/gm)].map((match) => match[1]!.split(' '));
    assert.ok(commands.length >= 10, general.stdout);
    for (const words of commands) {
      const command = words.filter((word) => !word.startsWith('-'));
      const run = await stockroom(...command, '--help');
      assert.equal(run.code, 0, `${command.join(' ')} --help: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^usage:\\n {2}${command.join(' ')}`), command.join(' '));
    }
  });
});
