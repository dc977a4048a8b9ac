import { Type } from 'typebox';
import { Uuid } from './common.ts';

// The CSV imports (API.md, Import and export). The request body is the file itself (text/csv),
// which the route streams: the body schema documents it and validates nothing (src/http/routes/imports.ts).

export const CsvBody = Type.String({
  description:
    'The CSV file: RFC 4180, UTF-8 (a leading BOM is accepted), header row first, columns in any order, names case-insensitive. ' +
    'Sent as Content-Type text/csv; streamed, up to IMPORT_MAX_BYTES.',
});

const LineErrorSchema = Type.Object({
  line: Type.Integer({ description: 'As a spreadsheet numbers it: the header is line 1' }),
  column: Type.Optional(Type.String()),
  message: Type.String(),
});

const ErrorsSchema = Type.Array(LineErrorSchema, { description: 'The first 1000 errors, by line' });
const IgnoredColumnsSchema = Type.Array(Type.String(), { description: 'Columns of the header that are not read' });

export const ProductImportReportSchema = Type.Object(
  {
    created: Type.Integer(),
    updated: Type.Integer(),
    unchanged: Type.Integer({ description: 'Lines that changed nothing (their product keeps its updatedAt)' }),
    failed: Type.Integer({ description: 'Lines not written' }),
    errors: ErrorsSchema,
    ignoredColumns: IgnoredColumnsSchema,
  },
  { $id: 'ProductImportReport' },
);

export const StockCountImportReportSchema = Type.Object(
  {
    lines: Type.Integer({ description: 'Lines read after the header' }),
    adjusted: Type.Integer({ description: 'Lines whose count changed the on-hand' }),
    unchanged: Type.Integer({ description: 'Lines whose count matched (recorded as zero adjustments)' }),
    movementIds: Type.Array(Uuid, { description: 'The stocktake adjustments, one per 1000 lines' }),
    failed: Type.Integer(),
    errors: ErrorsSchema,
    ignoredColumns: IgnoredColumnsSchema,
  },
  { $id: 'StockCountImportReport' },
);

export const ProductImportQuerySchema = Type.Object({
  mode: Type.Optional(
    Type.Union([Type.Literal('partial'), Type.Literal('all-or-nothing')], {
      default: 'partial',
      description: 'partial: every valid line is written; all-or-nothing: any failed line refuses the file (422) and nothing is written',
    }),
  ),
});

export const StockCountImportQuerySchema = Type.Object({
  locationId: Uuid,
});

/** The schemas routes refer to by $id, added where they can see them (src/http/routes/index.ts). */
export const importSchemas = [ProductImportReportSchema, StockCountImportReportSchema];
