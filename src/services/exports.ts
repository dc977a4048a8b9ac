import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import * as exports from '../db/exports.ts';
import type { Queryable } from '../db/database.ts';
import { assertLocations } from '../domain/access.ts';
import { guardCell, PRODUCT_COLUMNS } from '../domain/csv.ts';
import { reading, type UseCaseContext } from './context.ts';

// The CSV exports (API.md, Import and export), for the HTTP routes and the CLI alike. An export is
// a stream of CSV text pulled by its consumer: a page of rows is read (a short read of its own, by
// keyset, never a transaction held for the download) only when the rows before it have been taken,
// so memory stays constant whatever the row count and a slow reader holds no connection. The first
// page is read before the stream is handed over, so that a refusal (403) or an unreachable
// database is an error the caller can still answer as such, before any byte of CSV.

/** Rows per read: big enough that a page costs little next to its rows, small enough to be a short statement. */
export const EXPORT_PAGE_ROWS = 2000;

export interface ExportOptions {
  /** Told the number of rows read so far after each page (a CLI's progress line). */
  onRows?: ((rows: number) => void) | undefined;
  /** Rows per read, EXPORT_PAGE_ROWS unless given (tests make pages small to cross their boundaries). */
  pageRows?: number | undefined;
}

export interface CsvExport {
  /** The file name to offer: what is exported and the UTC date of the export, e.g. products-2026-12-03.csv. */
  filename: string;
  /** The CSV text: a UTF-8 BOM, a header row, then a row per record, each ending in CRLF. */
  stream: Readable;
}

/**
 * The pages of a keyset-ordered read, each read when the one before has been taken, until a short
 * one. Empty pages are not yielded.
 */
async function* keysetPages<Row, Key>(
  ctx: UseCaseContext,
  read: (db: Queryable, after: Key | undefined, limit: number) => Promise<Row[]>,
  keyOf: (row: Row) => Key,
  limit: number,
): AsyncGenerator<Row[]> {
  let after: Key | undefined;
  for (;;) {
    const page = await reading(ctx, (db) => read(db, after, limit));
    const last = page.at(-1);
    if (last === undefined) return;
    yield page;
    if (page.length < limit) return;
    after = keyOf(last);
  }
}

/**
 * An export of `pages` as CSV: the first page is read now (its errors are the caller's), the rest as
 * the stream is read. Destroying the stream (a client gone) ends the reading: the page generator's
 * `finally` runs, and no connection stays taken.
 */
async function csvExport<Row>(
  name: string,
  columns: readonly string[],
  pages: AsyncGenerator<Row[]>,
  toRecord: (row: Row) => unknown[],
  options: ExportOptions,
): Promise<CsvExport> {
  const first = await pages.next();
  // A page is written as one chunk: a write per row would cost the response a write (and a chunk's
  // framing) for every hundred bytes or so.
  async function* chunks() {
    let rows = 0;
    try {
      for (let page = first; page.done !== true; page = await pages.next()) {
        const header = rows === 0;
        rows += page.value.length;
        options.onRows?.(rows);
        yield stringify(page.value.map(toRecord), { ...CSV_OPTIONS, columns: [...columns], header, bom: header });
      }
      if (rows === 0) yield stringify([], { ...CSV_OPTIONS, columns: [...columns], header: true, bom: true });
    } finally {
      await pages.return(undefined);
    }
  }
  // At most one page waits in the stream: the next is read when the consumer has taken it. Destroying
  // the stream (the client went away) returns the generator; its failing destroys the stream, and
  // the consumer ends its side (Fastify destroys the socket).
  const stream = Readable.from(chunks(), { objectMode: false, highWaterMark: 1 });
  return { filename: `${name}-${new Date().toISOString().slice(0, 10)}.csv`, stream };
}

/**
 * RFC 4180 with what spreadsheets expect of a download: CRLF line ends, and a BOM so that Excel
 * reads the file as UTF-8 (the import takes it, as csv-parse does with `bom: true`). csv-stringify
 * quotes a cell holding a comma or a quote, but one holding a lone CR or LF only when asked.
 */
const CSV_OPTIONS = { record_delimiter: 'windows', quoted_match: /[\r\n]/ } as const;

/** A text cell: guarded against formula injection (src/domain/csv.ts); null is an empty cell. */
const text = (value: string | null) => (value === null ? '' : guardCell(value));
/** A number Stockroom wrote itself: never guarded, so that a negative quantity stays a number. */
const number = (value: number | null) => (value === null ? '' : String(value));

export interface ProductExportFilter {
  q?: string | undefined;
  categoryId?: string | undefined;
  archived?: boolean | undefined;
}

/** The products as their import takes them (PRODUCT_COLUMNS): an export re-imports with every line unchanged. */
export function exportProducts(ctx: UseCaseContext, filter: ProductExportFilter, options: ExportOptions = {}): Promise<CsvExport> {
  const query = { q: filter.q?.trim(), categoryId: filter.categoryId, archived: filter.archived };
  const pages = keysetPages(
    ctx,
    (db, after: string | undefined, limit) => exports.exportProductsPage(db, query, after, limit),
    (row) => row.sortKey,
    options.pageRows ?? EXPORT_PAGE_ROWS,
  );
  const cells: { [Column in (typeof PRODUCT_COLUMNS)[number]]: (row: exports.ProductExportRow) => string } = {
    sku: (row) => text(row.sku),
    name: (row) => text(row.name),
    category: (row) => text(row.category),
    unit: (row) => text(row.unit),
    barcode: (row) => text(row.barcode),
    reorderPoint: (row) => number(row.reorderPoint),
    description: (row) => text(row.description),
  };
  return csvExport('products', PRODUCT_COLUMNS, pages, (row) => PRODUCT_COLUMNS.map((column) => cells[column](row)), options);
}

export const STOCK_EXPORT_COLUMNS = ['location', 'sku', 'name', 'unit', 'onHand', 'reserved', 'available', 'reorderPoint'] as const;

export interface StockExportFilter {
  locationId?: string | undefined;
  /** onHand as the ledger had it at this instant, included; reserved is then 0 (the ledger keeps no history of reservations). */
  asOf?: Date | undefined;
}

/** The levels by location code, then SKU: one location at a time, so that each page is one location's index range. */
export async function exportStock(ctx: UseCaseContext, filter: StockExportFilter, options: ExportOptions = {}): Promise<CsvExport> {
  if (filter.locationId !== undefined) assertLocations(ctx.actor, [filter.locationId]);
  const scope = { locationId: filter.locationId, locationIds: ctx.actor?.locationIds ?? undefined };
  const limit = options.pageRows ?? EXPORT_PAGE_ROWS;
  async function* pages(): AsyncGenerator<(exports.StockExportRow & { location: string })[]> {
    let after: string | undefined;
    for (;;) {
      const location = await reading(ctx, (db) => exports.nextLocation(db, scope, after));
      if (location === undefined) return;
      after = location.sortKey;
      const levels = keysetPages(
        ctx,
        (db, key: string | undefined, size) => exports.exportStockPage(db, location.id, filter.asOf, key, size),
        (row) => row.sortKey,
        limit,
      );
      for await (const page of levels) yield page.map((row) => ({ ...row, location: location.code }));
    }
  }
  return csvExport(
    'stock',
    STOCK_EXPORT_COLUMNS,
    pages(),
    (row) => [
      text(row.location),
      text(row.sku),
      text(row.name),
      text(row.unit),
      number(row.onHand),
      number(row.reserved),
      number(row.available),
      number(row.reorderPoint),
    ],
    options,
  );
}

export const MOVEMENT_EXPORT_COLUMNS = [
  'movementId',
  'createdAt',
  'type',
  'location',
  'toLocation',
  'line',
  'sku',
  'name',
  'quantity',
  'countedQuantity',
  'reference',
  'note',
  'reason',
  'createdBy',
] as const;

export type MovementExportFilter = Omit<exports.MovementExportFilter, 'locationIds'>;

/** The scope of a movement export: a clerk's locations only, and a location it is assigned to. */
function movementScope(ctx: UseCaseContext, filter: MovementExportFilter): exports.MovementExportFilter {
  if (filter.locationId !== undefined) assertLocations(ctx.actor, [filter.locationId]);
  return { ...filter, locationIds: ctx.actor?.locationIds ?? undefined };
}

/**
 * A row per line of a movement, oldest first. quantity is the line's as it was recorded (GET
 * /movements' lines): positive for inbound, outbound and transfer, the signed delta for an adjustment.
 */
export async function exportMovements(ctx: UseCaseContext, filter: MovementExportFilter, options: ExportOptions = {}): Promise<CsvExport> {
  const scoped = movementScope(ctx, filter);
  const pages = keysetPages(
    ctx,
    (db, after: exports.MovementLineKey | undefined, limit) => exports.exportMovementLinesPage(db, scoped, after, limit),
    (row): exports.MovementLineKey => [row.createdAt, row.movementId, row.lineNo],
    options.pageRows ?? EXPORT_PAGE_ROWS,
  );
  return csvExport(
    'movements',
    MOVEMENT_EXPORT_COLUMNS,
    pages,
    (row) => [
      row.movementId,
      row.createdAt.toISOString(),
      row.type,
      text(row.location),
      text(row.toLocation),
      number(row.lineNo + 1), // lines count from 1, as a person reads them
      text(row.sku),
      text(row.name),
      // A request line is the entry at the movement's own location; outbound and transfer take it away.
      number(row.type === 'outbound' || row.type === 'transfer' ? -row.delta : row.delta),
      number(row.countedQuantity),
      text(row.reference),
      text(row.note),
      text(row.reason),
      text(row.createdBy),
    ],
    options,
  );
}

/** How many rows exportMovements would write now (a CLI's ETA); the export itself may differ by what is recorded meanwhile. */
export function countMovementExport(ctx: UseCaseContext, filter: MovementExportFilter): Promise<number> {
  const scoped = movementScope(ctx, filter);
  return reading(ctx, (db) => exports.countMovementLines(db, scoped));
}
