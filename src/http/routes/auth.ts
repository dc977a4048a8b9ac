import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as auth from '../../services/auth.ts';
import { prepareDummyHash } from '../../services/passwords.ts';
import * as users from '../../services/users.ts';
import { CSRF_COOKIE, SESSION_COOKIE } from '../authentication.ts';
import { problems } from '../schemas/common.ts';
import { LoginResultSchema, LoginSchema, UpdateMeSchema } from '../schemas/auth.ts';
import type { App, RouteOptions } from '../types.ts';

/** Cookies for the web UI: the session HttpOnly, the CSRF token readable by the page's script. */
function setSessionCookies(
  request: FastifyRequest,
  reply: FastifyReply,
  session?: { token: string; csrfToken: string; expiresAt: string },
) {
  const common = { path: '/', sameSite: 'lax' as const, secure: request.protocol === 'https' };
  if (session === undefined) {
    reply.clearCookie(SESSION_COOKIE, { ...common, httpOnly: true }).clearCookie(CSRF_COOKIE, common);
    return;
  }
  const expires = new Date(session.expiresAt);
  reply
    .setCookie(SESSION_COOKIE, session.token, { ...common, httpOnly: true, expires })
    .setCookie(CSRF_COOKIE, session.csrfToken, { ...common, httpOnly: false, expires });
}

export async function authRoutes(app: App, { loginPolicy }: Pick<RouteOptions, 'loginPolicy'>) {
  // Ahead of the first login, so that the first unknown email isn't slower (src/services/passwords.ts).
  prepareDummyHash();

  app.post(
    '/auth/login',
    {
      config: { access: 'public' },
      schema: {
        operationId: 'login',
        tags: ['auth'],
        summary: 'Log in with email and password',
        description:
          'Answers a bearer token and sets the session cookie. Wrong email or password: 401, the same either way. Too many attempts: 429.',
        security: [],
        body: LoginSchema,
        response: { 200: LoginResultSchema, ...problems(401, 422, 429) },
      },
    },
    async (request, reply) => {
      const session = await auth.login(request.ctx, { ...request.body, address: request.ip }, loginPolicy);
      setSessionCookies(request, reply, session);
      return session;
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { access: 'self' },
      schema: {
        operationId: 'logout',
        tags: ['auth'],
        summary: 'End the current session',
        response: { 204: Type.Null(), ...problems(401, 403) },
      },
    },
    async (request, reply) => {
      await auth.logout(request.ctx);
      setSessionCookies(request, reply);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      config: { access: 'self' },
      schema: { operationId: 'getMe', tags: ['auth'], summary: 'The current user', response: { 200: Type.Ref('User'), ...problems(401) } },
    },
    (request) => users.getUser(request.ctx, request.ctx.actor!.id),
  );

  app.patch(
    '/me',
    {
      config: { access: 'self' },
      schema: {
        operationId: 'updateMe',
        tags: ['auth'],
        summary: 'Change your own name or password',
        description:
          'A new password needs currentPassword. A wrong one answers 422 and counts as a failed login of your account from this ' +
          'address; too many: 429 with Retry-After. A new password ends your other sessions at once (all of them when this ' +
          'request comes with an API token); API tokens stay, revoke them at /tokens.',
        body: UpdateMeSchema,
        response: { 200: Type.Ref('User'), ...problems(401, 403, 422, 429) },
      },
    },
    (request) => auth.updateMe(request.ctx, request.body, request.ip, loginPolicy),
  );
}
