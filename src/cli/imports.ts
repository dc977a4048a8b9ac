import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Database } from '../db/database.ts';
import { findLocationsByCodeOrId } from '../db/locations.ts';
import { AppError } from '../domain/errors.ts';
import type { LineError } from '../domain/imports.ts';
import { importProducts, importStockCounts, type ImportProgress } from '../services/imports.ts';
import { EXIT_OK, EXIT_SOME_LINES_FAILED, UsageError, onDatabase, type Command } from './command.ts';
import { createProgress } from './progress.ts';

// `stockroom import products|counts FILE`: the same use cases as POST /api/v1/import/…, run
// straight on the database as the system (movements it records are by no user). The progress
// goes to stderr, the report to stdout; the exit code says whether every line was taken.

const FILE_OPERAND = { min: 1, max: 1, names: 'a FILE (- for standard input)' };

/** The file to read, opened before the database is, so that a wrong name costs nothing. */
async function openSource(file: string): Promise<{ stream: Readable; size: number | undefined }> {
  if (file === '-') return { stream: process.stdin, size: undefined };
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new UsageError(`${file} is not a file`);
    size = info.size;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `can't read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  return { stream: createReadStream(file), size };
}

function progressOf(size: number | undefined) {
  const progress = createProgress(process.stderr, { doing: 'importing', done: 'read', unit: 'lines' });
  return {
    onProgress: ({ lines, bytes }: ImportProgress) => progress.update(lines, size === undefined || size === 0 ? undefined : bytes / size),
    finish: () => progress.finish(),
  };
}

const describeError = (error: LineError) =>
  `  line ${error.line}${error.column === undefined ? '' : ` (${error.column})`}: ${error.message}`;

/** The report's lines: the counts, the columns ignored, then each failed line. */
function printReport(counts: string, report: { errors: LineError[]; failed: number; ignoredColumns?: string[] }) {
  console.log(counts);
  if (report.ignoredColumns !== undefined && report.ignoredColumns.length > 0) {
    console.log(`ignored columns: ${report.ignoredColumns.join(', ')}`);
  }
  for (const error of report.errors) console.log(describeError(error));
  if (report.failed > report.errors.length) console.log(`  … and ${report.failed - report.errors.length} more failed lines`);
}

/** A refusal that carries a report (422 with failed lines, 409 stale_quantity): printed, exit 1; anything else goes up. */
function refusedWithReport(error: unknown, finishProgress: () => void): number {
  if (!(error instanceof AppError)) throw error;
  if (error.code === 'validation_failed' || error.code === 'stale_quantity') finishProgress();
  const extra = error.extras as
    { failed?: number; errors?: LineError[]; lines?: { productId: string; expected: number; actual: number }[] } | undefined;
  if (error.code === 'validation_failed' && extra?.errors !== undefined) {
    console.log(error.detail);
    for (const line of extra.errors) console.log(describeError(line));
    const failed = extra.failed ?? extra.errors.length;
    if (failed > extra.errors.length) console.log(`  … and ${failed - extra.errors.length} more failed lines`);
    return EXIT_SOME_LINES_FAILED;
  }
  if (error.code === 'stale_quantity' && extra?.lines !== undefined) {
    console.log(error.detail);
    for (const line of extra.lines) console.log(`  product ${line.productId}: expected on hand ${line.expected}, now ${line.actual}`);
    return EXIT_SOME_LINES_FAILED;
  }
  throw error;
}

async function locationId(db: Database, reference: string): Promise<string> {
  const [found] = await db.connection((conn) => findLocationsByCodeOrId(conn, [reference]));
  if (found?.id === undefined) throw new UsageError(`no location has the code or id ${JSON.stringify(reference)}`);
  return found.id;
}

export const importCommands: Command[] = [
  {
    name: 'import products',
    usage: `import products FILE [--all-or-nothing]
                   create or update products by SKU from a CSV file (columns: sku, name,
                   category, unit, barcode, reorderPoint, description); every valid line is
                   written, or with --all-or-nothing none if any line fails`,
    options: { 'all-or-nothing': { type: 'boolean' } },
    operands: FILE_OPERAND,
    async run({ values, operands, config }) {
      const { stream, size } = await openSource(operands[0]!);
      const progress = progressOf(size);
      const mode = values['all-or-nothing'] === true ? 'all-or-nothing' : 'partial';
      try {
        const report = await onDatabase(config(), (db) =>
          importProducts({ db, actor: null }, stream, { mode, onProgress: progress.onProgress }),
        );
        progress.finish();
        printReport(`created ${report.created}, updated ${report.updated}, unchanged ${report.unchanged}, failed ${report.failed}`, report);
        return report.failed > 0 ? EXIT_SOME_LINES_FAILED : EXIT_OK;
      } catch (error) {
        return refusedWithReport(error, progress.finish);
      } finally {
        stream.destroy();
      }
    },
  },
  {
    name: 'import counts',
    usage: `import counts FILE --location <code or id>
                   record a stocktake at a location from a CSV file (columns: sku,
                   countedQuantity, optionally expectedOnHand), all or nothing, as adjustment
                   movements with reason stocktake`,
    options: { location: { type: 'string' } },
    operands: FILE_OPERAND,
    async run({ values, operands, config }) {
      if (typeof values.location !== 'string') throw new UsageError('import counts needs --location <code or id>');
      const reference = values.location;
      const { stream, size } = await openSource(operands[0]!);
      const progress = progressOf(size);
      try {
        const report = await onDatabase(config(), async (db) =>
          importStockCounts({ db, actor: null }, stream, { locationId: await locationId(db, reference), onProgress: progress.onProgress }),
        );
        progress.finish();
        printReport(
          `counted ${report.lines} products: ${report.adjusted} adjusted, ${report.unchanged} as expected, in ${report.movementIds.length} movements (${report.movementIds.join(', ')})`,
          report,
        );
        return report.failed > 0 ? EXIT_SOME_LINES_FAILED : EXIT_OK;
      } catch (error) {
        return refusedWithReport(error, progress.finish);
      } finally {
        stream.destroy();
      }
    },
  },
];
