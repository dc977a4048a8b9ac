import { PRODUCT_COLUMNS, STOCK_COUNT_COLUMNS, unguardCell } from './csv.ts';
import { AppError } from './errors.ts';

// The rules of a CSV import that need no database (API.md, Import and export): reading the
// header, and turning one record into a product draft or a stock count, or into the line's
// errors. The bounds are those of POST /products and POST /movements (src/http/schemas); a test
// holds them equal (test/domain/imports.test.ts).

export const SKU_LENGTH_MAX = 64;
export const NAME_LENGTH_MAX = 200;
export const UNIT_LENGTH_MAX = 16;
export const BARCODE_LENGTH_MAX = 64;
export const DESCRIPTION_LENGTH_MAX = 4000;
export const REORDER_POINT_MAX = 1_000_000_000;
export const QUANTITY_MAX = 1_000_000_000;
/** Levels a category path may have (`Drinks/Soda/Diet` has three). */
export const CATEGORY_DEPTH_MAX = 10;
/** The errors a report lists; the rest are counted in `failed` only. */
export const REPORT_ERRORS_MAX = 1000;

/** One problem of one line, as a spreadsheet numbers it: the header is line 1. */
export interface LineError {
  line: number;
  column?: string;
  message: string;
}

/** The file's columns: where each known one is, and the names of those ignored. */
export interface Header<Column extends string> {
  index: Map<Column, number>;
  ignoredColumns: string[];
  width: number;
}

/**
 * Reads the header row: names are matched case-insensitively and without surrounding white
 * space, in any order; unknown ones are ignored (and listed). A required column missing, or a
 * column given twice, refuses the whole file (422) before anything is written.
 */
export function readHeader<Column extends string>(
  cells: readonly string[],
  known: readonly Column[],
  required: readonly Column[],
  aliases: Readonly<Record<string, Column>> = {},
): Header<Column> {
  const byName = new Map(known.map((column) => [column.toLowerCase(), column]));
  const aliasOf = new Map(Object.entries(aliases).map(([name, column]) => [name.toLowerCase(), column]));
  const index = new Map<Column, number>();
  const ignoredColumns: string[] = [];
  const aliased = new Map<Column, number>();
  cells.forEach((raw, position) => {
    const name = unguardCell(raw).trim();
    const column = byName.get(name.toLowerCase());
    if (column !== undefined) {
      if (index.has(column)) throw headerProblem(`the column ${column} appears twice in the header (line 1)`, column);
      index.set(column, position);
      return;
    }
    const alias = aliasOf.get(name.toLowerCase());
    if (alias !== undefined && !aliased.has(alias)) aliased.set(alias, position);
    else ignoredColumns.push(name);
  });
  // An alias stands in only when its column is absent (an edited stock export's onHand as the count).
  for (const [column, position] of aliased) {
    if (!index.has(column)) index.set(column, position);
    else ignoredColumns.push(cells[position]!.trim());
  }
  for (const column of required) {
    if (!index.has(column)) {
      const aliasNames = Object.keys(aliases).filter((name) => aliases[name] === column);
      const or = aliasNames.length === 0 ? '' : ` (or ${aliasNames.join(', ')})`;
      throw headerProblem(`the header (line 1) has no ${column} column${or}; it needs one`, column);
    }
  }
  return { index, ignoredColumns, width: cells.length };
}

function headerProblem(message: string, column: string): AppError {
  return new AppError('validation_failed', message, { errors: [{ path: `/1/${column}`, line: 1, column, message }] });
}

/** A record with nothing in it: a blank line, which a spreadsheet shows as an empty row and the import skips. */
export function isBlankRecord(cells: readonly string[]): boolean {
  return cells.every((cell) => cell.trim() === '');
}

/**
 * The cell of `column` with the export's formula guard taken off, or undefined when the file has
 * no such column (so that an update leaves the field untouched).
 */
function cellOf<Column extends string>(header: Header<Column>, cells: readonly string[], column: Column): string | undefined {
  const position = header.index.get(column);
  return position === undefined ? undefined : unguardCell(cells[position] ?? '');
}

// PostgreSQL text can't hold U+0000 (src/http/plugins/text-guard.ts); CSV decoding never makes a lone surrogate.
const NUL = /\u0000/;

class LineErrors {
  readonly errors: LineError[] = [];
  constructor(readonly line: number) {}
  add(column: string | undefined, message: string) {
    this.errors.push(column === undefined ? { line: this.line, message } : { line: this.line, column, message });
  }
}

function text(
  errors: LineErrors,
  column: string,
  value: string,
  { max, trim = true, empty }: { max: number; trim?: boolean; empty: 'null' | 'absent' },
): string | null | undefined {
  const cell = trim ? value.trim() : value;
  if (cell === '') return empty === 'null' ? null : undefined;
  if (NUL.test(cell)) errors.add(column, 'must be text PostgreSQL can store: no NUL character (U+0000)');
  else if (cell.length > max) errors.add(column, `must be at most ${max} characters long`);
  return cell;
}

function integer(errors: LineErrors, column: string, value: string, { min, max }: { min: number; max: number }): number | undefined {
  const cell = value.trim();
  if (!/^-?\d+$/.test(cell)) {
    errors.add(column, `must be a whole number between ${min} and ${max}, got ${JSON.stringify(cell.slice(0, 40))}`);
    return undefined;
  }
  const number = Number(cell);
  if (number < min || number > max) errors.add(column, `must be between ${min} and ${max}, got ${cell}`);
  return number;
}

/**
 * What one line of a products file sets. A field is undefined when the file has no such column or
 * (for a field that can't be empty: name, unit, reorderPoint) when its cell is empty: an update
 * leaves it as it is, a creation takes its default. An empty cell of a nullable field (category,
 * barcode, description) is null, which clears it.
 */
export interface ProductDraft {
  line: number;
  sku: string;
  /** The SKU lower-cased: products are matched by it, as the unique index does. */
  key: string;
  name?: string | undefined;
  /** The category's path, level by level; [] for no category. */
  category?: string[] | undefined;
  unit?: string | undefined;
  barcode?: string | null | undefined;
  reorderPoint?: number | undefined;
  description?: string | null | undefined;
}

export type ProductColumn = (typeof PRODUCT_COLUMNS)[number];

export function readProductHeader(cells: readonly string[]): Header<ProductColumn> {
  return readHeader(cells, PRODUCT_COLUMNS, ['sku']);
}

/** A category path such as `Drinks/Soda`: its levels, without the white space around each. */
export function categoryPath(path: string): { levels: string[] } | { message: string } {
  const levels = path.split('/').map((level) => level.trim());
  if (levels.some((level) => level === '')) return { message: `has an empty level in ${JSON.stringify(path.slice(0, 100))}` };
  if (levels.length > CATEGORY_DEPTH_MAX) return { message: `has more than ${CATEGORY_DEPTH_MAX} levels` };
  const long = levels.find((level) => level.length > NAME_LENGTH_MAX);
  if (long !== undefined) return { message: `has a level longer than ${NAME_LENGTH_MAX} characters` };
  return { levels };
}

/** One record of a products file as a draft, or its errors. A blank record is not given here. */
export function readProductLine(
  header: Header<ProductColumn>,
  cells: readonly string[],
  line: number,
): { draft: ProductDraft } | { errors: LineError[] } {
  const errors = new LineErrors(line);
  if (cells.length !== header.width) {
    errors.add(undefined, `has ${cells.length} cells where the header has ${header.width}`);
    return { errors: errors.errors };
  }
  const sku = text(errors, 'sku', cellOf(header, cells, 'sku') ?? '', { max: SKU_LENGTH_MAX, empty: 'absent' });
  if (sku === undefined || sku === null) errors.add('sku', 'is required');
  const draft: ProductDraft = { line, sku: sku ?? '', key: (sku ?? '').toLowerCase() };

  const name = cellOf(header, cells, 'name');
  if (name !== undefined) draft.name = text(errors, 'name', name, { max: NAME_LENGTH_MAX, empty: 'absent' }) ?? undefined;
  const unit = cellOf(header, cells, 'unit');
  if (unit !== undefined) draft.unit = text(errors, 'unit', unit, { max: UNIT_LENGTH_MAX, empty: 'absent' }) ?? undefined;
  const barcode = cellOf(header, cells, 'barcode');
  if (barcode !== undefined) draft.barcode = text(errors, 'barcode', barcode, { max: BARCODE_LENGTH_MAX, empty: 'null' });
  // A description keeps its white space: it is shown as written.
  const description = cellOf(header, cells, 'description');
  if (description !== undefined) {
    draft.description = text(errors, 'description', description, { max: DESCRIPTION_LENGTH_MAX, trim: false, empty: 'null' });
    if (draft.description !== null && draft.description?.trim() === '') draft.description = null;
  }
  const reorderPoint = cellOf(header, cells, 'reorderPoint');
  if (reorderPoint !== undefined && reorderPoint.trim() !== '') {
    draft.reorderPoint = integer(errors, 'reorderPoint', reorderPoint, { min: 0, max: REORDER_POINT_MAX });
  }
  const category = cellOf(header, cells, 'category');
  if (category !== undefined) {
    const path = category.trim();
    if (path === '') draft.category = [];
    else if (NUL.test(path)) errors.add('category', 'must be text PostgreSQL can store: no NUL character (U+0000)');
    else {
      const read = categoryPath(path);
      if ('message' in read) errors.add('category', read.message);
      else draft.category = read.levels;
    }
  }
  return errors.errors.length > 0 ? { errors: errors.errors } : { draft };
}

export type StockCountColumn = (typeof STOCK_COUNT_COLUMNS)[number];

/** A stock export's `onHand`, read as the count when the file has no countedQuantity. */
const STOCK_COUNT_ALIASES: Record<string, StockCountColumn> = { onHand: 'countedQuantity' };

export function readStockCountHeader(cells: readonly string[]): Header<StockCountColumn> {
  return readHeader(cells, STOCK_COUNT_COLUMNS, ['sku', 'countedQuantity'], STOCK_COUNT_ALIASES);
}

export interface StockCountDraft {
  line: number;
  sku: string;
  key: string;
  countedQuantity: number;
  expectedOnHand?: number | undefined;
}

/** One record of a stock-count file as a count, or its errors. A blank record is not given here. */
export function readStockCountLine(
  header: Header<StockCountColumn>,
  cells: readonly string[],
  line: number,
): { draft: StockCountDraft } | { errors: LineError[] } {
  const errors = new LineErrors(line);
  if (cells.length !== header.width) {
    errors.add(undefined, `has ${cells.length} cells where the header has ${header.width}`);
    return { errors: errors.errors };
  }
  const sku = text(errors, 'sku', cellOf(header, cells, 'sku') ?? '', { max: SKU_LENGTH_MAX, empty: 'absent' });
  if (sku === undefined || sku === null) errors.add('sku', 'is required');
  const counted = cellOf(header, cells, 'countedQuantity') ?? '';
  const countedQuantity =
    counted.trim() === ''
      ? (errors.add('countedQuantity', 'is required'), undefined)
      : integer(errors, 'countedQuantity', counted, { min: 0, max: QUANTITY_MAX });
  const expected = cellOf(header, cells, 'expectedOnHand');
  const expectedOnHand =
    expected === undefined || expected.trim() === ''
      ? undefined
      : integer(errors, 'expectedOnHand', expected, { min: -QUANTITY_MAX, max: QUANTITY_MAX });
  if (errors.errors.length > 0 || sku == null || countedQuantity === undefined) return { errors: errors.errors };
  return { draft: { line, sku, key: sku.toLowerCase(), countedQuantity, expectedOnHand } };
}

/**
 * A report's errors: every failed line counted, the first REPORT_ERRORS_MAX listed. A line may
 * have several errors; the list stops at the bound whatever line it is in.
 */
export class ErrorReport {
  readonly errors: LineError[] = [];
  failed = 0;

  /** Counts one failed line and lists its errors. */
  fail(lineErrors: readonly LineError[]) {
    this.failed += 1;
    for (const error of lineErrors) if (this.errors.length < REPORT_ERRORS_MAX) this.errors.push(error);
  }
}

/**
 * Remembers the first line of each SKU (lower-cased) the file has given, so that a later line with
 * the same SKU is refused by name. It holds one entry per distinct SKU, a few dozen bytes each.
 */
export class SeenSkus {
  readonly #first = new Map<string, number>();

  /** The message for a SKU seen before on another line, or undefined (and the SKU is remembered). */
  repeated(draft: { key: string; sku: string; line: number }): string | undefined {
    const first = this.#first.get(draft.key);
    if (first !== undefined) return `the SKU ${draft.sku} is already on line ${first}; a SKU may appear once per file`;
    this.#first.set(draft.key, draft.line);
    return undefined;
  }
}
