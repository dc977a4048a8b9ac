// What the CSV imports and exports agree on (API.md, Import and export): the columns of each
// file, and the guard against spreadsheet formula injection that the exports put on text cells
// and the imports take off again, so that an export and its import round-trip.

/** The columns of a products file, in the order the export writes them; the import takes them in any order. */
export const PRODUCT_COLUMNS = ['sku', 'name', 'category', 'unit', 'barcode', 'reorderPoint', 'description'] as const;

/** The columns of a stock-count file. `onHand` is read as `countedQuantity` when that is absent, so an edited stock export imports as a count. */
export const STOCK_COUNT_COLUMNS = ['sku', 'countedQuantity', 'expectedOnHand'] as const;

/**
 * A cell a spreadsheet would read as a formula (OWASP's list: =, +, -, @, tab, carriage return)
 * is written with a leading apostrophe, which spreadsheets show as text and do not evaluate.
 * Only text is guarded: numbers Stockroom writes itself (a negative quantity) stay numbers.
 */
const FORMULA_START = /^'*[=+\-@\t\r]/;

/** A text that already starts with apostrophes before such a character gets one more, so that the import can tell. */
export function guardCell(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** The import's side of `guardCell`: the first apostrophe before a formula character is the guard's, and is removed. */
export function unguardCell(text: string): string {
  return text.startsWith("'") && FORMULA_START.test(text.slice(1)) ? text.slice(1) : text;
}
