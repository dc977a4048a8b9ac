import { Type } from 'typebox';
import { ProductQuerySchema } from './products.ts';
import { StockQuerySchema } from './stock.ts';
import { MovementQuerySchema } from './movements.ts';
import { uuid } from './common.ts';

// The filters of the CSV exports: those of the lists they mirror (GET /products, /stock,
// /movements), without paging, since an export is the whole list.

export const ProductExportQuerySchema = Type.Object({
  q: ProductQuerySchema.properties.q,
  categoryId: ProductQuerySchema.properties.categoryId,
  archived: ProductQuerySchema.properties.archived,
});

export const StockExportQuerySchema = Type.Object({
  locationId: StockQuerySchema.properties.locationId,
  asOf: StockQuerySchema.properties.asOf,
});

export const MovementExportQuerySchema = Type.Object({
  from: MovementQuerySchema.properties.from,
  to: MovementQuerySchema.properties.to,
  locationId: Type.Optional(uuid({ description: 'Movements that touch this location (either end of a transfer)' })),
  productId: MovementQuerySchema.properties.productId,
});

/** The 200 of an export: CSV text, described so that generated clients can call it and take the text. */
export const CsvFile = (description: string) => ({
  description,
  content: { 'text/csv': { schema: Type.String({ description: 'RFC 4180 CSV: UTF-8 with a BOM, CRLF line ends, a header row first' }) } },
});
