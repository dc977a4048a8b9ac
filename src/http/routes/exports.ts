import * as service from '../../services/exports.ts';
import type { CsvExport } from '../../services/exports.ts';
import { lastInstantOf } from '../../domain/dates.ts';
import { problems } from '../schemas/common.ts';
import { readDateOrTimestamp, readTimeRange } from '../schemas/dates.ts';
import { CsvFile, MovementExportQuerySchema, ProductExportQuerySchema, StockExportQuerySchema } from '../schemas/exports.ts';
import type { App } from '../types.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';

// GET /api/v1/export/*.csv (API.md, Import and export): the lists of products, stock levels and
// movement lines as CSV downloads, streamed (src/services/exports.ts). What can be refused (a bad
// filter, a location out of a clerk's scope, an unreachable database) is refused before the
// first byte, as a problem; what fails after it cuts the connection (Fastify destroys the socket
// and logs the error), since a problem document would only be read as more CSV.

/**
 * Sends an export. The request's deadline covers the time to the first page; the download then
 * lasts as long as its client reads (the stream reads its next page only when the client has taken
 * the rows before), and its reads are still cancelled if the client goes away.
 */
function sendCsv(request: FastifyRequest, reply: FastifyReply, csv: CsvExport) {
  clearTimeout(request.deadlineTimer);
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${csv.filename}"`)
    .header('cache-control', 'no-store')
    .send(csv.stream);
}

export async function exportRoutes(app: App) {
  app.get(
    '/export/products.csv',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'exportProducts',
        tags: ['catalog'],
        summary: 'Export products as CSV',
        description:
          'The columns the products import takes (sku, name, category as its path Parent/Child, unit, barcode, reorderPoint, ' +
          'description), by SKU: importing the file again changes nothing. Filters as GET /products. Text cells that a ' +
          "spreadsheet would read as a formula (starting with =, +, -, @, tab or CR) are prefixed with '.",
        querystring: ProductExportQuerySchema,
        response: { 200: CsvFile('The products, as a CSV download'), ...problems(401, 403, 422) },
      },
    },
    async (request, reply) => sendCsv(request, reply, await service.exportProducts(request.ctx, request.query)),
  );

  app.get(
    '/export/stock.csv',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'exportStock',
        tags: ['stock'],
        summary: 'Export stock levels as CSV',
        description:
          'A row per level (location, sku, name, unit, onHand, reserved, available, reorderPoint), by location code then SKU. ' +
          'With asOf, onHand is what the ledger had then and reserved is 0, as GET /stock answers. A clerk gets its locations only.',
        querystring: StockExportQuerySchema,
        response: { 200: CsvFile('The stock levels, as a CSV download'), ...problems(401, 403, 422) },
      },
    },
    async (request, reply) => {
      const { asOf, locationId } = request.query;
      // Inclusive, as GET /stock: a date is its closing stock.
      const at = asOf === undefined ? undefined : lastInstantOf(readDateOrTimestamp(asOf, '/asOf'));
      return sendCsv(request, reply, await service.exportStock(request.ctx, { locationId, asOf: at }));
    },
  );

  app.get(
    '/export/movements.csv',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'exportMovements',
        tags: ['stock'],
        summary: 'Export movement lines as CSV',
        description:
          'A row per line of a movement, oldest first (movementId, createdAt, type, location, toLocation, line, sku, name, ' +
          'quantity, countedQuantity, reference, note, reason, createdBy). from is inclusive and to exclusive; a date as to ' +
          'includes that whole UTC day; from after to is refused (422). A clerk gets the movements that touch its locations.',
        querystring: MovementExportQuerySchema,
        response: { 200: CsvFile('The movement lines, as a CSV download'), ...problems(401, 403, 422) },
      },
    },
    async (request, reply) => {
      const { from, to, ...query } = request.query;
      return sendCsv(request, reply, await service.exportMovements(request.ctx, { ...query, ...readTimeRange(from, to) }));
    },
  );
}
