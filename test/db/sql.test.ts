import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Conditions, onlyRow, partialSet, type SettableColumn } from '../../src/db/sql.ts';

interface Changes {
  name?: string | undefined;
  parentId?: string | null | undefined;
}

const SETTABLE: { [Field in keyof Changes]-?: SettableColumn } = {
  name: ['name', 'text'],
  parentId: ['parent_id', 'uuid'],
};

describe('partialSet', () => {
  it('writes one statement text whatever is given, so that it is one prepared statement', () => {
    const texts = [{}, { name: 'a' }, { parentId: null }, { name: 'a', parentId: 'b' }].map((changes: Changes) =>
      partialSet(new Conditions(), changes, SETTABLE),
    );
    assert.equal(new Set(texts).size, 1);
    assert.equal(
      texts[0],
      `name = CASE WHEN $1::boolean THEN $2::text ELSE name END,\n` +
        `       parent_id = CASE WHEN $3::boolean THEN $4::uuid ELSE parent_id END,\n` +
        `       updated_at = date_trunc('milliseconds', now())`,
    );
  });

  it('sets a given field, clears a field given as null, and keeps an undefined one', () => {
    const sql = new Conditions();
    partialSet(sql, { name: 'Tools', parentId: undefined }, SETTABLE);
    assert.deepEqual(sql.params, [true, 'Tools', false, null]);
    const clearing = new Conditions();
    partialSet(clearing, { parentId: null }, SETTABLE);
    assert.deepEqual(clearing.params, [false, null, true, null]);
  });

  it('numbers its parameters after those already taken', () => {
    const sql = new Conditions();
    assert.equal(sql.param('id'), '$1');
    assert.match(partialSet(sql, {}, SETTABLE), /^name = CASE WHEN \$2::boolean THEN \$3::text/);
    assert.equal(sql.param('next'), '$6');
  });
});

describe('onlyRow', () => {
  it('answers the one row', () => {
    assert.deepEqual(onlyRow([{ id: 1 }], 'INSERT INTO t'), { id: 1 });
  });

  it('fails an assertion on none or several: a statement that must give one row is a bug otherwise', () => {
    assert.throws(() => onlyRow([], 'INSERT INTO t'), { name: 'AssertionError', message: /INSERT INTO t gives back one row/ });
    assert.throws(() => onlyRow([{}, {}], 'INSERT INTO t'), { name: 'AssertionError' });
  });
});
