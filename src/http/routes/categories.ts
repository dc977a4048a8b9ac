import { Type } from 'typebox';
import * as service from '../../services/categories.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { CategoryQuerySchema, CreateCategorySchema, UpdateCategorySchema } from '../schemas/categories.ts';
import type { App } from '../types.ts';

const Category = Type.Ref('Category');

export async function categoryRoutes(app: App) {
  app.get(
    '/categories',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'listCategories',
        tags: ['catalog'],
        summary: 'List categories',
        querystring: CategoryQuerySchema,
        response: { 200: Page(Category, 'Category'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listCategories(request.ctx, request.query),
  );

  app.post(
    '/categories',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'createCategory',
        tags: ['catalog'],
        summary: 'Create a category',
        body: CreateCategorySchema,
        response: { 201: Category, ...problems(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createCategory(request.ctx, request.body)),
  );

  app.get(
    '/categories/:id',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'getCategory',
        tags: ['catalog'],
        summary: 'Get a category',
        params: IdParams,
        response: { 200: Category, ...problems(401, 403, 404) },
      },
    },
    (request) => service.getCategory(request.ctx, request.params.id),
  );

  app.patch(
    '/categories/:id',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'updateCategory',
        tags: ['catalog'],
        summary: 'Rename or move a category',
        params: IdParams,
        body: UpdateCategorySchema,
        response: { 200: Category, ...problems(401, 403, 404, 409, 422) },
      },
    },
    (request) => service.updateCategory(request.ctx, request.params.id, request.body),
  );

  app.delete(
    '/categories/:id',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'deleteCategory',
        tags: ['catalog'],
        summary: 'Delete an empty category',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.deleteCategory(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );
}
