import { Type } from 'typebox';
import * as service from '../../services/movements.ts';
import { idempotencyRequestOf, sendIdempotent } from '../idempotent.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { readTimeRange } from '../schemas/dates.ts';
import { CreateMovementSchema, IdempotencyHeaders, MovementQuerySchema } from '../schemas/movements.ts';
import type { App, RouteOptions } from '../types.ts';

export async function movementRoutes(app: App, { idempotencyKeyTtlHours }: Pick<RouteOptions, 'idempotencyKeyTtlHours'>) {
  app.post(
    '/movements',
    {
      config: { access: 'stock:write' },
      schema: {
        operationId: 'recordMovement',
        tags: ['stock'],
        summary: 'Record a movement',
        description:
          'All lines apply or none. With an Idempotency-Key, a repeat of the same request answers the first answer again ' +
          '(header Idempotent-Replayed: true) and writes nothing.',
        headers: IdempotencyHeaders,
        body: CreateMovementSchema,
        response: { 201: Type.Ref('RecordedMovement'), ...problems(401, 403, 400, 404, 409, 413, 422, 503, 504) },
      },
    },
    async (request, reply) => {
      const result = await service.recordMovement(
        request.ctx,
        request.body,
        idempotencyRequestOf(request, 'POST /api/v1/movements', request.body, idempotencyKeyTtlHours),
      );
      if (!result.replayed) app.metrics.movementsWritten.inc({ type: request.body.type });
      return sendIdempotent(reply, 201, result);
    },
  );

  app.get(
    '/movements',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listMovements',
        tags: ['stock'],
        summary: 'The movement history, newest first',
        description: 'from is inclusive and to exclusive; a date as to includes that whole UTC day. from after to is refused (422).',
        querystring: MovementQuerySchema,
        response: { 200: Page(Type.Ref('Movement'), 'Movement'), ...problems(401, 403, 422) },
      },
    },
    (request) => {
      const { from, to, ...query } = request.query;
      return service.listMovements(request.ctx, { ...query, ...readTimeRange(from, to) });
    },
  );

  app.get(
    '/movements/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getMovement',
        tags: ['stock'],
        summary: 'Get a movement',
        params: IdParams,
        response: { 200: Type.Ref('Movement'), ...problems(401, 403, 404) },
      },
    },
    (request) => service.getMovement(request.ctx, request.params.id),
  );
}
