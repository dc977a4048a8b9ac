import { Type } from 'typebox';
import * as service from '../../services/locations.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { CreateLocationSchema, LocationQuerySchema, UpdateLocationSchema } from '../schemas/locations.ts';
import type { App } from '../types.ts';

const Location = Type.Ref('Location');

export async function locationRoutes(app: App) {
  app.get(
    '/locations',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listLocations',
        tags: ['locations'],
        summary: 'List locations',
        querystring: LocationQuerySchema,
        response: { 200: Page(Location, 'Location'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listLocations(request.ctx, request.query),
  );

  app.post(
    '/locations',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'createLocation',
        tags: ['locations'],
        summary: 'Create a location',
        body: CreateLocationSchema,
        response: { 201: Location, ...problems(401, 403, 409, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createLocation(request.ctx, request.body)),
  );

  app.get(
    '/locations/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getLocation',
        tags: ['locations'],
        summary: 'Get a location',
        params: IdParams,
        response: { 200: Location, ...problems(401, 403, 404) },
      },
    },
    (request) => service.getLocation(request.ctx, request.params.id),
  );

  app.patch(
    '/locations/:id',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'updateLocation',
        tags: ['locations'],
        summary: 'Change or archive a location',
        params: IdParams,
        body: UpdateLocationSchema,
        response: { 200: Location, ...problems(401, 403, 404, 409, 422) },
      },
    },
    (request) => service.updateLocation(request.ctx, request.params.id, request.body),
  );
}
