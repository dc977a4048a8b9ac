import { Type } from 'typebox';
import * as service from '../../services/users.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { CreateUserSchema, UpdateUserSchema, UserQuerySchema } from '../schemas/users.ts';
import type { App } from '../types.ts';

const User = Type.Ref('User');
const config = { access: 'users:manage' } as const;

export async function userRoutes(app: App) {
  app.get(
    '/users',
    {
      config,
      schema: {
        operationId: 'listUsers',
        tags: ['users'],
        summary: 'List users',
        querystring: UserQuerySchema,
        response: { 200: Page(User, 'User'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listUsers(request.ctx, request.query),
  );

  app.post(
    '/users',
    {
      config,
      schema: {
        operationId: 'createUser',
        tags: ['users'],
        summary: 'Create a user',
        body: CreateUserSchema,
        response: { 201: User, ...problems(401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createUser(request.ctx, request.body)),
  );

  app.get(
    '/users/:id',
    {
      config,
      schema: {
        operationId: 'getUser',
        tags: ['users'],
        summary: 'Get a user',
        params: IdParams,
        response: { 200: User, ...problems(401, 403, 404) },
      },
    },
    (request) => service.getUser(request.ctx, request.params.id),
  );

  app.patch(
    '/users/:id',
    {
      config,
      schema: {
        operationId: 'updateUser',
        tags: ['users'],
        summary: 'Change, disable or re-enable a user',
        description: "Disabling ends the user's sessions and API tokens at once; a new password ends its sessions.",
        params: IdParams,
        body: UpdateUserSchema,
        response: { 200: User, ...problems(401, 403, 404, 409, 422) },
      },
    },
    (request) => service.updateUser(request.ctx, request.params.id, request.body),
  );
}
