import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { guardCell, unguardCell } from '../../src/domain/csv.ts';

describe('the formula-injection guard', () => {
  it('prefixes a cell a spreadsheet would evaluate, and only such a cell', () => {
    for (const text of ['=1+1', '+33 1 23', '-2', '@SUM(A1)', '\tx', '\rx']) assert.equal(guardCell(text), `'${text}`);
    for (const text of ['', 'Cola 330 ml', "'quoted", '1=1', ' =x']) assert.equal(guardCell(text), text);
    assert.equal(guardCell("'=x"), "''=x", 'a text that looks guarded already is guarded again');
  });

  it('is taken off again by the import, whatever the text', () => {
    const cell = fc.stringMatching(/^'{0,3}[=+\-@\t\rax']{0,4}$/);
    fc.assert(fc.property(fc.oneof(fc.string(), cell), (text) => unguardCell(guardCell(text)) === text));
  });
});
