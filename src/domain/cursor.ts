import { AppError } from './errors.ts';

// Cursors are opaque to clients: the sort key of the last row of a page, base64url-encoded JSON.
// Keyset pagination keeps every page one index range scan, however deep.

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_TIMESTAMP = /^(?!0000)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** What each part of a cursor's key must be: a cursor of another shape was not issued here. */
export type CursorShape = readonly ('string' | 'uuid' | 'timestamp')[];

const fits = (part: unknown, kind: CursorShape[number]) =>
  typeof part === 'string' &&
  !part.includes('\u0000') &&
  (kind === 'string' || (kind === 'uuid' ? UUID.test(part) : ISO_TIMESTAMP.test(part) && !Number.isNaN(Date.parse(part))));

export function decodeCursor(cursor: string, shape: CursorShape): string[] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === shape.length &&
      key.every((part, i) => fits(part, shape[i]!))
    ) {
      return key as string[];
    }
  } catch {
    // fall through to the problem below
  }
  throw new AppError('validation_failed', 'cursor is not one this server issued', {
    errors: [{ path: '/cursor', message: 'invalid cursor' }],
  });
}

/** The page and the cursor of the next one, given rows fetched with `limit + 1`. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => string[]) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null;
  return { items, nextCursor };
}
