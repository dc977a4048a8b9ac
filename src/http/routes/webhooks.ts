import { Type } from 'typebox';
import * as service from '../../services/webhooks.ts';
import { IdParams, Page, problems } from '../schemas/common.ts';
import {
  CreatedWebhookSchema,
  CreateWebhookSchema,
  DeliveryQuerySchema,
  UpdatedWebhookSchema,
  UpdateWebhookSchema,
  WebhookQuerySchema,
} from '../schemas/webhooks.ts';
import type { App, RouteOptions } from '../types.ts';

const config = { access: 'webhooks:manage' } as const;

export async function webhookRoutes(app: App, { webhookAllowPrivateNetworks }: Pick<RouteOptions, 'webhookAllowPrivateNetworks'>) {
  const policy = { allowPrivateNetworks: webhookAllowPrivateNetworks };

  app.post(
    '/webhooks',
    {
      config,
      schema: {
        operationId: 'createWebhook',
        tags: ['webhooks'],
        summary: 'Create a webhook',
        description:
          'Subscribes the URL to the event types: each such event is POSTed to it, signed as Standard Webhooks specifies. The ' +
          'secret is in this answer only. A URL that is not http(s), carries credentials, does not resolve or resolves to a ' +
          'loopback, private or link-local address is refused with 422.',
        body: CreateWebhookSchema,
        response: { 201: CreatedWebhookSchema, ...problems(401, 403, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createWebhook(request.ctx, request.body, policy)),
  );

  app.get(
    '/webhooks',
    {
      config,
      schema: {
        operationId: 'listWebhooks',
        tags: ['webhooks'],
        summary: 'The webhooks, newest first',
        querystring: WebhookQuerySchema,
        response: { 200: Page(Type.Ref('Webhook'), 'Webhook'), ...problems(401, 403, 422) },
      },
    },
    (request) => service.listWebhooks(request.ctx, request.query),
  );

  app.get(
    '/webhooks/:id',
    {
      config,
      schema: {
        operationId: 'getWebhook',
        tags: ['webhooks'],
        summary: 'Get a webhook',
        params: IdParams,
        response: { 200: Type.Ref('Webhook'), ...problems(401, 403, 404) },
      },
    },
    (request) => service.getWebhook(request.ctx, request.params.id),
  );

  app.patch(
    '/webhooks/:id',
    {
      config,
      schema: {
        operationId: 'updateWebhook',
        tags: ['webhooks'],
        summary: 'Change, disable or rotate the secret of a webhook',
        description:
          'With rotateSecret: true the answer carries the new secret, which signs every attempt from now on. A disabled webhook ' +
          'is sent nothing: its pending deliveries wait until it is enabled again.',
        params: IdParams,
        body: UpdateWebhookSchema,
        response: { 200: UpdatedWebhookSchema, ...problems(401, 403, 404, 422) },
      },
    },
    (request) => service.updateWebhook(request.ctx, request.params.id, request.body, policy),
  );

  app.delete(
    '/webhooks/:id',
    {
      config,
      schema: {
        operationId: 'deleteWebhook',
        tags: ['webhooks'],
        summary: 'Delete a webhook',
        description: 'Its deliveries, sent or not, and their log go with it.',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await service.deleteWebhook(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/webhooks/:id/deliveries',
    {
      config,
      schema: {
        operationId: 'listWebhookDeliveries',
        tags: ['webhooks'],
        summary: "A webhook's deliveries, newest first, with the log of their attempts",
        params: IdParams,
        querystring: DeliveryQuerySchema,
        response: { 200: Page(Type.Ref('WebhookDelivery'), 'WebhookDelivery'), ...problems(401, 403, 404, 422) },
      },
    },
    (request) => service.listDeliveries(request.ctx, request.params.id, request.query),
  );
}
