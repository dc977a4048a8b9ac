import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { assertProblem, tag, UNKNOWN_ID } from '../../support/assertions.ts';
import { createLocation, createProduct, createUser, stockUp } from '../../support/factories.ts';
import {
  api,
  createHarness,
  createTestDatabase,
  listen,
  usingPostgres,
  type ApiResponse,
  type Harness,
  type TestDatabase,
} from '../../support/helpers.ts';
import { levelsDisagreeingWithLedger } from '../../support/ledger.ts';
import { killServers, startServer, type ServerProcess } from '../../support/server-process.ts';
import { importProducts, importStockCounts, type ImportProgress } from '../../../src/services/imports.ts';

// The specification of the CSV imports (API.md, Import and export): products upserted by SKU
// with per-line errors numbered as a spreadsheet shows them, in partial and all-or-nothing modes;
// stock counts as one stocktake of adjustment movements; and the early answers (413, 415) that
// must reach a client still sending its file.

/** The harness's import limit: large enough for every file here, small enough to pass in a test. */
const IMPORT_MAX_BYTES = 256 * 1024;
/** Its JSON body limit, well below: an import is not bound by it. */
const BODY_LIMIT_BYTES = 64 * 1024;

let harness: Harness;
before(async () => {
  harness = await createHarness({ importMaxBytes: IMPORT_MAX_BYTES, bodyLimitBytes: BODY_LIMIT_BYTES });
});
after(async () => {
  await harness?.close();
});

async function importCsv(path: string, csv: string | Buffer, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const response = await harness.app.inject({
    method: 'POST',
    url: `/api/v1/import/${path}`,
    headers: { ...harness.auth, 'content-type': 'text/csv; charset=utf-8', ...headers },
    payload: csv,
  });
  return { status: response.statusCode, headers: response.headers, body: response.body === '' ? undefined : JSON.parse(response.body) };
}

async function productBySku(sku: string) {
  const response = await api(harness.app, 'GET', `/api/v1/products/lookup?code=${encodeURIComponent(sku)}`);
  return response.status === 404 ? undefined : response.body;
}

async function categoriesNamed(name: string) {
  const response = await api(harness.app, 'GET', `/api/v1/categories?limit=500`);
  const all: { id: string; name: string; parentId: string | null }[] = [];
  let body = response.body;
  for (;;) {
    all.push(...body.items);
    if (body.nextCursor === null) break;
    body = (await api(harness.app, 'GET', `/api/v1/categories?limit=500&cursor=${encodeURIComponent(body.nextCursor)}`)).body;
  }
  return all.filter((category) => category.name.toLowerCase() === name.toLowerCase());
}

function ok(response: ApiResponse) {
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

describe('POST /api/v1/import/products', () => {
  it('creates products from a file with a BOM, columns in any order and case, categories by path created once', async () => {
    const t = tag();
    const csv =
      '\uFEFFName,SKU,Category,reorderpoint,Unit,Barcode,Description,Supplier\r\n' +
      `Cola,${t}-1,${t}-Drinks/${t}-Soda,5,ml,4001,"Sweet, fizzy",Acme\r\n` +
      `Lemonade,${t}-2,${t}-drinks/${t}-soda,,,,,Acme\r\n` +
      `Water,${t}-3,${t}-Drinks,0,,,,\r\n`;
    const report = ok(await importCsv('products', csv));
    assert.deepEqual(report, { created: 3, updated: 0, unchanged: 0, failed: 0, errors: [], ignoredColumns: ['Supplier'] });

    const drinks = await categoriesNamed(`${t}-Drinks`);
    const soda = await categoriesNamed(`${t}-Soda`);
    assert.equal(drinks.length, 1, 'the top level is created once, whatever the case it is written in');
    assert.equal(soda.length, 1);
    assert.equal(drinks[0]!.parentId, null);
    assert.equal(soda[0]!.parentId, drinks[0]!.id);

    const cola = await productBySku(`${t}-1`);
    assert.equal(cola.name, 'Cola');
    assert.equal(cola.unit, 'ml');
    assert.equal(cola.barcode, '4001');
    assert.equal(cola.reorderPoint, 5);
    assert.equal(cola.description, 'Sweet, fizzy');
    assert.equal(cola.categoryId, soda[0]!.id);
    const lemonade = await productBySku(`${t}-2`);
    assert.equal(lemonade.categoryId, soda[0]!.id);
    assert.equal(lemonade.unit, 'pcs', 'an empty cell of a field that is never empty takes its default');
    assert.equal(lemonade.reorderPoint, 0);
    assert.equal(lemonade.barcode, null);
    assert.equal((await productBySku(`${t}-3`)).categoryId, drinks[0]!.id);
  });

  it('run twice, changes nothing the second time: every line unchanged, updatedAt kept', async () => {
    const t = tag();
    const csv = `sku,name,category,reorderPoint\n${t}-a,Alpha,${t}-Cat/Sub,3\n${t}-b,Beta,,0\n`;
    ok(await importCsv('products', csv));
    const before = await productBySku(`${t}-a`);
    const again = ok(await importCsv('products', csv));
    assert.deepEqual(again, { created: 0, updated: 0, unchanged: 2, failed: 0, errors: [], ignoredColumns: [] });
    assert.equal((await productBySku(`${t}-a`)).updatedAt, before.updatedAt);
    assert.equal((await categoriesNamed(`${t}-Cat`)).length, 1);
    const all = ok(await importCsv('products?mode=all-or-nothing', csv));
    assert.equal(all.unchanged, 2);
  });

  it('updates by SKU case-insensitively: an absent column is kept, an empty cell clears a nullable field', async () => {
    const t = tag();
    const category = (await api(harness.app, 'POST', '/api/v1/categories', { name: `${t}-Cat` })).body;
    const product = await createProduct(harness.app, {
      sku: `${t}-Up`,
      name: 'Old name',
      barcode: '123',
      description: 'old',
      categoryId: category.id,
      unit: 'g',
      reorderPoint: 7,
    });
    const report = ok(await importCsv('products', `sku,barcode,description,category,name\n${t}-UP,,,,New name\n`));
    assert.deepEqual(report, { created: 0, updated: 1, unchanged: 0, failed: 0, errors: [], ignoredColumns: [] });
    const updated = await productBySku(`${t}-Up`);
    assert.equal(updated.id, product.id);
    assert.equal(updated.sku, `${t}-Up`, 'the stored SKU is kept');
    assert.equal(updated.name, 'New name');
    assert.equal(updated.barcode, null);
    assert.equal(updated.description, null);
    assert.equal(updated.categoryId, null);
    assert.equal(updated.unit, 'g', 'a column absent from the file leaves its field as it is');
    assert.equal(updated.reorderPoint, 7);
  });

  it('numbers the failed lines as a spreadsheet does, and writes the good ones (partial)', async () => {
    const t = tag();
    const csv = [
      'sku,name,description,reorderPoint', // 1
      `${t}-1,First,"two\nlines",1`, // 2: one line, whatever its cell holds
      `${t}-2,Second,,-1`, // 3: bad reorderPoint
      '', // 4: blank, skipped
      `${t}-1,Again,,2`, // 5: the SKU of line 2
      `${t}-3,,,`, // 6: new, without a name
      `,Nameless,,`, // 7: no SKU
      `${t}-4,Fourth,,x,extra`, // 8: a cell too many
      `${t}-5,Fifth,,5`, // 9
    ].join('\n');
    const report = ok(await importCsv('products', csv));
    assert.equal(report.created, 2);
    assert.equal(report.failed, 5);
    assert.deepEqual(
      report.errors.map((error: { line: number; column?: string }) => [error.line, error.column]),
      [
        [3, 'reorderPoint'],
        [5, 'sku'],
        [6, 'name'],
        [7, 'sku'],
        [8, undefined],
      ],
    );
    assert.match(report.errors[1].message, /line 2/);
    assert.equal((await productBySku(`${t}-1`)).description, 'two\nlines');
    assert.equal((await productBySku(`${t}-1`)).name, 'First');
    assert.ok(await productBySku(`${t}-5`));
    assert.equal(await productBySku(`${t}-2`), undefined);
  });

  it('all-or-nothing: one failed line refuses the file with 422 carrying the report, and writes nothing', async () => {
    const t = tag();
    const csv = `sku,name,category\n${t}-1,One,${t}-NewCat\n${t}-2,Two,\n${t}-3,,\n`;
    const response = await importCsv('products?mode=all-or-nothing', csv);
    assertProblem(response, 422, 'validation_failed');
    assert.equal(response.body.created, 2);
    assert.equal(response.body.failed, 1);
    assert.deepEqual(response.body.errors, [
      { path: '/4/name', line: 4, column: 'name', message: `is required to create a product (no product has the SKU ${t}-3)` },
    ]);
    assert.equal(await productBySku(`${t}-1`), undefined);
    assert.equal(await productBySku(`${t}-2`), undefined);
    assert.deepEqual(await categoriesNamed(`${t}-NewCat`), [], 'the categories it made are rolled back too');
  });

  it('refuses a file without a sku column with 422, before writing anything', async () => {
    const t = tag();
    const response = await importCsv('products', `name,unit\n${t},pcs\n`);
    assertProblem(response, 422, 'validation_failed');
    assert.equal(response.body.errors[0].path, '/1/sku');
    assertProblem(await importCsv('products', ''), 422, 'validation_failed');
    assertProblem(await importCsv('products', `sku,name,SKU\n${t},x,y\n`), 422, 'validation_failed');
  });

  it('takes off the formula guard the export puts on a cell', async () => {
    const t = tag();
    const csv = `sku,name,description,barcode\n${t},'=SUM(A1),'+33 1 23,'-12\n`;
    ok(await importCsv('products', csv));
    const product = await productBySku(t);
    assert.equal(product.name, '=SUM(A1)');
    assert.equal(product.description, '+33 1 23');
    assert.equal(product.barcode, '-12');
  });

  it('fails a malformed line at its number and reads no further; all-or-nothing refuses the file', async () => {
    const t = tag();
    const csv = `sku,name\n${t}-1,One\n${t}-2,"Two\n${t}-3,Three\n`;
    const report = ok(await importCsv('products', csv));
    assert.equal(report.created, 1);
    assert.equal(report.failed, 1);
    assert.equal(report.errors[0].line, 3);
    assert.match(report.errors[0].message, /never closed/);
    const refused = await importCsv('products?mode=all-or-nothing', csv.replace(`${t}-1`, `${t}-9`));
    assertProblem(refused, 422, 'validation_failed');
    assert.equal(await productBySku(`${t}-9`), undefined);
  });

  it('refuses a body that is not text/csv with 415', async () => {
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/import/products',
      headers: { ...harness.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ sku: 'x' }),
    });
    assert.equal(response.statusCode, 415);
    assert.equal(JSON.parse(response.body).code, 'unsupported_media_type');
  });

  it('takes a file larger than BODY_LIMIT_BYTES, up to IMPORT_MAX_BYTES', async () => {
    const t = tag();
    const csv = `sku,name,description\n${Array.from({ length: 1500 }, (_, index) => `${t}-${index},P${index},${'d'.repeat(100)}`).join('\n')}\n`;
    assert.ok(Buffer.byteLength(csv) > BODY_LIMIT_BYTES && Buffer.byteLength(csv) < IMPORT_MAX_BYTES);
    assert.equal(ok(await importCsv('products', csv)).created, 1500);
  });

  it('refuses a file past IMPORT_MAX_BYTES with 413 and writes nothing', async () => {
    const t = tag();
    const lines = [`sku,name`, ...Array.from({ length: 20_000 }, (_, index) => `${t}-${index},Product ${index}`)];
    const csv = lines.join('\n');
    assert.ok(Buffer.byteLength(csv) > IMPORT_MAX_BYTES);
    assertProblem(await importCsv('products', csv), 413, 'payload_too_large');
    assert.equal(await productBySku(`${t}-0`), undefined);
  });

  it('in partial mode, a chunked file past the limit keeps the batches written before it, and says so', async () => {
    const t = tag();
    const base = await listen(harness.app);
    const lines = Array.from({ length: 20_000 }, (_, index) => `${t}-${index},Product ${index}\n`);
    async function* body() {
      yield 'sku,name\n';
      for (let index = 0; index < lines.length; index += 1000) yield lines.slice(index, index + 1000).join('');
    }
    const response = await fetch(`${base}/api/v1/import/products`, {
      method: 'POST',
      headers: { ...harness.auth, 'content-type': 'text/csv' },
      body: ReadableStream.from(body()),
      duplex: 'half',
    } as RequestInit);
    assert.equal(response.status, 413);
    const problem = (await response.json()) as { code: string; created: number; detail: string };
    assert.equal(problem.code, 'payload_too_large');
    assert.ok(problem.created > 0 && problem.created < lines.length, `created ${problem.created}`);
    assert.match(problem.detail, /stay/);
    assert.ok(await productBySku(`${t}-0`));
    assert.equal(await productBySku(`${t}-${lines.length - 1}`), undefined);
  });

  it('is refused to a clerk and a viewer (403)', async () => {
    for (const role of ['clerk', 'viewer']) {
      const user = await createUser(harness.app, { role });
      assertProblem(await importCsv('products', `sku,name\n${tag()},x\n`, user.auth), 403, 'forbidden');
    }
  });
});

describe('POST /api/v1/import/stock-counts', () => {
  async function levelOf(productId: string, locationId: string) {
    const body = ok(await api(harness.app, 'GET', `/api/v1/products/${productId}/stock`));
    return (body.locations ?? body.items ?? body.levels).find((level: { locationId: string }) => level.locationId === locationId);
  }

  it('records a stocktake as adjustment movements with reason stocktake', async () => {
    const location = await createLocation(harness.app);
    const a = await createProduct(harness.app);
    const b = await createProduct(harness.app);
    const c = await createProduct(harness.app);
    await stockUp(harness.app, a.id, location.id, 5);
    await stockUp(harness.app, c.id, location.id, 2);
    const csv = `SKU,countedquantity,expectedOnHand,note\n${a.sku},3,5,x\n${b.sku},4,,y\n${c.sku.toLowerCase()},2,2,\n`;
    const report = ok(await importCsv(`stock-counts?locationId=${location.id}`, csv));
    assert.equal(report.lines, 3);
    assert.equal(report.adjusted, 2);
    assert.equal(report.unchanged, 1);
    assert.equal(report.failed, 0);
    assert.deepEqual(report.ignoredColumns, ['note']);
    assert.equal(report.movementIds.length, 1);
    const movement = ok(await api(harness.app, 'GET', `/api/v1/movements/${report.movementIds[0]}`));
    assert.equal(movement.type, 'adjustment');
    assert.equal(movement.reason, 'stocktake');
    assert.equal(movement.locationId, location.id);
    assert.equal((await levelOf(a.id, location.id)).onHand, 3);
    assert.equal((await levelOf(b.id, location.id)).onHand, 4);
    assert.equal((await levelOf(c.id, location.id)).onHand, 2);
  });

  it('reads onHand as the count when there is no countedQuantity column (an edited stock export)', async () => {
    const location = await createLocation(harness.app);
    const a = await createProduct(harness.app);
    const report = ok(
      await importCsv(
        `stock-counts?locationId=${location.id}`,
        `sku,productName,locationCode,onHand,reserved\n${a.sku},x,${location.code},9,0\n`,
      ),
    );
    assert.equal(report.adjusted, 1);
    assert.deepEqual(report.ignoredColumns, ['productName', 'locationCode', 'reserved']);
    assert.equal((await levelOf(a.id, location.id)).onHand, 9);
  });

  it('refuses a stale expectedOnHand with 409 stale_quantity and writes nothing', async () => {
    const location = await createLocation(harness.app);
    const a = await createProduct(harness.app);
    const b = await createProduct(harness.app);
    await stockUp(harness.app, a.id, location.id, 5);
    await stockUp(harness.app, b.id, location.id, 5);
    const response = await importCsv(
      `stock-counts?locationId=${location.id}`,
      `sku,countedQuantity,expectedOnHand\n${a.sku},1,5\n${b.sku},2,4\n`,
    );
    assertProblem(response, 409, 'stale_quantity');
    assert.deepEqual(response.body.lines, [{ productId: b.id, locationId: location.id, expected: 4, actual: 5 }]);
    assert.equal((await levelOf(a.id, location.id)).onHand, 5);
    assert.equal((await levelOf(b.id, location.id)).onHand, 5);
  });

  it('refuses the whole count when a line fails (unknown, archived or repeated SKU, bad number), writing nothing', async () => {
    const location = await createLocation(harness.app);
    const a = await createProduct(harness.app);
    const b = await createProduct(harness.app);
    const archived = await createProduct(harness.app);
    assert.equal((await api(harness.app, 'DELETE', `/api/v1/products/${archived.id}`)).status, 200);
    const csv =
      `sku,countedQuantity\n${a.sku},1\nNO-SUCH-${tag()},2\n${a.sku.toUpperCase()},3\n${b.sku},-1\n${b.sku},\n` + `${archived.sku},1\n`;
    const response = await importCsv(`stock-counts?locationId=${location.id}`, csv);
    assertProblem(response, 422, 'validation_failed');
    assert.equal(response.body.failed, 5);
    assert.deepEqual(
      response.body.errors.map((error: { line: number; column: string }) => [error.line, error.column]),
      [
        [3, 'sku'],
        [4, 'sku'],
        [5, 'countedQuantity'],
        [6, 'countedQuantity'],
        [7, 'sku'],
      ],
    );
    assert.deepEqual(response.body.movementIds, []);
    assert.equal((await levelOf(a.id, location.id)).onHand, 0);
    assert.equal((await api(harness.app, 'GET', `/api/v1/movements?locationId=${location.id}`)).body.items.length, 0);
  });

  it('needs a known location the actor may count at', async () => {
    const location = await createLocation(harness.app);
    const other = await createLocation(harness.app);
    const a = await createProduct(harness.app);
    const csv = `sku,countedQuantity\n${a.sku},1\n`;
    assertProblem(await importCsv('stock-counts', csv), 422, 'validation_failed');
    assertProblem(await importCsv(`stock-counts?locationId=${UNKNOWN_ID}`, csv), 404, 'not_found');
    const clerk = await createUser(harness.app, { role: 'clerk', locationIds: [location.id] });
    assertProblem(await importCsv(`stock-counts?locationId=${other.id}`, csv, clerk.auth), 403, 'forbidden');
    assert.equal((await api(harness.app, 'GET', `/api/v1/movements?locationId=${other.id}`)).body.items.length, 0);
    const report = ok(await importCsv(`stock-counts?locationId=${location.id}`, csv, clerk.auth));
    const movement = ok(await api(harness.app, 'GET', `/api/v1/movements/${report.movementIds[0]}`));
    assert.equal(movement.createdBy.id, clerk.user.id);
  });

  it('splits 1500 lines into two movements in one transaction: levels equal the counts, the ledger agrees', async () => {
    const t = tag();
    const location = await createLocation(harness.app);
    const skus = Array.from({ length: 1500 }, (_, index) => `${t}-${index}`);
    ok(await importCsv('products', `sku,name\n${skus.map((sku) => `${sku},Counted ${sku}`).join('\n')}\n`));
    const csv = `sku,countedQuantity\n${skus.map((sku, index) => `${sku},${index % 7}`).join('\n')}\n`;
    const report = ok(await importCsv(`stock-counts?locationId=${location.id}`, csv));
    assert.equal(report.lines, 1500);
    assert.equal(report.movementIds.length, 2);
    assert.equal(report.adjusted + report.unchanged, 1500);
    const levels = ok(await api(harness.app, 'GET', `/api/v1/stock?locationId=${location.id}&limit=500`));
    for (const level of levels.items) assert.equal(level.onHand, Number(level.sku.split('-').at(-1)) % 7);
    assert.deepEqual(await harness.db.connection((db) => levelsDisagreeingWithLedger(db)), []);
  });
});

describe('the import use cases, as the CLI calls them', () => {
  it('import a file stream as the system: no access check, progress reported, movements by nobody', async () => {
    const t = tag();
    const directory = await mkdtemp(join(tmpdir(), 'stockroom-import-'));
    try {
      const file = join(directory, 'products.csv');
      await writeFile(file, `sku,name\n${Array.from({ length: 1200 }, (_, index) => `${t}-${index},P${index}`).join('\n')}\n`);
      const progress: ImportProgress[] = [];
      const report = await importProducts({ db: harness.db, actor: null }, createReadStream(file), {
        mode: 'all-or-nothing',
        onProgress: (p) => progress.push(p),
      });
      assert.equal(report.created, 1200);
      assert.deepEqual(
        progress.map((p) => p.lines),
        [500, 1000, 1200],
      );
      assert.ok(progress.at(-1)!.bytes > 0);

      const location = await createLocation(harness.app);
      const counts = await importStockCounts({ db: harness.db, actor: null }, [`sku,countedQuantity\n`, `${t}-1,4\n`], {
        locationId: location.id,
      });
      assert.equal(counts.adjusted, 1);
      const movement = ok(await api(harness.app, 'GET', `/api/v1/movements/${counts.movementIds[0]}`));
      assert.equal(movement.createdBy, null);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('an import refused while the client is still sending', () => {
  // The server runs as a process of its own, as in production: with client and server on one
  // event loop, the race (the server answering while the client still sends) is hidden.
  const LIMIT = 1024 * 1024;
  const BODY_BYTES = 8 * LIMIT;
  let database: TestDatabase;
  let server: ServerProcess;
  let base: URL;
  let auth: { authorization: string };
  before(async () => {
    database = await createTestDatabase();
    if (!usingPostgres) await database.db.close(); // the embedded database takes one process
    server = await startServer({ env: { ...database.env, IMPORT_MAX_BYTES: String(LIMIT) } });
    await server.started;
    base = new URL(server.base);
    auth = await server.auth();
  });
  after(async () => {
    await server?.stop();
    killServers();
    await database?.destroy();
  });

  const bigCsv = () => `sku,name\n${'x,y\n'.repeat(BODY_BYTES / 4)}`;

  it('reaches fetch: 413 by Content-Length and chunked, 415 for JSON', async () => {
    const sends = [
      { status: 413, headers: { ...auth, 'content-type': 'text/csv' }, body: bigCsv() },
      { status: 413, headers: { ...auth, 'content-type': 'text/csv' }, body: 'stream' },
      { status: 415, headers: { ...auth, 'content-type': 'application/json' }, body: bigCsv() },
    ];
    for (const { status, headers, body } of sends) {
      for (let run = 0; run < 4; run += 1) {
        const init: RequestInit & { duplex?: string } =
          body === 'stream'
            ? { method: 'POST', headers, body: ReadableStream.from([bigCsv()]) as unknown as string, duplex: 'half' }
            : { method: 'POST', headers, body };
        const response = await fetch(new URL('/api/v1/import/products?mode=all-or-nothing', base), init);
        assert.equal(response.status, status);
        assert.equal(((await response.json()) as { status: number }).status, status);
      }
    }
  });

  it('reaches a raw socket writing a large body slowly', async () => {
    for (const [status, type] of [
      [413, 'text/csv'],
      [415, 'application/json'],
    ] as const) {
      const socket: Socket = connect(Number(base.port), base.hostname);
      await once(socket, 'connect');
      let text = '';
      let error: string | undefined;
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('error', (failure: NodeJS.ErrnoException) => (error = failure.code ?? failure.message));
      socket.write(
        `POST /api/v1/import/products HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\n` +
          `Content-Type: ${type}\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nsku,name\n\r\n`,
      );
      // 2 MiB in 64 KiB chunks, a little at a time: past the limit while still sending.
      const chunk = 'x,y\n'.repeat(16 * 1024);
      for (let index = 0; index < 32 && error === undefined; index += 1) {
        socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      socket.write('0\r\n\r\n');
      const deadline = Date.now() + 5000;
      while (!/\r\n\r\n\{.*\}$/s.test(text) && error === undefined && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      socket.destroy();
      assert.equal(error, undefined, `${status}: ${error} before the answer`);
      assert.match(text, new RegExp(`^HTTP/1.1 ${status} `), text.slice(0, 100));
      assert.match(text, /\r\ncontent-type: application\/problem\+json/i);
    }
  });
});
