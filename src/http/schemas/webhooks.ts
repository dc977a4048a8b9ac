import { Type } from 'typebox';
import { EVENT_TYPES } from '../../domain/events.ts';
import { DELIVERY_STATUSES, WEBHOOK_URL_LENGTH_MAX } from '../../domain/webhooks.ts';
import { Nullable, oneOf, PageQuery, Timestamp, Uuid } from './common.ts';
import { Text } from './movements.ts';

export const EventType = oneOf(EVENT_TYPES);
export const DeliveryStatus = oneOf(DELIVERY_STATUSES);

const Url = Type.String({
  minLength: 1,
  maxLength: WEBHOOK_URL_LENGTH_MAX,
  description:
    'An absolute http or https URL without credentials, whose host resolves to public addresses only (unless ' +
    'WEBHOOK_ALLOW_PRIVATE_NETWORKS=true)',
});
const Events = Type.Array(EventType, {
  minItems: 1,
  maxItems: EVENT_TYPES.length,
  uniqueItems: true,
  description: 'The event types it receives',
});
const Description = Text(500);

export const WebhookSchema = Type.Object(
  {
    id: Uuid,
    url: Type.String(),
    events: Type.Array(EventType),
    description: Nullable(Type.String()),
    enabled: Type.Boolean({ description: 'A disabled webhook is sent nothing; its pending deliveries wait until it is enabled again' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Webhook' },
);
const Secret = Type.String({
  description: 'The signing secret (Standard Webhooks: whsec_ and the base64 of its key), shown in this answer only',
});
export const CreatedWebhookSchema = Type.Object({ ...WebhookSchema.properties, secret: Secret });
export const UpdatedWebhookSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.Optional(Type.String({ description: 'The new secret, when rotateSecret was asked for: shown this once' })),
});

export const CreateWebhookSchema = Type.Object(
  { url: Url, events: Events, description: Type.Optional(Description) },
  { additionalProperties: false },
);
export const UpdateWebhookSchema = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Nullable(Description)),
    enabled: Type.Optional(Type.Boolean()),
    rotateSecret: Type.Optional(
      Type.Literal(true, { description: 'Replace the secret with a new one, which the answer carries; the old one stops signing at once' }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const WebhookQuerySchema = Type.Object({ ...PageQuery });

export const DeliverySchema = Type.Object(
  {
    id: Uuid,
    eventId: Nullable(Type.String({ description: "The event's id, sent as webhook-id; null until the event is published" })),
    eventType: Type.String(),
    status: DeliveryStatus,
    attempts: Type.Integer({ description: 'Attempts started, including one whose sender stopped before it ended' }),
    nextAttemptAt: Nullable(Timestamp),
    createdAt: Timestamp,
    log: Type.Array(
      Type.Object({
        attemptedAt: Timestamp,
        statusCode: Nullable(Type.Integer()),
        durationMs: Type.Integer(),
        error: Nullable(Type.String()),
        nextAttemptAt: Nullable(Timestamp),
      }),
      { description: 'Each attempt that came to an outcome, oldest first' },
    ),
  },
  { $id: 'WebhookDelivery' },
);
export const DeliveryQuerySchema = Type.Object({ ...PageQuery, status: Type.Optional(DeliveryStatus) });

/** The schemas routes refer to by $id (Type.Ref('Webhook')), added where they can see them (src/http/routes/index.ts). */
export const webhookSchemas = [WebhookSchema, DeliverySchema];
