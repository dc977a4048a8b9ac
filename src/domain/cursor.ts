import { validationFailed } from './errors.ts';

// Cursors are opaque to clients: the sort key of the last row of a page, base64url-encoded JSON.
// Keyset pagination keeps every page one index range scan, however deep.

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_TIMESTAMP = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** What each part of a cursor's key must be: a cursor of another shape was not issued here. */
export type CursorShape = readonly ('string' | 'uuid' | 'timestamp')[];

/** A decoded key: one string per part of its shape. */
export type CursorKey<Shape extends CursorShape> = { -readonly [Part in keyof Shape]: string };

const fits = (part: unknown, kind: CursorShape[number] | undefined) =>
  typeof part === 'string' &&
  !part.includes('\u0000') &&
  (kind === 'string' ||
    (kind === 'uuid' ? UUID.test(part) : kind === 'timestamp' && ISO_TIMESTAMP.test(part) && !Number.isNaN(Date.parse(part))));

export function decodeCursor<Shape extends CursorShape>(cursor: string, shape: Shape): CursorKey<Shape> {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === shape.length && key.every((part, i) => fits(part, shape[i]))) {
      return key as CursorKey<Shape>;
    }
  } catch {
    // fall through to the problem below
  }
  throw validationFailed([{ path: '/cursor', message: 'invalid cursor' }], 'cursor is not one this server issued');
}

export interface Page<Item> {
  items: Item[];
  /** The cursor of the next page; null on the last one. */
  nextCursor: string | null;
}

/** The page and the cursor of the next one, given rows fetched with `limit + 1`. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => string[]): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null;
  return { items, nextCursor };
}

/** How a list is ordered for paging: the shape of its cursor, and the key of a row in that order. */
export interface Keyset<Row, Shape extends CursorShape = CursorShape> {
  shape: Shape;
  keyOf: (row: Row) => CursorKey<Shape>;
}

/** Newest first, ties broken by id: the order of the ledger and of reservations. */
export const NEWEST_FIRST: Keyset<{ createdAt: Date; id: string }, readonly ['timestamp', 'uuid']> = {
  shape: ['timestamp', 'uuid'],
  keyOf: (row) => [row.createdAt.toISOString(), row.id],
};

/** What a client asks of a list: how many items, and after which cursor. */
export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/**
 * One page of a list, the way every list is read: the cursor is decoded (422 if it was not issued
 * here) into the key the page starts after, `read` fetches up to `limit + 1` rows after it (the one
 * past the page only says there is a next), and the page's rows are presented.
 */
export async function readPage<Row, Item, Shape extends CursorShape>(
  query: PageQuery,
  keyset: Keyset<Row, Shape>,
  read: (after: CursorKey<Shape> | undefined) => Promise<Row[]>,
  present: (row: Row) => Item,
): Promise<Page<Item>> {
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, keyset.shape);
  const rows = await read(after);
  const page = pageOf(rows, query.limit, keyset.keyOf);
  return { items: page.items.map(present), nextCursor: page.nextCursor };
}
