import { Type } from 'typebox';
import * as service from '../../services/reservations.ts';
import { idempotencyRequestOf, sendIdempotent } from '../idempotent.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { readTimestamp } from '../schemas/dates.ts';
import { IdempotencyHeaders } from '../schemas/movements.ts';
import { CreateReservationSchema, ReservationQuerySchema } from '../schemas/reservations.ts';
import type { App, RouteOptions } from '../types.ts';

export async function reservationRoutes(app: App, { idempotencyKeyTtlHours }: Pick<RouteOptions, 'idempotencyKeyTtlHours'>) {
  app.post(
    '/reservations',
    {
      config: { access: 'stock:write' },
      schema: {
        operationId: 'createReservation',
        tags: ['stock'],
        summary: 'Reserve stock',
        description:
          'Holds every line or none: reserved rises and available drops, on hand stays. A line larger than available (where the ' +
          'location forbids negative stock) is refused with 409 insufficient_stock. With an Idempotency-Key, a repeat of the same ' +
          'request answers the first answer again (header Idempotent-Replayed: true) and writes nothing.',
        headers: IdempotencyHeaders,
        body: CreateReservationSchema,
        response: { 201: Type.Ref('ChangedReservation'), ...problems(401, 403, 400, 404, 409, 413, 422, 503, 504) },
      },
    },
    async (request, reply) => {
      const { expiresAt, ...input } = request.body;
      const result = await service.reserve(
        request.ctx,
        { ...input, expiresAt: expiresAt === undefined ? undefined : readTimestamp(expiresAt, '/expiresAt') },
        idempotencyRequestOf(request, 'POST /api/v1/reservations', request.body, idempotencyKeyTtlHours),
      );
      return sendIdempotent(reply, 201, result);
    },
  );

  app.get(
    '/reservations',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listReservations',
        tags: ['stock'],
        summary: 'The reservations, newest first',
        querystring: ReservationQuerySchema,
        response: { 200: Page(Type.Ref('Reservation'), 'Reservation'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listReservations(request.ctx, request.query),
  );

  app.get(
    '/reservations/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getReservation',
        tags: ['stock'],
        summary: 'Get a reservation',
        params: IdParams,
        response: { 200: Type.Ref('Reservation'), ...problems(401, 403, 404) },
      },
    },
    (request) => service.getReservation(request.ctx, request.params.id),
  );

  app.post(
    '/reservations/:id/fulfil',
    {
      config: { access: 'stock:write' },
      schema: {
        operationId: 'fulfilReservation',
        tags: ['stock'],
        summary: 'Fulfil a reservation',
        description:
          "Records the outbound movement of its lines (with the reservation's reference) and releases its hold, in one transaction; " +
          'answers the reservation, fulfilled, with movementId. A reservation that is not active, or past its expiresAt, is refused ' +
          'with 409. Honours Idempotency-Key as POST /movements does.',
        headers: IdempotencyHeaders,
        params: IdParams,
        response: { 200: Type.Ref('ChangedReservation'), ...problems(401, 403, 400, 404, 409, 413, 422, 503, 504) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const result = await service.fulfilReservation(
        request.ctx,
        id,
        idempotencyRequestOf(request, 'POST /api/v1/reservations/{id}/fulfil', { id }, idempotencyKeyTtlHours),
      );
      if (!result.replayed) app.metrics.movementsWritten.inc({ type: 'outbound' });
      return sendIdempotent(reply, 200, result);
    },
  );

  app.post(
    '/reservations/:id/cancel',
    {
      config: { access: 'stock:write' },
      schema: {
        operationId: 'cancelReservation',
        tags: ['stock'],
        summary: 'Cancel a reservation',
        description: 'Releases its hold; a reservation that is not active, or past its expiresAt, is refused with 409.',
        params: IdParams,
        response: { 200: Type.Ref('ChangedReservation'), ...problems(401, 403, 400, 404, 409, 413, 422, 503, 504) },
      },
    },
    (request) => service.cancelReservation(request.ctx, request.params.id),
  );
}
