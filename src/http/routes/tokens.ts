import { Type } from 'typebox';
import * as service from '../../services/tokens.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import { CreatedTokenSchema, CreateTokenSchema, TokenQuerySchema } from '../schemas/tokens.ts';
import type { App } from '../types.ts';

const config = { access: 'tokens:own' } as const;

export async function tokenRoutes(app: App) {
  app.post(
    '/tokens',
    {
      config,
      schema: {
        operationId: 'createToken',
        tags: ['auth'],
        summary: 'Create an API token',
        description:
          "The secret is in this answer only. The token's role defaults to, and can't exceed, your own (403). With locationIds it " +
          'reads and moves stock only at those locations, which must be within your own scope (403) and exist (404); it still ' +
          'acts with its role everywhere else (catalog, users, tokens).',
        body: CreateTokenSchema,
        response: { 201: CreatedTokenSchema, ...problems(401, 403, 404, 422) },
      },
    },
    async (request, reply) => {
      const { expiresAt, ...input } = request.body;
      const token = await service.createToken(request.ctx, {
        ...input,
        expiresAt: expiresAt === undefined ? undefined : new Date(expiresAt),
      });
      return reply.code(201).send(token);
    },
  );

  app.get(
    '/tokens',
    {
      config,
      schema: {
        operationId: 'listTokens',
        tags: ['auth'],
        summary: 'List API tokens',
        description: "Your own live tokens; an admin sees everyone's (filter with userId).",
        querystring: TokenQuerySchema,
        response: { 200: Page(Type.Ref('Token'), 'Token'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listTokens(request.ctx, request.query),
  );

  app.delete(
    '/tokens/:id',
    {
      config,
      schema: {
        operationId: 'revokeToken',
        tags: ['auth'],
        summary: 'Revoke an API token',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await service.revokeToken(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );
}
