import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateProductSchema } from '../../src/http/schemas/products.ts';
import { CreateMovementSchema } from '../../src/http/schemas/movements.ts';
import {
  BARCODE_LENGTH_MAX,
  categoryPath,
  DESCRIPTION_LENGTH_MAX,
  ErrorReport,
  NAME_LENGTH_MAX,
  QUANTITY_MAX,
  readProductHeader,
  readProductLine,
  readStockCountHeader,
  readStockCountLine,
  REORDER_POINT_MAX,
  REPORT_ERRORS_MAX,
  SeenSkus,
  SKU_LENGTH_MAX,
  UNIT_LENGTH_MAX,
} from '../../src/domain/imports.ts';
import { AppError } from '../../src/domain/errors.ts';

// The per-line rules of the CSV imports: the header, a line as a product draft or a count, and
// the bounds, which must be those of POST /products and POST /movements.

describe('the bounds of an imported line', () => {
  it('are those of the JSON routes', () => {
    const product = CreateProductSchema.properties as Record<string, any>;
    const maxLength = (schema: any): number => schema.maxLength ?? schema.anyOf.find((s: any) => s.type === 'string').maxLength;
    assert.equal(maxLength(product.sku), SKU_LENGTH_MAX);
    assert.equal(maxLength(product.name), NAME_LENGTH_MAX);
    assert.equal(maxLength(product.unit), UNIT_LENGTH_MAX);
    assert.equal(maxLength(product.barcode), BARCODE_LENGTH_MAX);
    assert.equal(maxLength(product.description), DESCRIPTION_LENGTH_MAX);
    assert.equal(product.reorderPoint.maximum, REORDER_POINT_MAX);
    const line = JSON.stringify(CreateMovementSchema);
    assert.ok(line.includes(`"maximum":${QUANTITY_MAX}`));
  });
});

describe('the header of a products file', () => {
  it('takes columns in any order and case, lists the unknown ones, and needs sku', () => {
    const header = readProductHeader([' Name', 'SKU', 'supplier', "'=x"]);
    assert.equal(header.index.get('sku'), 1);
    assert.equal(header.index.get('name'), 0);
    assert.deepEqual(header.ignoredColumns, ['supplier', '=x']);
    assert.throws(
      () => readProductHeader(['name']),
      (error: AppError) => error.code === 'validation_failed' && /sku/.test(error.detail),
    );
    assert.throws(() => readProductHeader(['sku', 'Sku']), /twice/);
  });
});

describe('a line of a products file', () => {
  const header = readProductHeader(['sku', 'name', 'category', 'unit', 'barcode', 'reorderPoint', 'description']);

  it('is a draft: trimmed, unguarded, empty nullable cells cleared, empty others left out', () => {
    const read = readProductLine(header, [' A-1 ', "'=Cola", 'Drinks / Soda', '', '', '', ' keep  '], 7);
    assert.ok('draft' in read);
    assert.deepEqual(read.draft, {
      line: 7,
      sku: 'A-1',
      key: 'a-1',
      name: '=Cola',
      category: ['Drinks', 'Soda'],
      unit: undefined,
      barcode: null,
      description: ' keep  ',
    });
  });

  it('names each bad cell with its line and column', () => {
    const read = readProductLine(header, ['', 'n'.repeat(NAME_LENGTH_MAX + 1), 'A//B', 'u', 'b', '-1', 'x\u0000'], 4);
    assert.ok('errors' in read);
    assert.deepEqual(
      read.errors.map((error) => [error.line, error.column]),
      [
        [4, 'sku'],
        [4, 'name'],
        [4, 'description'],
        [4, 'reorderPoint'],
        [4, 'category'],
      ],
    );
  });

  it('refuses a line whose cells do not match the header', () => {
    const read = readProductLine(header, ['a', 'b'], 3);
    assert.ok('errors' in read);
    assert.match(read.errors[0]!.message, /2 cells where the header has 7/);
  });

  it('leaves a field untouched when its column is absent', () => {
    const read = readProductLine(readProductHeader(['sku']), ['x'], 2);
    assert.ok('draft' in read);
    assert.deepEqual(read.draft, { line: 2, sku: 'x', key: 'x' });
  });
});

describe('a category path', () => {
  it('is split into trimmed levels, and refused with an empty or overlong level', () => {
    assert.deepEqual(categoryPath(' A / B/C'), { levels: ['A', 'B', 'C'] });
    assert.ok('message' in categoryPath('A//B'));
    assert.ok('message' in categoryPath('/A'));
    assert.ok('message' in categoryPath('x/'.repeat(11) + 'x'));
  });
});

describe('a stock-count file', () => {
  it('reads onHand as the count only when countedQuantity is absent', () => {
    assert.equal(readStockCountHeader(['sku', 'onHand']).index.get('countedQuantity'), 1);
    const both = readStockCountHeader(['onHand', 'sku', 'countedQuantity']);
    assert.equal(both.index.get('countedQuantity'), 2);
    assert.deepEqual(both.ignoredColumns, ['onHand']);
    assert.throws(() => readStockCountHeader(['sku']), /countedQuantity column \(or onHand\)/);
  });

  it('reads a count, and refuses a negative or missing one', () => {
    const header = readStockCountHeader(['sku', 'countedQuantity', 'expectedOnHand']);
    assert.deepEqual(readStockCountLine(header, ['S', '3', '-2'], 2), {
      draft: { line: 2, sku: 'S', key: 's', countedQuantity: 3, expectedOnHand: -2 },
    });
    for (const bad of ['-1', '', '1.5', '1e3', String(QUANTITY_MAX + 1)]) {
      const read = readStockCountLine(header, ['S', bad, ''], 5);
      assert.ok('errors' in read, bad);
      assert.equal(read.errors[0]!.column, 'countedQuantity');
    }
  });
});

describe('a report', () => {
  it('counts every failed line and lists the first errors only', () => {
    const report = new ErrorReport();
    for (let line = 2; line < REPORT_ERRORS_MAX + 12; line += 1) report.fail([{ line, message: 'bad' }]);
    assert.equal(report.failed, REPORT_ERRORS_MAX + 10);
    assert.equal(report.errors.length, REPORT_ERRORS_MAX);
  });

  it('names the first line of a repeated SKU, whatever its case', () => {
    const seen = new SeenSkus();
    assert.equal(seen.repeated({ key: 'a', sku: 'A', line: 2 }), undefined);
    assert.match(seen.repeated({ key: 'a', sku: 'a', line: 9 }) ?? '', /line 2/);
  });
});
