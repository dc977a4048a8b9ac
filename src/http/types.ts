import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { Database } from '../db/database.ts';
import type { LoginPolicy } from '../services/auth.ts';
import type { UseCaseContext } from '../services/context.ts';

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface RouteOptions {
  db: Database;
  idempotencyKeyTtlHours: number;
  loginPolicy: LoginPolicy;
}

/** The context a use case runs in, from the request that asked for it. */
export function contextOf(request: FastifyRequest, db: Database): UseCaseContext {
  return { db, signal: request.abortSignal, actor: request.actor };
}
