import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Database } from '../db/database.ts';
import { findLocationsByCodeOrId } from '../db/locations.ts';
import {
  beginsAfter,
  DATE_OR_TIMESTAMP_WORDS,
  halfOpenRange,
  lastInstantOf,
  parseDateOrTimestamp,
  type DateOrTimestamp,
} from '../domain/dates.ts';
import type { UseCaseContext } from '../services/context.ts';
import {
  countMovementExport,
  exportMovements,
  exportProducts,
  exportStock,
  type CsvExport,
  type ExportOptions,
} from '../services/exports.ts';
import { lookupProduct } from '../services/products.ts';
import { EXIT_OK, UsageError, onDatabase, type Command, type Values } from './command.ts';
import { createProgress } from './progress.ts';

// `stockroom export products|stock|movements`: the same use cases as GET /api/v1/export/….csv,
// run straight on the database as the system, to a file (--out) or to standard output. A file
// is written beside its final name and renamed when complete, so that a failed export never
// leaves a file that looks whole.

const OUT = { out: { type: 'string' } } as const;

function date(values: Values, option: string): DateOrTimestamp | undefined {
  const given = values[option];
  if (typeof given !== 'string') return undefined;
  const parsed = parseDateOrTimestamp(given);
  if (parsed === undefined) throw new UsageError(`--${option} ${DATE_OR_TIMESTAMP_WORDS}, not ${JSON.stringify(given)}`);
  return parsed;
}

async function locationId(db: Database, values: Values): Promise<string | undefined> {
  const reference = values.location;
  if (typeof reference !== 'string') return undefined;
  const [found] = await db.connection((conn) => findLocationsByCodeOrId(conn, [reference]));
  if (found?.id === undefined) throw new UsageError(`no location has the code or id ${JSON.stringify(reference)}`);
  return found.id;
}

/** Writes the export to --out (complete, or not at all) or to standard output, counting rows for the progress line. */
async function write(csv: CsvExport, out: string | undefined): Promise<number> {
  // The rows are counted as the use case reads them; the bytes as they leave, for the summary.
  let bytes = 0;
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  if (out === undefined) {
    await pipeline(csv.stream, counting, process.stdout as Writable, { end: false });
    return bytes;
  }
  const partial = join(dirname(out), `.${basename(out)}.partial-${process.pid}`);
  try {
    await pipeline(csv.stream, counting, createWriteStream(partial));
    await rename(partial, out);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return bytes;
}

type Exporter = (ctx: UseCaseContext, db: Database, values: Values, options: ExportOptions) => Promise<{ csv: CsvExport; total?: number }>;

function exportCommand(what: string, usage: string, options: Command['options'], exporter: Exporter): Command {
  return {
    name: `export ${what}`,
    usage,
    options: { ...OUT, ...options },
    async run({ values, config }) {
      const out = typeof values.out === 'string' ? values.out : undefined;
      const progress = createProgress(process.stderr, { doing: 'exporting', done: 'exported', unit: 'rows' });
      let total: number | undefined;
      const onRows = (rows: number) => progress.update(rows, total === undefined || total === 0 ? undefined : rows / total);
      const bytes = await onDatabase(config(), async (db) => {
        const ctx: UseCaseContext = { db, actor: null };
        const made = await exporter(ctx, db, values, { onRows });
        total = made.total;
        return write(made.csv, out);
      });
      progress.finish();
      console.error(`wrote ${(bytes / 1e6).toFixed(1)} MB to ${out ?? 'standard output'}`);
      return EXIT_OK;
    },
  };
}

export const exportCommands: Command[] = [
  exportCommand(
    'products',
    `export products [--out FILE] [--q TEXT] [--category ID] [--archived]
                   the products as CSV, in the columns import products takes (to standard
                   output unless --out); --archived exports the archived ones instead`,
    { q: { type: 'string' }, category: { type: 'string' }, archived: { type: 'boolean' } },
    async (ctx, _db, values, options) => ({
      csv: await exportProducts(
        ctx,
        {
          q: values.q as string | undefined,
          categoryId: values.category as string | undefined,
          archived: values.archived === true ? true : undefined,
        },
        options,
      ),
    }),
  ),
  exportCommand(
    'stock',
    `export stock [--out FILE] [--location <code or id>] [--as-of DATE]
                   the stock levels as CSV, by location and SKU; --as-of gives on-hand as the
                   ledger had it at the end of that day (or at that instant)`,
    { location: { type: 'string' }, 'as-of': { type: 'string' } },
    async (ctx, db, values, options) => {
      const asOf = date(values, 'as-of');
      return { csv: await exportStock(ctx, { locationId: await locationId(db, values), asOf: asOf && lastInstantOf(asOf) }, options) };
    },
  ),
  exportCommand(
    'movements',
    `export movements [--out FILE] [--from DATE] [--to DATE] [--location <code or id>] [--product <SKU or barcode>]
                   the ledger as CSV, a row per movement line, oldest first`,
    { from: { type: 'string' }, to: { type: 'string' }, location: { type: 'string' }, product: { type: 'string' } },
    async (ctx, db, values, options) => {
      const [from, to] = [date(values, 'from'), date(values, 'to')];
      if (from !== undefined && to !== undefined && beginsAfter(from, to)) throw new UsageError('--from must not be after --to');
      const filter = {
        ...halfOpenRange(from, to),
        locationId: await locationId(db, values),
        productId: typeof values.product === 'string' ? (await lookupProduct(ctx, values.product)).id : undefined,
      };
      return { csv: await exportMovements(ctx, filter, options), total: await countMovementExport(ctx, filter) };
    },
  ),
];
