import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.ts';

// Every request gets a deadline and an abort signal: the signal fires when the deadline passes or
// the client goes away, and the transaction owner (src/db/database.ts) then cancels the running
// statement and rolls back. Fastify's own request.signal can't serve: it aborts as soon as a
// POST body has been read (DESIGN.md, known pitfalls), so the client's leaving is detected on the
// response: 'close' before the response finished writing.

export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
  constructor() {
    super('the client closed the connection before the response');
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    abortSignal: AbortSignal;
    deadlineTimer: NodeJS.Timeout | undefined;
  }
}

export const requestScope = fp(
  async (app: FastifyInstance, options: { requestTimeoutMs: number }) => {
    app.decorateRequest('abortSignal', undefined as unknown as AbortSignal);
    app.decorateRequest('deadlineTimer', undefined);
    app.addHook('onRequest', async (request, reply) => {
      const controller = new AbortController();
      request.abortSignal = controller.signal;
      const timer = setTimeout(() => {
        controller.abort(
          new AppError('timeout', `the request ran past its deadline of ${options.requestTimeoutMs} ms; nothing of it was written`),
        );
      }, options.requestTimeoutMs);
      timer.unref();
      request.deadlineTimer = timer;
      reply.raw.once('close', () => {
        clearTimeout(timer);
        if (!reply.raw.writableFinished) controller.abort(new ClientGoneError());
      });
    });
    app.addHook('onResponse', async (request) => {
      clearTimeout(request.deadlineTimer);
    });
  },
  { name: 'request-scope' },
);
