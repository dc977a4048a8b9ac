import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import type { Database } from '../../../src/db/database.ts';
import { PRODUCT_COLUMNS } from '../../../src/domain/csv.ts';
import {
  countMovementExport,
  EXPORT_PAGE_ROWS,
  exportMovements,
  MOVEMENT_EXPORT_COLUMNS,
  STOCK_EXPORT_COLUMNS,
} from '../../../src/services/exports.ts';
import { assertProblem, assertValidationError, tag, UNKNOWN_ID } from '../../support/assertions.ts';
import { createCategory, createLocation, createProduct, createUser, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, listen, type ApiResponse, type Harness } from '../../support/helpers.ts';

// The specification of the CSV exports (API.md, Import and export): their columns and rows, the
// formula guard on text cells, RFC 4180 quoting, the filters and a clerk's scope of the lists they
// mirror, refusals as problems before any byte, and the streaming: a large export complete and in
// order across page boundaries, a client that leaves or reads slowly costing no reads past what
// it took, and a failure mid-stream cutting the connection.

let h: Harness;
const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

interface Download extends ApiResponse<any> {
  text: string;
}

/** A GET through app.inject: the CSV text, or the problem parsed. */
async function download(url: string, headers: Record<string, string> = h.auth): Promise<Download> {
  const response = await h.app.inject({ method: 'GET', url, headers });
  const text = response.body;
  const json = String(response.headers['content-type']).startsWith('application/problem+json');
  return { status: response.statusCode, headers: response.headers, body: json ? JSON.parse(text) : undefined, text };
}

/** The CSV's records, header first, after checking it is the download API.md describes. */
function csvRecords(response: Download, name: string): string[][] {
  assert.equal(response.status, 200, `expected 200, got ${response.status}: ${response.text.slice(0, 500)}`);
  assert.equal(response.headers['content-type'], 'text/csv; charset=utf-8');
  assert.match(String(response.headers['content-disposition']), new RegExp(`^attachment; filename="${name}-\\d{4}-\\d{2}-\\d{2}\\.csv"$`));
  assert.equal(response.headers['content-disposition'], `attachment; filename="${name}-${new Date().toISOString().slice(0, 10)}.csv"`);
  assert.ok(response.text.startsWith('\uFEFF'), 'a UTF-8 BOM comes first');
  assert.ok(response.text.endsWith('\r\n'), 'every record ends in CRLF');
  return parse(response.text, { bom: true, relax_column_count: false }) as string[][];
}

/** Records as objects keyed by the header row. */
function rowsOf(records: string[][], columns: readonly string[]): Record<string, string>[] {
  assert.deepEqual(records[0], [...columns]);
  return records.slice(1).map((record) => Object.fromEntries(columns.map((column, i) => [column, record[i]!])));
}

before(async () => {
  h = await createHarness({}, { jobs: false });
});
after(() => h.close());

describe('GET /api/v1/export/products.csv', () => {
  it('writes the import columns, by SKU, with the category as its path and empty cells for nulls', async () => {
    const t = tag();
    const drinks = await createCategory(h.app, { name: `Drinks ${t}` });
    const soda = await createCategory(h.app, { name: 'Soda', parentId: drinks.id });
    await createProduct(h.app, {
      sku: `${t}-B`,
      name: 'Cola 0.33',
      categoryId: soda.id,
      unit: 'can',
      barcode: '4000000000017',
      reorderPoint: 12,
      description: 'Fizzy',
    });
    await createProduct(h.app, { sku: `${t}-a`, name: 'Plain' });
    const response = await download(`/api/v1/export/products.csv?q=${t}`);
    const rows = rowsOf(csvRecords(response, 'products'), PRODUCT_COLUMNS);
    assert.deepEqual(rows, [
      { sku: `${t}-a`, name: 'Plain', category: '', unit: 'pcs', barcode: '', reorderPoint: '0', description: '' },
      {
        sku: `${t}-B`,
        name: 'Cola 0.33',
        category: `Drinks ${t}/Soda`,
        unit: 'can',
        barcode: '4000000000017',
        reorderPoint: '12',
        description: 'Fizzy',
      },
    ]);
  });

  it('guards text cells a spreadsheet would read as a formula, and quotes commas, quotes and line breaks', async () => {
    const t = tag();
    const formulas = ['=cmd|calc', '+x', '-x', '@x', '\tx', '\rx'];
    // Names are trimmed when written, so a tab or CR can only start a description.
    for (const [i, formula] of formulas.entries()) {
      await createProduct(h.app, { sku: `${t}-${i}`, name: formula.trim() === formula ? formula : `n${i}`, description: formula });
    }
    await createProduct(h.app, { sku: `${t}-q`, name: 'a, "b"', description: 'line one\nline two\r\nthree\rfour' });
    const response = await download(`/api/v1/export/products.csv?q=${t}`);
    const rows = rowsOf(csvRecords(response, 'products'), PRODUCT_COLUMNS);
    assert.deepEqual(
      rows.slice(0, formulas.length).map((row) => row.description),
      formulas.map((formula) => `'${formula}`),
    );
    assert.deepEqual(
      rows.slice(0, 4).map((row) => row.name),
      formulas.slice(0, 4).map((formula) => `'${formula}`),
    );
    assert.equal(rows[formulas.length]!.name, 'a, "b"');
    assert.equal(rows[formulas.length]!.description, 'line one\nline two\r\nthree\rfour');
    assert.ok(
      response.text.includes(`\r\n${t}-q,"a, ""b""",,pcs,,0,"line one\nline two\r\nthree\rfour"\r\n`),
      'RFC 4180: a cell with a comma, a quote or a line break is quoted, its quotes doubled',
    );
  });

  it('filters as GET /products does: search text, category, archived (both unless asked)', async () => {
    const t = tag();
    const category = await createCategory(h.app);
    const kept = await createProduct(h.app, { sku: `${t}-kept`, categoryId: category.id });
    const archived = await createProduct(h.app, { sku: `${t}-gone`, categoryId: category.id });
    await api(h.app, 'DELETE', `/api/v1/products/${archived.id}`);
    await createProduct(h.app, { sku: `${t}-other` });
    const skus = async (query: string) =>
      rowsOf(csvRecords(await download(`/api/v1/export/products.csv?${query}`), 'products'), PRODUCT_COLUMNS).map((row) => row.sku);
    assert.deepEqual(await skus(`q=${t}`), [`${t}-gone`, `${t}-kept`, `${t}-other`]);
    assert.deepEqual(await skus(`q=${t}&archived=false`), [`${t}-kept`, `${t}-other`]);
    assert.deepEqual(await skus(`q=${t}&archived=true`), [`${t}-gone`]);
    assert.deepEqual(await skus(`categoryId=${category.id}`), [`${t}-gone`, `${t}-kept`]);
    assert.equal(kept.sku, `${t}-kept`);
  });

  it('writes the header row alone when nothing matches', async () => {
    const response = await download(`/api/v1/export/products.csv?q=${tag()}-nothing`);
    assert.deepEqual(csvRecords(response, 'products'), [[...PRODUCT_COLUMNS]]);
    assert.equal(response.text, `\uFEFF${PRODUCT_COLUMNS.join(',')}\r\n`);
  });

  it('refuses a bad filter with 422 and no CSV, and an anonymous caller with 401', async () => {
    assertValidationError(await download('/api/v1/export/products.csv?categoryId=nope'), '/categoryId');
    assertValidationError(await download('/api/v1/export/products.csv?archived=maybe'), '/archived');
    assertProblem(await download('/api/v1/export/products.csv', {}), 401, 'unauthenticated');
  });
});

describe('GET /api/v1/export/stock.csv', () => {
  it('writes a row per level by location code then SKU, reserved and available included', async () => {
    const t = tag();
    const north = await createLocation(h.app, { code: `${t}-N` });
    const south = await createLocation(h.app, { code: `${t}-S` });
    const pears = await createProduct(h.app, { sku: `${t}-pears`, name: 'Pears', unit: 'kg', reorderPoint: 4 });
    const apples = await createProduct(h.app, { sku: `${t}-apples`, name: '=Apples' });
    await stockUp(h.app, pears.id, north.id, 10);
    await stockUp(h.app, apples.id, north.id, 3);
    await stockUp(h.app, apples.id, south.id, 7);
    const held = await api(h.app, 'POST', '/api/v1/reservations', { locationId: north.id, lines: [{ productId: pears.id, quantity: 4 }] });
    assert.equal(held.status, 201);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [north.id, south.id] });
    const rows = rowsOf(csvRecords(await download('/api/v1/export/stock.csv', clerk.auth), 'stock'), STOCK_EXPORT_COLUMNS);
    assert.deepEqual(rows, [
      {
        location: `${t}-N`,
        sku: `${t}-apples`,
        name: "'=Apples",
        unit: 'pcs',
        onHand: '3',
        reserved: '0',
        available: '3',
        reorderPoint: '0',
      },
      { location: `${t}-N`, sku: `${t}-pears`, name: 'Pears', unit: 'kg', onHand: '10', reserved: '4', available: '6', reorderPoint: '4' },
      {
        location: `${t}-S`,
        sku: `${t}-apples`,
        name: "'=Apples",
        unit: 'pcs',
        onHand: '7',
        reserved: '0',
        available: '7',
        reorderPoint: '0',
      },
    ]);
    const southOnly = rowsOf(csvRecords(await download(`/api/v1/export/stock.csv?locationId=${south.id}`), 'stock'), STOCK_EXPORT_COLUMNS);
    assert.deepEqual(
      southOnly.map((row) => [row.location, row.sku, row.onHand]),
      [[`${t}-S`, `${t}-apples`, '7']],
    );
  });

  it('with asOf writes the on-hand the ledger had then, and no reservations', async () => {
    const t = tag();
    const location = await createLocation(h.app, { code: `${t}-L` });
    const product = await createProduct(h.app, { sku: `${t}-p` });
    const first = await stockUp(h.app, product.id, location.id, 5);
    await sleep(5);
    await stockUp(h.app, product.id, location.id, 3);
    await api(h.app, 'POST', '/api/v1/reservations', { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] });
    const level = async (query: string) =>
      rowsOf(csvRecords(await download(`/api/v1/export/stock.csv?locationId=${location.id}&${query}`), 'stock'), STOCK_EXPORT_COLUMNS).map(
        (row) => [row.onHand, row.reserved, row.available],
      );
    assert.deepEqual(await level(''), [['8', '2', '6']]);
    assert.deepEqual(await level(`asOf=${first.createdAt}`), [['5', '0', '5']]);
    assert.deepEqual(await level(`asOf=2000-01-01`), [['0', '0', '0']]);
  });

  it("keeps a clerk to its locations: another location's export is 403, and without one only its own are written", async () => {
    const t = tag();
    const mine = await createLocation(h.app, { code: `${t}-mine` });
    const theirs = await createLocation(h.app, { code: `${t}-theirs` });
    const product = await createProduct(h.app, { sku: `${t}-p` });
    await stockUp(h.app, product.id, mine.id, 1);
    await stockUp(h.app, product.id, theirs.id, 2);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [mine.id] });
    assertProblem(await download(`/api/v1/export/stock.csv?locationId=${theirs.id}`, clerk.auth), 403, 'forbidden');
    const rows = rowsOf(csvRecords(await download('/api/v1/export/stock.csv', clerk.auth), 'stock'), STOCK_EXPORT_COLUMNS);
    assert.deepEqual(
      rows.map((row) => row.location),
      [`${t}-mine`],
    );
  });

  it('refuses a bad asOf or location with 422', async () => {
    assertValidationError(await download('/api/v1/export/stock.csv?asOf=yesterday'), '/asOf');
    assertValidationError(await download('/api/v1/export/stock.csv?asOf=2026-02-30'), '/asOf');
    assertValidationError(await download('/api/v1/export/stock.csv?locationId=42'), '/locationId');
  });
});

describe('GET /api/v1/export/movements.csv', () => {
  it('writes a row per movement line, oldest first, a negative adjustment unguarded and a transfer once', async () => {
    const t = tag();
    const [from, to] = [await createLocation(h.app, { code: `${t}-A` }), await createLocation(h.app, { code: `${t}-B` })];
    const [tea, cups] = [
      await createProduct(h.app, { sku: `${t}-tea`, name: 'Tea' }),
      await createProduct(h.app, { sku: `${t}-cups`, name: 'Cups' }),
    ];
    const inbound = await stockUp(h.app, tea.id, from.id, 10);
    const moved = await recordMovement(h.app, {
      type: 'transfer',
      locationId: from.id,
      toLocationId: to.id,
      reference: '=HYPERLINK("x")',
      lines: [{ productId: tea.id, quantity: 4 }],
    });
    assert.equal(moved.status, 201);
    const adjusted = await recordMovement(h.app, {
      type: 'adjustment',
      locationId: from.id,
      reason: 'damaged, "badly"',
      note: 'two\nlines',
      lines: [
        { productId: tea.id, quantity: -3 },
        { productId: cups.id, quantity: 2 },
      ],
    });
    assert.equal(adjusted.status, 201);
    const rows = rowsOf(
      csvRecords(await download(`/api/v1/export/movements.csv?locationId=${from.id}`), 'movements'),
      MOVEMENT_EXPORT_COLUMNS,
    );
    const admin = inbound.createdBy.name;
    assert.deepEqual(rows, [
      {
        movementId: inbound.id,
        createdAt: inbound.createdAt,
        type: 'inbound',
        location: `${t}-A`,
        toLocation: '',
        line: '1',
        sku: `${t}-tea`,
        name: 'Tea',
        quantity: '10',
        countedQuantity: '',
        reference: '',
        note: '',
        reason: '',
        createdBy: admin,
      },
      {
        movementId: moved.body.id,
        createdAt: moved.body.createdAt,
        type: 'transfer',
        location: `${t}-A`,
        toLocation: `${t}-B`,
        line: '1',
        sku: `${t}-tea`,
        name: 'Tea',
        quantity: '4',
        countedQuantity: '',
        reference: `'=HYPERLINK("x")`,
        note: '',
        reason: '',
        createdBy: admin,
      },
      ...[
        [1, `${t}-tea`, 'Tea', '-3'],
        [2, `${t}-cups`, 'Cups', '2'],
      ].map(([line, sku, name, quantity]) => ({
        movementId: adjusted.body.id,
        createdAt: adjusted.body.createdAt,
        type: 'adjustment',
        location: `${t}-A`,
        toLocation: '',
        line: String(line),
        sku: String(sku),
        name: String(name),
        quantity: String(quantity),
        countedQuantity: '',
        reference: '',
        note: 'two\nlines',
        reason: 'damaged, "badly"',
        createdBy: admin,
      })),
    ]);
    // The transfer's destination sees it too; a product filter keeps that product's lines.
    const arrived = rowsOf(
      csvRecords(await download(`/api/v1/export/movements.csv?locationId=${to.id}`), 'movements'),
      MOVEMENT_EXPORT_COLUMNS,
    );
    assert.deepEqual(
      arrived.map((row) => [row.movementId, row.quantity]),
      [[moved.body.id, '4']],
    );
    const cupsOnly = rowsOf(
      csvRecords(await download(`/api/v1/export/movements.csv?productId=${cups.id}`), 'movements'),
      MOVEMENT_EXPORT_COLUMNS,
    );
    assert.deepEqual(
      cupsOnly.map((row) => [row.movementId, row.line, row.quantity]),
      [[adjusted.body.id, '2', '2']],
    );
    // from is inclusive, to exclusive.
    const range = async (query: string) =>
      rowsOf(
        csvRecords(await download(`/api/v1/export/movements.csv?locationId=${from.id}&${query}`), 'movements'),
        MOVEMENT_EXPORT_COLUMNS,
      ).map((row) => row.movementId);
    assert.deepEqual(await range(`from=${encodeURIComponent(moved.body.createdAt)}`), [moved.body.id, adjusted.body.id, adjusted.body.id]);
    assert.deepEqual(
      await range(`to=${encodeURIComponent(moved.body.createdAt)}`),
      inbound.createdAt === moved.body.createdAt ? [] : [inbound.id],
    );
    assert.deepEqual(await range('from=2000-01-01&to=2000-01-02'), []);
  });

  it("keeps a clerk to the movements that touch its locations: another location's export is 403", async () => {
    const t = tag();
    const [mine, theirs] = [await createLocation(h.app, { code: `${t}-mine` }), await createLocation(h.app, { code: `${t}-theirs` })];
    const product = await createProduct(h.app);
    const here = await stockUp(h.app, product.id, mine.id, 1);
    await stockUp(h.app, product.id, theirs.id, 2);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [mine.id] });
    assertProblem(await download(`/api/v1/export/movements.csv?locationId=${theirs.id}`, clerk.auth), 403, 'forbidden');
    const rows = rowsOf(
      csvRecords(await download(`/api/v1/export/movements.csv?productId=${product.id}`, clerk.auth), 'movements'),
      MOVEMENT_EXPORT_COLUMNS,
    );
    assert.deepEqual(
      rows.map((row) => row.movementId),
      [here.id],
    );
  });

  it('refuses bad filters with 422 before any CSV', async () => {
    assertValidationError(await download('/api/v1/export/movements.csv?from=2026-09-02&to=2026-09-01'), '/from');
    assertValidationError(await download('/api/v1/export/movements.csv?from=2026-13-01'), '/from');
    assertValidationError(await download(`/api/v1/export/movements.csv?productId=${UNKNOWN_ID.slice(1)}`), '/productId');
  });
});

describe('Streaming a large export', () => {
  /** Movements of three lines each, inserted directly, several sharing each millisecond; notes make the file large. */
  const MOVEMENTS = 6700;
  const LINES = MOVEMENTS * 3;
  let location: { id: string; code: string };
  let base: string;
  let url: string;
  let expected: string[];

  before(async () => {
    location = await createLocation(h.app);
    const products = [await createProduct(h.app), await createProduct(h.app), await createProduct(h.app)];
    const seed = tag();
    await h.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO movements (id, type, location_id, reference, note, created_at)
         SELECT md5($1 || g)::uuid, 'inbound', $2, 'R' || g, repeat('n', 2000), timestamptz '2024-01-01' + (g / 4) * interval '1 millisecond'
         FROM generate_series(1, $3::int) g`,
        [seed, location.id, MOVEMENTS],
      );
      await tx.query(
        `INSERT INTO movement_lines (movement_id, line_no, product_id, location_id, delta, created_at)
         SELECT m.id, k.line_no, ($4::uuid[])[k.line_no + 1], m.location_id, 1 + k.line_no, m.created_at
         FROM movements m CROSS JOIN generate_series(0, 2) AS k (line_no)
         WHERE m.location_id = $1 AND m.reference LIKE 'R%' AND m.id = md5($2 || substr(m.reference, 2))::uuid AND $3::int > 0`,
        [location.id, seed, MOVEMENTS, products.map((p) => p.id)],
      );
    });
    base = `/api/v1/export/movements.csv?locationId=${location.id}`;
    url = await listen(h.app);
    expected = (
      await sql<{ key: string }>(
        `SELECT m.id || '/' || (ml.line_no + 1) AS key FROM movements m JOIN movement_lines ml ON ml.movement_id = m.id
         WHERE m.location_id = $1 ORDER BY m.created_at, m.id, ml.line_no`,
        [location.id],
      )
    ).map((row) => row.key);
    assert.equal(expected.length, LINES);
  });

  /** Counts the reads (connections taken) the app makes while `during` runs; from read `failFrom` on, each fails. */
  async function countingReads<T>(during: (reads: () => number) => Promise<T>, failFrom = Infinity): Promise<T> {
    const db: Database = h.db;
    const original = db.connection.bind(db);
    let reads = 0;
    db.connection = ((work, options) => {
      reads += 1;
      return reads >= failFrom ? Promise.reject(new Error('the database went away')) : original(work, options);
    }) as Database['connection'];
    try {
      return await during(() => reads);
    } finally {
      Reflect.deleteProperty(db, 'connection'); // the prototype's method again
    }
  }

  /** A raw HTTP GET whose body the test reads (or doesn't) at its own pace. */
  function get(url: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      const request = httpRequest(target, { headers: h.auth }, resolve);
      request.on('error', reject);
      request.end();
    });
  }

  it("as a use case (the CLI's), counts its rows ahead and tells its progress after each page", async () => {
    const ctx = { db: h.db, actor: null };
    assert.equal(await countMovementExport(ctx, { locationId: location.id }), LINES);
    const progress: number[] = [];
    const csv = await exportMovements(ctx, { locationId: location.id }, { onRows: (rows) => progress.push(rows), pageRows: 5000 });
    assert.match(csv.filename, /^movements-\d{4}-\d{2}-\d{2}\.csv$/);
    let text = '';
    for await (const chunk of csv.stream) text += String(chunk);
    assert.equal((parse(text, { bom: true }) as string[][]).length, LINES + 1);
    assert.deepEqual(progress, [5000, 10000, 15000, 20000, LINES]);
  });

  it('streams every line once, in order, across page boundaries', async () => {
    const response = await fetch(`${url}${base}`, { headers: h.auth });
    assert.equal(response.status, 200);
    const text = await response.text();
    const records = parse(text, { bom: true }) as string[][];
    assert.deepEqual(records[0], [...MOVEMENT_EXPORT_COLUMNS]);
    const keys = records.slice(1).map((record) => `${record[0]}/${record[5]}`);
    assert.equal(keys.length, LINES);
    assert.equal(new Set(keys).size, LINES, 'no line twice');
    assert.deepEqual(keys, expected);
    assert.ok(LINES > 10 * EXPORT_PAGE_ROWS, 'the export crosses many page boundaries');
  });

  it('reads no further than a paused client has taken, and finishes when it reads on', async () => {
    await countingReads(async (reads) => {
      const response = await get(`${url}${base}`);
      assert.equal(response.statusCode, 200);
      response.pause();
      await sleep(1000);
      const paused = reads();
      await sleep(500);
      assert.equal(reads(), paused, 'no page is read while the client takes nothing');
      const pages = Math.ceil(LINES / EXPORT_PAGE_ROWS);
      assert.ok(paused <= pages / 2, `read ${paused} of ${pages} pages before the client took anything`);
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.resume();
      await new Promise((resolve) => response.on('end', resolve));
      assert.ok(bytes > LINES * 2000);
      assert.ok(reads() >= pages, 'every page was read once the client read on');
    });
  });

  it('stops reading when the client goes away mid-download, and leaves the pool idle', async () => {
    await countingReads(async (reads) => {
      const response = await get(`${url}${base}`);
      await new Promise((resolve) => response.once('data', resolve));
      response.destroy();
      await sleep(500);
      const after = reads();
      await sleep(500);
      assert.equal(reads(), after, 'no page is read after the client left');
      assert.ok(after < Math.ceil(LINES / EXPORT_PAGE_ROWS));
      assert.equal(h.db.stats().inUse, 0, 'no connection is held');
      if (h.db.kind === 'postgres') {
        const running = await sql(
          `SELECT query FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%movement_lines%'`,
        );
        assert.deepEqual(running, [], 'no export query is still running');
      }
    });
    // And the next request is served (PGlite's one connection is free).
    assert.equal((await download(`${base}&from=2000-01-01&to=2000-01-02`)).status, 200);
  });

  it('cuts the connection when the database fails after the download began, instead of writing a problem into the CSV', async () => {
    await countingReads(async () => {
      const response = await fetch(`${url}${base}`, { headers: h.auth });
      assert.equal(response.status, 200);
      await assert.rejects(response.text(), 'the body ends in an error, not in a problem document');
    }, 4);
    assert.equal(h.db.stats().inUse, 0);
  });
});
