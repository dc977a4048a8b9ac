import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tag } from '../../support/assertions.ts';
import { createCategory, createLocation, createProduct, recordMovement } from '../../support/factories.ts';
import { api, createHarness, type Harness } from '../../support/helpers.ts';

// API.md: "An export and its import round-trip." Products exported and imported again change
// nothing, whatever their text holds (formulas the guard prefixed, commas, quotes, line breaks,
// categories by path, empty fields); a location's stock exported and imported as its count is a
// stocktake that finds every level as it is.

let h: Harness;
before(async () => {
  h = await createHarness({}, { jobs: false });
});
after(() => h.close());

async function exported(url: string): Promise<string> {
  const response = await h.app.inject({ method: 'GET', url, headers: h.auth });
  assert.equal(response.statusCode, 200, response.body);
  return response.body;
}

async function imported(url: string, csv: string) {
  const response = await h.app.inject({ method: 'POST', url, payload: csv, headers: { ...h.auth, 'content-type': 'text/csv' } });
  assert.equal(response.statusCode, 200, response.body);
  return JSON.parse(response.body);
}

describe('an export and its import', () => {
  it('round-trip products: every line of a re-imported export is unchanged, and nothing changes', async () => {
    const run = tag();
    const parent = await createCategory(h.app, { name: `Drinks ${run}` });
    const child = await createCategory(h.app, { name: 'Soda', parentId: parent.id });
    const hostile = [
      { name: '=HYPERLINK("http://evil.example","click")', description: '+1 tab\there' },
      { name: '@SUM(A1:A9)', description: '-2, with "quotes", and\na line break' },
      { name: "'=already quoted", description: null },
      { name: 'Plain, with a comma', description: '\r at the start' },
    ];
    for (const [i, fields] of hostile.entries()) {
      await createProduct(h.app, {
        sku: `${run}-${i}`,
        ...fields,
        categoryId: i % 2 === 0 ? child.id : null,
        barcode: i === 0 ? `40${Date.now()}` : null,
        reorderPoint: i * 7,
        unit: i === 1 ? 'kg' : 'pcs',
      });
    }
    const before = (await api(h.app, 'GET', `/api/v1/products?q=${run}&limit=500`)).body.items;
    assert.equal(before.length, hostile.length);

    const csv = await exported(`/api/v1/export/products.csv?q=${run}`);
    assert.match(csv, /'=HYPERLINK/, 'the export guarded the formula');
    const report = await imported('/api/v1/import/products?mode=all-or-nothing', csv);
    assert.deepEqual(
      { created: report.created, updated: report.updated, unchanged: report.unchanged, failed: report.failed },
      { created: 0, updated: 0, unchanged: hostile.length, failed: 0 },
    );
    const after = (await api(h.app, 'GET', `/api/v1/products?q=${run}&limit=500`)).body.items;
    assert.deepEqual(after, before, 'not a field changed, updatedAt included');
    assert.equal(after.find((p: { sku: string }) => p.sku === `${run}-0`).name, hostile[0]!.name);
  });

  it("round-trip a location's stock: imported as its count, it is a stocktake that finds every level as it is", async () => {
    const run = tag();
    const location = await createLocation(h.app, { code: `RT-${run}`.slice(0, 30), name: 'Round trip' });
    const products = [];
    for (let i = 0; i < 3; i += 1) products.push(await createProduct(h.app, { sku: `${run}-S${i}`, name: `Stock ${i}` }));
    const lines = products.map((product, i) => ({ productId: product.id, quantity: 5 + i }));
    assert.equal((await recordMovement(h.app, { type: 'inbound', locationId: location.id, lines })).status, 201);

    const csv = await exported(`/api/v1/export/stock.csv?locationId=${location.id}`);
    const report = await imported(`/api/v1/import/stock-counts?locationId=${location.id}`, csv);
    assert.deepEqual(
      { lines: report.lines, adjusted: report.adjusted, unchanged: report.unchanged },
      { lines: 3, adjusted: 0, unchanged: 3 },
    );
    const levels = (await api(h.app, 'GET', `/api/v1/stock?locationId=${location.id}`)).body.items;
    assert.deepEqual(
      levels.map((level: { sku: string; onHand: number }) => [level.sku, level.onHand]).sort(),
      products.map((product, i) => [product.sku, 5 + i]).sort(),
    );
  });
});
