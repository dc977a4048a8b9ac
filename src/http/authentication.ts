import type { FastifyRequest } from 'fastify';
import type { Database } from '../db/database.ts';
import { holds, type Actor, type Permission } from '../domain/access.ts';
import { AppError } from '../domain/errors.ts';
import { csrfTokenFor, sameSecret } from '../domain/secrets.ts';
import { authenticate } from '../services/auth.ts';
import type { CredentialCache } from '../services/credential-cache.ts';
import type { EventFeed } from '../services/event-feed.ts';
import type { UseCaseContext } from '../services/context.ts';
import type { App } from './types.ts';

// Authentication and authorisation for the whole /api/v1 plugin, in one hook. Each route states
// what it needs as `config.access` (a permission of src/domain/access.ts, or 'public'); a route
// without one stops the app from starting. The hook runs on `onRequest`, before the body is
// even read, so an unauthenticated request gets 401 whatever its body.
//
// It also sets the request's use-case context (`request.ctx`, what every service function takes
// first), once, for every route of the plugin: a public route's has no actor.

export type Access = Permission | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The context the request's use case runs in: the database, the request's abort signal (src/http/plugins/request-scope.ts), who acts. */
    ctx: UseCaseContext;
  }
}

export const SESSION_COOKIE = 'session';
export const CSRF_COOKIE = 'csrf_token';
export const CSRF_HEADER = 'x-csrf-token';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The secret a request presents, and whether it came as a cookie (which needs CSRF protection). */
function presentedSecret(request: FastifyRequest): { secret: string; fromCookie: boolean } | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    // A malformed Authorization header is a failed attempt, not an absent one.
    return { secret: match?.[1] ?? '', fromCookie: false };
  }
  const cookie = request.cookies[SESSION_COOKIE];
  return cookie === undefined || cookie === '' ? undefined : { secret: cookie, fromCookie: true };
}

/**
 * Who the request's credential authenticates as now, for a request that outlives the moment it
 * was checked (an event stream): null once the credential is revoked or expired, or its user
 * disabled. Through the credential cache, as every request, so asking often costs little.
 */
export function reauthenticate(request: FastifyRequest): Promise<Actor | null> {
  const presented = presentedSecret(request);
  if (presented === undefined) return Promise.resolve(null);
  return authenticate({ db: request.ctx.db, credentials: request.ctx.credentials }, presented.secret);
}

export async function authentication(
  api: App,
  { db, credentials, events }: { db: Database; credentials: CredentialCache | undefined; events: EventFeed | undefined },
) {
  api.decorateRequest('ctx', null as unknown as UseCaseContext);

  api.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`${String(route.method)} ${route.url} declares no access rule (config.access)`);
    }
  });

  api.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config.access;
    if (access === 'public') {
      request.ctx = { db, signal: request.abortSignal, actor: null, credentials, events };
      return;
    }
    const presented = presentedSecret(request);
    if (presented === undefined) {
      reply.header('www-authenticate', 'Bearer realm="stockroom"');
      throw new AppError('unauthenticated', 'authentication required: send Authorization: Bearer <token>, or log in for a session cookie');
    }
    const actor = await authenticate({ db, signal: request.abortSignal, credentials }, presented.secret);
    if (actor === null) {
      reply.header('www-authenticate', 'Bearer realm="stockroom", error="invalid_token"');
      throw new AppError('unauthenticated', 'the token or session is invalid, expired or revoked');
    }
    // A browser attaches the cookie to requests other sites make it send; a header it will not.
    if (presented.fromCookie && UNSAFE_METHODS.has(request.method)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameSecret(sent, csrfTokenFor(presented.secret))) {
        throw new AppError('forbidden', `a request authenticated by the session cookie needs the ${CSRF_HEADER} header from login`);
      }
    }
    if (access === undefined || !holds(actor.role, access)) {
      throw new AppError('forbidden', `the ${actor.role} role may not do this`);
    }
    request.ctx = { db, signal: request.abortSignal, actor, credentials, events };
  });
}
