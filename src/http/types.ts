import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { Database } from '../db/database.ts';
import type { LoginPolicy } from '../services/auth.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What the API's routes are built with (src/http/routes/index.ts). */
export interface RouteOptions {
  /** For the authentication hook, which hands it to the routes' use cases as request.ctx. */
  db: Database;
  idempotencyKeyTtlHours: number;
  loginPolicy: LoginPolicy;
}
