import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeCursor, encodeCursor, pageOf, readPage, type Keyset } from '../../src/domain/cursor.ts';
import { AppError } from '../../src/domain/errors.ts';

// Cursors are a contract with clients: one issued by an earlier version must still decode, so the
// encoding is pinned byte for byte here, not only round-tripped.

const UUID = '0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b';
const TIMESTAMP = '2026-12-03T10:20:30.456Z';

function assertInvalidCursor(run: () => unknown) {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'validation_failed');
    assert.equal(error.status, 422);
    assert.equal(error.detail, 'cursor is not one this server issued');
    assert.deepEqual(error.extras, { errors: [{ path: '/cursor', message: 'invalid cursor' }] });
    return true;
  });
}

describe('encodeCursor', () => {
  it('is the base64url of the key as JSON, without padding', () => {
    assert.equal(encodeCursor(['abc']), 'WyJhYmMiXQ');
    assert.equal(encodeCursor(['sku-1', UUID]), Buffer.from(JSON.stringify(['sku-1', UUID])).toString('base64url'));
    assert.equal(
      encodeCursor([TIMESTAMP, UUID]),
      'WyIyMDI2LTEyLTAzVDEwOjIwOjMwLjQ1NloiLCIwMTkwYTNjNC01YjZkLTdlOGYtOWEwYi0xYzJkM2U0ZjVhNmIiXQ',
    );
  });

  it('round-trips through decodeCursor, whatever characters the key holds', () => {
    for (const key of [['a'], ['é/ü+?'], ['with "quotes" and \\ backslashes'], ['']]) {
      assert.deepEqual(decodeCursor(encodeCursor(key), ['string']), key);
    }
    assert.deepEqual(decodeCursor(encodeCursor([TIMESTAMP, UUID]), ['timestamp', 'uuid']), [TIMESTAMP, UUID]);
  });
});

describe('decodeCursor', () => {
  it('accepts a cursor issued before (a pinned one)', () => {
    assert.deepEqual(decodeCursor('WyJhYmMiXQ', ['string']), ['abc']);
  });

  it('refuses a cursor that is not base64url JSON', () => {
    assertInvalidCursor(() => decodeCursor('not a cursor', ['string']));
    assertInvalidCursor(() => decodeCursor(Buffer.from('{').toString('base64url'), ['string']));
  });

  it('refuses a key of another length than the shape', () => {
    assertInvalidCursor(() => decodeCursor(encodeCursor(['a', 'b']), ['string']));
    assertInvalidCursor(() => decodeCursor(encodeCursor(['a']), ['string', 'uuid']));
  });

  it('refuses a key whose parts are not of the shape: not strings, not UUIDs, not timestamps', () => {
    assertInvalidCursor(() => decodeCursor(Buffer.from(JSON.stringify([1])).toString('base64url'), ['string']));
    assertInvalidCursor(() => decodeCursor(Buffer.from(JSON.stringify({ 0: 'a' })).toString('base64url'), ['string']));
    assertInvalidCursor(() => decodeCursor(encodeCursor(['not-a-uuid']), ['uuid']));
    assertInvalidCursor(() => decodeCursor(encodeCursor(['2026-12-03']), ['timestamp']));
    assertInvalidCursor(() => decodeCursor(encodeCursor(['0000-01-01T00:00:00.000Z']), ['timestamp']));
    assertInvalidCursor(() => decodeCursor(encodeCursor(['2026-13-45T00:00:00.000Z']), ['timestamp']));
  });

  it('refuses a key holding a NUL character, which PostgreSQL text cannot hold', () => {
    assertInvalidCursor(() => decodeCursor(encodeCursor(['a\u0000b']), ['string']));
  });
});

describe('pageOf', () => {
  const key = (row: { id: string }) => [row.id];

  it('answers the first `limit` rows and a cursor of the last one when a row past them was fetched', () => {
    const page = pageOf([{ id: 'a' }, { id: 'b' }, { id: 'c' }], 2, key);
    assert.deepEqual(page.items, [{ id: 'a' }, { id: 'b' }]);
    assert.equal(page.nextCursor, encodeCursor(['b']));
  });

  it('answers no cursor on the last page', () => {
    assert.deepEqual(pageOf([{ id: 'a' }, { id: 'b' }], 2, key), { items: [{ id: 'a' }, { id: 'b' }], nextCursor: null });
    assert.deepEqual(pageOf([], 2, key), { items: [], nextCursor: null });
  });
});

describe('readPage', () => {
  interface Row {
    name: string;
    id: string;
  }
  const BY_NAME: Keyset<Row, readonly ['string', 'uuid']> = { shape: ['string', 'uuid'], keyOf: (row) => [row.name, row.id] };
  const rows: Row[] = ['a', 'b', 'c', 'd', 'e'].map((name, index) => ({ name, id: UUID.replace(/.$/, String(index)) }));
  /** Rows after the key, in order, at most `limit + 1`: what a db list function answers. */
  const reader = (limit: number, reads: unknown[]) => async (after: [string, string] | undefined) => {
    reads.push(after);
    const start = after === undefined ? 0 : rows.findIndex((row) => row.name === after[0]) + 1;
    return rows.slice(start, start + limit + 1);
  };

  it('pages through a list with the cursors it issues, reading after each decoded key', async () => {
    const reads: unknown[] = [];
    const first = await readPage({ limit: 2 }, BY_NAME, reader(2, reads), (row) => row.name);
    assert.deepEqual(first, { items: ['a', 'b'], nextCursor: encodeCursor(['b', rows[1]!.id]) });
    const second = await readPage({ limit: 2, cursor: first.nextCursor! }, BY_NAME, reader(2, reads), (row) => row.name);
    assert.deepEqual(second.items, ['c', 'd']);
    const last = await readPage({ limit: 2, cursor: second.nextCursor! }, BY_NAME, reader(2, reads), (row) => row.name);
    assert.deepEqual(last, { items: ['e'], nextCursor: null });
    assert.deepEqual(reads, [undefined, ['b', rows[1]!.id], ['d', rows[3]!.id]]);
  });

  it('refuses a cursor of another shape before reading anything', async () => {
    const reads: unknown[] = [];
    await assert.rejects(
      readPage({ limit: 2, cursor: encodeCursor(['b']) }, BY_NAME, reader(2, reads), (row) => row),
      (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'validation_failed');
        return true;
      },
    );
    assert.deepEqual(reads, [], 'nothing was read');
  });

  it('presents only the rows of the page, not the one past it', async () => {
    const presented: string[] = [];
    await readPage({ limit: 2 }, BY_NAME, reader(2, []), (row) => presented.push(row.name));
    assert.deepEqual(presented, ['a', 'b']);
  });
});
