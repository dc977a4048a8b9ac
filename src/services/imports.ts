import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import type { Transaction } from '../db/database.ts';
import * as imports from '../db/imports.ts';
import * as locations from '../db/locations.ts';
import { assertLocations, holds } from '../domain/access.ts';
import { AppError, notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import {
  ErrorReport,
  isBlankRecord,
  readProductHeader,
  readProductLine,
  readStockCountHeader,
  readStockCountLine,
  SeenSkus,
  type Header,
  type LineError,
  type ProductDraft,
  type StockCountDraft,
} from '../domain/imports.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { recordMovement } from './movements.ts';

// The CSV imports (API.md, Import and export), for the HTTP routes and the CLI alike. A file is
// parsed as its bytes arrive and handled in batches: memory holds one batch of lines (and one
// entry per distinct SKU, to name a repeated one), never the file. Products are written one
// transaction per batch (partial mode) or one for the whole file (all-or-nothing); a stock count
// is always one transaction, recorded as adjustment movements through the movement use case.

/** Lines of a products file compared and written in one round trip of each statement (and, in partial mode, one transaction). */
export const PRODUCT_BATCH_LINES = 500;
/** Lines of one stocktake movement: the most a movement holds (API.md). */
export const STOCK_COUNT_MOVEMENT_LINES = 1000;
/**
 * The most bytes one record may take. Past it the file is refused at that line: nothing the
 * schemas take comes near it, and it bounds what a quote never closed makes the parser hold.
 */
export const RECORD_BYTES_MAX = 256 * 1024;

export type ImportSource = AsyncIterable<Buffer | string> | Iterable<Buffer | string> | Readable;
export interface ImportProgress {
  /** Lines read after the header. */
  lines: number;
  bytes: number;
}
export type ImportMode = 'partial' | 'all-or-nothing';

export interface ProductImportReport {
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  errors: LineError[];
  ignoredColumns: string[];
}

export interface StockCountImportReport {
  lines: number;
  adjusted: number;
  unchanged: number;
  movementIds: string[];
  failed: number;
  errors: LineError[];
  ignoredColumns: string[];
}

/** A line error as a 422's `errors` lists it: with the `path` every validation error has (`/line/column`). */
const withPath = (error: LineError) => ({ path: `/${error.line}${error.column === undefined ? '' : `/${error.column}`}`, ...error });

function failedLines<Report extends { failed: number; errors: LineError[] }>(report: Report, detail: string): AppError {
  return new AppError('validation_failed', detail, { ...report, errors: report.errors.map(withPath) });
}

/** What a file is read as: its header, then its lines, batch by batch. */
interface FileReader<Column extends string, Draft> {
  readHeader(cells: readonly string[]): Header<Column>;
  readLine(header: Header<Column>, cells: readonly string[], line: number): { draft: Draft } | { errors: LineError[] };
  batchLines: number;
  /** Handles a batch of valid lines; it may fail some of them in `errors`. */
  flush(drafts: Draft[]): Promise<void>;
}

const byLine = (a: LineError, b: LineError) => a.line - b.line;

/**
 * Reads the file record by record as it arrives, and gives its valid lines to `flush` a batch at
 * a time, waiting for each: the parser, and so the source, are not read meanwhile (backpressure
 * reaches the client). Lines are numbered as a spreadsheet shows them: the header is line 1, and
 * a quoted cell holding line breaks is one line. A blank line is skipped (but numbered). A SKU
 * repeated fails the later line. A malformed record (a quote never closed) fails its line and
 * ends the reading: nothing after it can be told apart.
 */
async function readFile<Column extends string, Draft extends { line: number; key: string; sku: string }>(
  source: ImportSource,
  reader: FileReader<Column, Draft>,
  report: ErrorReport,
  onProgress: ((progress: ImportProgress) => void) | undefined,
): Promise<{ ignoredColumns: string[]; lines: number }> {
  const progress: ImportProgress = { lines: 0, bytes: 0 };
  async function* counted(chunks: ImportSource) {
    for await (const chunk of chunks as AsyncIterable<Buffer | string>) {
      progress.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      yield chunk;
    }
  }
  const parser = parse({
    bom: true,
    info: true,
    relax_column_count: true, // a line with a cell too many or too few fails alone, with its own message
    relax_quotes: true, // a quote inside an unquoted cell (3/8" bolt) is a character, as spreadsheets read it
    skip_empty_lines: false, // a blank line keeps its number
    max_record_size: RECORD_BYTES_MAX,
  });
  const feeding = pipeline(Readable.from(counted(source), { objectMode: false }), parser);
  // The parser's own end or error is what the loop below sees; this one is only awaited at the end.
  feeding.catch(() => undefined);

  let header: Header<Column> | undefined;
  const seen = new SeenSkus();
  let batch: Draft[] = [];
  let lines = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { records: number } }>) {
      const line = info.records;
      if (header === undefined) {
        header = reader.readHeader(record);
        continue;
      }
      lines += 1;
      progress.lines = lines;
      if (isBlankRecord(record)) continue;
      const read = reader.readLine(header, record, line);
      if ('errors' in read) {
        report.fail(read.errors);
        continue;
      }
      const repeated = seen.repeated(read.draft);
      if (repeated !== undefined) {
        report.fail([{ line, column: 'sku', message: repeated }]);
        continue;
      }
      batch.push(read.draft);
      if (batch.length === reader.batchLines) {
        await reader.flush(batch);
        batch = [];
        onProgress?.({ ...progress });
      }
    }
  } catch (error) {
    if (!(error instanceof CsvError)) {
      parser.destroy();
      throw error;
    }
    // The records read before the refused one, the header included: the refused one is the next.
    const records = (error as CsvError & { records?: unknown }).records;
    const line = typeof records === 'number' ? records + 1 : lines + 2;
    if (header === undefined) {
      throw new AppError('validation_failed', `the header (line 1) is not valid CSV: ${csvProblem(error)}`, {
        errors: [{ path: '/1', line: 1, message: csvProblem(error) }],
      });
    }
    report.fail([{ line, message: `is not valid CSV (${csvProblem(error)}); the file was not read past it` }]);
  }
  if (header === undefined) {
    throw new AppError('validation_failed', 'the file is empty: it needs a header row naming its columns', {
      errors: [{ path: '/1', line: 1, message: 'is missing: the file needs a header row' }],
    });
  }
  if (batch.length > 0) await reader.flush(batch);
  onProgress?.({ ...progress });
  report.errors.sort(byLine);
  return { ignoredColumns: header.ignoredColumns, lines };
}

/** What is wrong with a record csv-parse refused, in words (its own messages quote the record). */
function csvProblem(error: CsvError): string {
  switch (error.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted cell is never closed';
    case 'CSV_MAX_RECORD_SIZE':
      return `the line is longer than ${RECORD_BYTES_MAX} bytes, perhaps a quoted cell never closed`;
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a quoted cell has text after its closing quote';
    default:
      return 'it is malformed';
  }
}

/**
 * A use case that reads its source inside its transaction can't run twice: the source is spent.
 * A deadlock or serialization failure, which `Database.transaction` would retry, is answered
 * instead: nothing was written, and the client may send the file again.
 */
function once<T>(work: (tx: Transaction) => Promise<T>): (tx: Transaction) => Promise<T> {
  let ran = false;
  return (tx) => {
    if (ran) throw new AppError('conflict', 'the import met a concurrent change and was rolled back; nothing was written: send it again');
    ran = true;
    return work(tx);
  };
}

/** The path of a category as a cache key: levels match case-insensitively, as sibling names do. */
const pathKey = (levels: readonly string[]) => levels.map((level) => level.toLowerCase()).join('/');

interface BatchOutcome {
  created: number;
  updated: number;
  unchanged: number;
  failures: LineError[][];
  /** Category paths resolved by this batch, for the cache once its transaction has committed. */
  categories: Map<string, string>;
}

/**
 * Writes one batch of product lines: the products with these SKUs are locked and compared; new
 * ones are inserted and changed ones updated, one statement each; a line that changes nothing is
 * left alone (its updatedAt too). Categories are found or created by path, level by level.
 */
async function writeProducts(tx: Transaction, drafts: ProductDraft[], knownCategories: ReadonlyMap<string, string>): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { created: 0, updated: 0, unchanged: 0, failures: [], categories: new Map() };
  const sorted = [...drafts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const existing = new Map(
    (
      await imports.lockProductsBySku(
        tx,
        sorted.map((draft) => draft.key),
      )
    ).map((row) => [row.key, row]),
  );

  const writable = sorted.filter((draft) => {
    if (existing.has(draft.key) || draft.name !== undefined) return true;
    outcome.failures.push([
      { line: draft.line, column: 'name', message: `is required to create a product (no product has the SKU ${draft.sku})` },
    ]);
    return false;
  });
  const categoryOf = await resolveCategories(tx, writable, knownCategories, outcome.categories);

  const creates: imports.ImportedProductFields[] = [];
  const updates: imports.ImportedProductFields[] = [];
  const createdLines = new Map<string, ProductDraft>();
  for (const draft of writable) {
    const categoryId = draft.category === undefined ? undefined : draft.category.length === 0 ? null : categoryOf(draft.category);
    const row = existing.get(draft.key);
    if (row === undefined) {
      const id = uuidv7();
      createdLines.set(id, draft);
      creates.push({
        id,
        sku: draft.sku,
        name: draft.name!,
        description: draft.description ?? null,
        categoryId: categoryId ?? null,
        unit: draft.unit ?? 'pcs',
        barcode: draft.barcode ?? null,
        reorderPoint: draft.reorderPoint ?? 0,
      });
      continue;
    }
    const merged: imports.ImportedProductFields = {
      id: row.id,
      sku: row.sku,
      name: draft.name ?? row.name,
      description: draft.description === undefined ? row.description : draft.description,
      categoryId: categoryId === undefined ? row.categoryId : categoryId,
      unit: draft.unit ?? row.unit,
      barcode: draft.barcode === undefined ? row.barcode : draft.barcode,
      reorderPoint: draft.reorderPoint ?? row.reorderPoint,
    };
    const same =
      merged.name === row.name &&
      merged.description === row.description &&
      merged.categoryId === row.categoryId &&
      merged.unit === row.unit &&
      merged.barcode === row.barcode &&
      merged.reorderPoint === row.reorderPoint;
    if (same) outcome.unchanged += 1;
    else updates.push(merged);
  }
  const inserted = await imports.insertProducts(tx, creates);
  for (const [id, draft] of createdLines) {
    if (inserted.has(id)) continue;
    outcome.failures.push([
      {
        line: draft.line,
        column: 'sku',
        message: `another request created a product with the SKU ${draft.sku} meanwhile; import the line again`,
      },
    ]);
  }
  await imports.updateProducts(tx, updates);
  outcome.created = inserted.size;
  outcome.updated = updates.length;
  return outcome;
}

/**
 * Finds or creates the categories of the drafts' paths, level by level (one round trip per level
 * for the whole batch), and returns a lookup from a path to its category's id.
 */
async function resolveCategories(
  tx: Transaction,
  drafts: ProductDraft[],
  known: ReadonlyMap<string, string>,
  resolved: Map<string, string>,
): Promise<(levels: string[]) => string> {
  const idOf = (key: string) => resolved.get(key) ?? known.get(key);
  const paths = drafts.flatMap((draft) => (draft.category === undefined || draft.category.length === 0 ? [] : [draft.category]));
  const depth = Math.max(0, ...paths.map((levels) => levels.length));
  for (let level = 1; level <= depth; level += 1) {
    const wanted = new Map<string, { id: string; parentId: string | null; name: string }>();
    for (const levels of paths) {
      if (levels.length < level) continue;
      const key = pathKey(levels.slice(0, level));
      if (idOf(key) !== undefined || wanted.has(key)) continue;
      const parentId = level === 1 ? null : idOf(pathKey(levels.slice(0, level - 1)))!;
      wanted.set(key, { id: uuidv7(), parentId, name: levels[level - 1]! });
    }
    // In path order, as every import asks: two imports creating the same categories wait rather than deadlock.
    const keys = [...wanted.keys()].sort();
    const ids = await imports.ensureCategories(
      tx,
      keys.map((key) => wanted.get(key)!),
    );
    keys.forEach((key, index) => resolved.set(key, ids[index]!));
  }
  return (levels) => idOf(pathKey(levels))!;
}

function assertMay(ctx: UseCaseContext, permission: 'catalog:write' | 'stock:write') {
  if (ctx.actor !== null && !holds(ctx.actor.role, permission))
    throw new AppError('forbidden', `the ${ctx.actor.role} role may not do this`);
}

/**
 * Imports a products file: upserts by SKU (case-insensitively). Partial mode (the default) writes
 * every valid line, one transaction per batch; all-or-nothing writes the file in one transaction
 * and refuses it whole (422 carrying the report) when any line fails. In partial mode a problem
 * that stops the reading (the size limit, the client leaving) leaves the batches written before
 * it: its error carries the report of what they wrote.
 */
export async function importProducts(
  ctx: UseCaseContext,
  source: ImportSource,
  options: { mode?: ImportMode | undefined; onProgress?: ((progress: ImportProgress) => void) | undefined } = {},
): Promise<ProductImportReport> {
  assertMay(ctx, 'catalog:write');
  const errors = new ErrorReport();
  const counts = { created: 0, updated: 0, unchanged: 0 };
  const categories = new Map<string, string>();
  const apply = (outcome: BatchOutcome) => {
    counts.created += outcome.created;
    counts.updated += outcome.updated;
    counts.unchanged += outcome.unchanged;
    for (const failure of outcome.failures) errors.fail(failure);
    for (const [key, id] of outcome.categories) categories.set(key, id);
  };
  const reportOf = (ignoredColumns: string[]): ProductImportReport => ({
    ...counts,
    failed: errors.failed,
    errors: errors.errors,
    ignoredColumns,
  });
  const reader = (write: (drafts: ProductDraft[]) => Promise<void>): FileReader<string, ProductDraft> => ({
    readHeader: readProductHeader,
    readLine: readProductLine as FileReader<string, ProductDraft>['readLine'],
    batchLines: PRODUCT_BATCH_LINES,
    flush: write,
  });

  if (options.mode === 'all-or-nothing') {
    return inTransaction(
      ctx,
      once(async (tx) => {
        const read = await readFile(
          source,
          reader(async (drafts) => apply(await writeProducts(tx, drafts, categories))),
          errors,
          options.onProgress,
        );
        const report = reportOf(read.ignoredColumns);
        if (report.failed > 0) throw failedLines(report, `${report.failed} line(s) of the file failed; nothing was written`);
        return report;
      }),
    );
  }

  try {
    const read = await readFile(
      source,
      // A batch is applied once its transaction has committed (one retried runs again from the start).
      reader(async (drafts) => apply(await inTransaction(ctx, (tx) => writeProducts(tx, drafts, categories)))),
      errors,
      options.onProgress,
    );
    return reportOf(read.ignoredColumns);
  } catch (error) {
    const written = counts.created + counts.updated + counts.unchanged + errors.failed;
    if (!(error instanceof AppError) || written === 0 || error.extras.errors !== undefined) throw error;
    const report = reportOf([]);
    // The cause's own words end at its first clause: "nothing of it was written" is not true of the batches before it.
    throw new AppError(
      error.code,
      `${error.detail.split(';')[0]}; the ${written} line(s) read before it were imported and stay (created, updated, unchanged and failed count them)`,
      { ...error.extras, ...report, errors: report.errors.map(withPath) },
      error.retryAfterS,
    );
  }
}

/**
 * Imports a stock count at one location: one stocktake, all or nothing, in one transaction. Each
 * thousand lines are one adjustment movement with reason `stocktake`, recorded by the movement
 * use case (its checks, its events). Any failed line refuses the file (422 carrying the report);
 * a stale expectedOnHand refuses it with 409 stale_quantity. Nothing is written then.
 */
export async function importStockCounts(
  ctx: UseCaseContext,
  source: ImportSource,
  options: { locationId: string; onProgress?: ((progress: ImportProgress) => void) | undefined },
): Promise<StockCountImportReport> {
  assertMay(ctx, 'stock:write');
  const { locationId } = options;
  assertLocations(ctx.actor, [locationId]);
  const location = await reading(ctx, (db) => locations.findLocation(db, locationId));
  if (location === undefined) throw notFound('location', locationId);
  if (location.archived) throw new AppError('conflict', `location ${locationId} is archived`);

  return inTransaction(
    ctx,
    once(async (tx) => {
      const errors = new ErrorReport();
      const report = { lines: 0, adjusted: 0, unchanged: 0, movementIds: [] as string[] };
      const flush = async (drafts: StockCountDraft[]) => {
        const products = new Map(
          (
            await imports.findProductsBySku(
              tx,
              drafts.map((draft) => draft.key),
            )
          ).map((row) => [row.key, row]),
        );
        const lines = [];
        for (const draft of drafts) {
          const product = products.get(draft.key);
          if (product === undefined) errors.fail([{ line: draft.line, column: 'sku', message: `no product has the SKU ${draft.sku}` }]);
          else if (product.archived) {
            errors.fail([
              { line: draft.line, column: 'sku', message: `the product ${draft.sku} is archived: it can't be counted into stock` },
            ]);
          } else lines.push({ productId: product.id, countedQuantity: draft.countedQuantity, expectedOnHand: draft.expectedOnHand });
        }
        // Once a line has failed nothing will be written: the rest is only checked.
        if (errors.failed > 0 || lines.length === 0) return;
        const movement = await recordMovement(
          { ...ctx, tx },
          { type: 'adjustment', locationId, reason: 'stocktake', note: 'stock-count import', lines },
        );
        report.movementIds.push(movement.value.id);
        for (const line of movement.value.lines) {
          if (line.quantity === 0) report.unchanged += 1;
          else report.adjusted += 1;
        }
      };
      const read = await readFile(
        source,
        {
          readHeader: readStockCountHeader,
          readLine: readStockCountLine as FileReader<string, StockCountDraft>['readLine'],
          batchLines: STOCK_COUNT_MOVEMENT_LINES,
          flush,
        },
        errors,
        options.onProgress,
      );
      const result: StockCountImportReport = {
        ...report,
        lines: read.lines,
        failed: errors.failed,
        errors: errors.errors,
        ignoredColumns: read.ignoredColumns,
      };
      if (errors.failed > 0)
        throw failedLines({ ...result, movementIds: [] }, `${errors.failed} line(s) of the count failed; nothing was written`);
      if (result.movementIds.length === 0) {
        throw new AppError('validation_failed', 'the file holds no counts: it needs at least one line after the header', {
          errors: [{ path: '/2', line: 2, message: 'is missing: the file holds no counts' }],
        });
      }
      return result;
    }),
  );
}
