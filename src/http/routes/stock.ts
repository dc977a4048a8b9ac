import { Type } from 'typebox';
import { lastInstantOf } from '../../domain/dates.ts';
import * as service from '../../services/stock.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { readDateOrTimestamp } from '../schemas/dates.ts';
import { StockQuerySchema } from '../schemas/stock.ts';
import type { App } from '../types.ts';

export async function stockRoutes(app: App) {
  app.get(
    '/stock',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listStock',
        tags: ['stock'],
        summary: 'Stock levels',
        querystring: StockQuerySchema,
        response: { 200: Page(Type.Ref('StockLevel'), 'StockLevel'), ...problems(401, 403, 422) },
      },
    },
    (request) => {
      const { asOf, ...query } = request.query;
      // Inclusive: a date is its closing stock, the ledger to the day's last millisecond (the ledger's times are whole milliseconds).
      const at = asOf === undefined ? undefined : lastInstantOf(readDateOrTimestamp(asOf, '/asOf'));
      return service.listStock(request.ctx, { ...query, asOf: at });
    },
  );

  app.get(
    '/products/:id/stock',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getProductStock',
        tags: ['stock'],
        summary: "A product's level at every location, and the total",
        params: IdParams,
        response: { 200: Type.Ref('ProductStock'), ...problems(401, 403, 404) },
      },
    },
    (request) => service.getProductStock(request.ctx, request.params.id),
  );
}
