import { authentication } from '../authentication.ts';
import { sendNotFound } from '../problems.ts';
import { commonSchemas } from '../schemas/common.ts';
import { categorySchemas } from '../schemas/categories.ts';
import { locationSchemas } from '../schemas/locations.ts';
import { movementSchemas } from '../schemas/movements.ts';
import { productSchemas } from '../schemas/products.ts';
import { reservationSchemas } from '../schemas/reservations.ts';
import { stockSchemas } from '../schemas/stock.ts';
import { tokenSchemas } from '../schemas/tokens.ts';
import { userSchemas } from '../schemas/users.ts';
import { webhookSchemas } from '../schemas/webhooks.ts';
import { importSchemas } from '../schemas/imports.ts';
import type { App, RouteOptions } from '../types.ts';
import { authRoutes } from './auth.ts';
import { categoryRoutes } from './categories.ts';
import { locationRoutes } from './locations.ts';
import { movementRoutes } from './movements.ts';
import { productRoutes } from './products.ts';
import { imageRoutes } from './images.ts';
import { eventRoutes } from './events.ts';
import { reservationRoutes } from './reservations.ts';
import { stockRoutes } from './stock.ts';
import { tokenRoutes } from './tokens.ts';
import { userRoutes } from './users.ts';
import { webhookRoutes } from './webhooks.ts';
import { importRoutes } from './imports.ts';
import { exportRoutes } from './exports.ts';

// Every route of the versioned API, registered under /api/v1 (src/app.ts). A new resource adds
// its routes here, and its shared schemas to the list below.

/**
 * The schemas routes refer to by $id (Type.Ref('Product')), each resource's list from its schema
 * module, added in the API's scope so that every route (and schema) can refer to any of them.
 * /openapi.json lists them in this order under components.schemas: keep it, and the document
 * stays byte for byte the same; a new resource's go at the end.
 */
const SHARED_SCHEMAS = [
  ...commonSchemas,
  ...categorySchemas,
  ...productSchemas,
  ...locationSchemas,
  ...movementSchemas,
  ...stockSchemas,
  ...userSchemas,
  ...tokenSchemas,
  ...reservationSchemas,
  ...webhookSchemas,
  ...importSchemas,
];

export async function apiRoutes(
  api: App,
  {
    db,
    credentials,
    events,
    idempotencyKeyTtlHours,
    loginPolicy,
    streams,
    webhookAllowPrivateNetworks,
    uploads,
    importMaxBytes,
  }: RouteOptions,
) {
  // An unknown path of the API is a 404 problem, whoever asks (it is answered outside the
  // authentication below), and stays one whatever the root's not-found handler becomes
  // (src/http/plugins/not-found.ts).
  api.setNotFoundHandler(sendNotFound);
  for (const schema of SHARED_SCHEMAS) api.addSchema(schema);

  // Behind one authentication hook, which also sets each request's use-case context
  // (request.ctx); each route declares the access it needs (src/http/authentication.ts).
  // The order of the resources is the order of /openapi.json's paths.
  await api.register(async (resources: App) => {
    await authentication(resources, { db, credentials, events });
    await resources.register(authRoutes, { loginPolicy });
    await resources.register(userRoutes);
    await resources.register(tokenRoutes);
    await resources.register(categoryRoutes);
    await resources.register(productRoutes);
    await resources.register(imageRoutes, { uploads });
    await resources.register(locationRoutes);
    await resources.register(movementRoutes, { idempotencyKeyTtlHours });
    await resources.register(stockRoutes);
    await resources.register(reservationRoutes, { idempotencyKeyTtlHours });
    await resources.register(eventRoutes, { events, streams });
    await resources.register(webhookRoutes, { webhookAllowPrivateNetworks });
    await resources.register(importRoutes, { importMaxBytes });
    await resources.register(exportRoutes);
  });
}
