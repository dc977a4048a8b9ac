import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../domain/errors.ts';
import * as service from '../../services/imports.ts';
import { ClientGoneError } from '../plugins/request-scope.ts';
import { problems } from '../schemas/common.ts';
import { CsvBody, ProductImportQuerySchema, StockCountImportQuerySchema } from '../schemas/imports.ts';
import type { App, RouteOptions } from '../types.ts';

// The CSV imports take the file as the request body (text/csv) and hand its bytes to the use
// case as they arrive: Fastify's parser only lets the body through, unread, so neither its
// bodyLimit nor anything else buffers it. The size limit is counted here instead, and an answer
// given before the body has all arrived (413, 415, a refused file) still reaches the client,
// through the edge's bounded drain (src/http/plugins/early-answers.ts).

const CSV_MEDIA_TYPE = 'text/csv';

function tooLarge(maxBytes: number): AppError {
  return new AppError('payload_too_large', `the file is larger than this server imports (IMPORT_MAX_BYTES, ${maxBytes} bytes)`);
}

/**
 * The request body's bytes, counted: past `maxBytes` the reading stops with 413. The body is not
 * destroyed when the reading stops early, so that the edge can drain it behind the answer. A body
 * that breaks off (the client went away) ends the import as the client's leaving does.
 */
async function* bodyOf(request: FastifyRequest, maxBytes: number): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of request.raw.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw tooLarge(maxBytes);
      yield chunk;
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new ClientGoneError();
  }
}

export async function importRoutes(app: App, { importMaxBytes }: Pick<RouteOptions, 'importMaxBytes'>) {
  // In this scope only: a CSV body is passed through unread (the route streams it); any other
  // type is refused with 415 before anything is read. A declared length past the limit is
  // refused at once, before a byte of the file is imported, whatever the mode.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(CSV_MEDIA_TYPE, (request, _payload, done) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > importMaxBytes) done(tooLarge(importMaxBytes), undefined);
    else done(null, '');
  });
  app.addContentTypeParser('*', (request, _payload, done) => {
    const type = request.headers['content-type'] ?? '(none)';
    done(
      new AppError('unsupported_media_type', `Content-Type ${type} is not accepted here; send the file as ${CSV_MEDIA_TYPE}`),
      undefined,
    );
  });

  app.post(
    '/import/products',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'importProducts',
        tags: ['catalog'],
        summary: 'Import products from a CSV file',
        description:
          'Upserts by SKU (case-insensitively). Columns: sku (required), name (required to create), category (a path such as ' +
          'Drinks/Soda, each level created when missing), unit, barcode, reorderPoint, description. A column absent from the ' +
          'file leaves that field as it is; an empty cell clears category, barcode and description. A line that changes ' +
          'nothing is counted unchanged. mode=partial (the default) writes every valid line, a batch at a time; ' +
          'mode=all-or-nothing refuses the whole file with 422 (carrying the same report) when any line fails. ' +
          'Past IMPORT_MAX_BYTES 413: with a Content-Length, before anything is written; when the body is chunked, in partial ' +
          'mode the batches already written stay and the 413 carries their report.',
        consumes: [CSV_MEDIA_TYPE],
        querystring: ProductImportQuerySchema,
        body: CsvBody,
        response: { 200: Type.Ref('ProductImportReport'), ...problems(401, 403, 409, 413, 415, 422, 503, 504) },
      },
    },
    (request) => service.importProducts(request.ctx, bodyOf(request, importMaxBytes), { mode: request.query.mode }),
  );

  app.post(
    '/import/stock-counts',
    {
      config: { access: 'stock:write' },
      schema: {
        operationId: 'importStockCounts',
        tags: ['stock'],
        summary: 'Import a stocktake from a CSV file',
        description:
          'Columns sku, countedQuantity (or onHand, so that an edited stock export imports as a count) and optionally ' +
          'expectedOnHand. One stocktake, all or nothing: adjustment movements with reason stocktake, 1000 lines each. ' +
          'A failed line → 422 carrying the report; a stale expectedOnHand → 409 stale_quantity. A clerk counts only at ' +
          'its own locations.',
        consumes: [CSV_MEDIA_TYPE],
        querystring: StockCountImportQuerySchema,
        body: CsvBody,
        response: { 200: Type.Ref('StockCountImportReport'), ...problems(401, 403, 404, 409, 413, 415, 422, 503, 504) },
      },
    },
    (request) => service.importStockCounts(request.ctx, bodyOf(request, importMaxBytes), { locationId: request.query.locationId }),
  );
}
