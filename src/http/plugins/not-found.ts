import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendNotFound } from '../problems.ts';

// What answers a request that no route serves, outside /api/v1: the API answers its own unknown
// paths with the 404 problem whatever is set here (src/http/routes/index.ts).
//
// Today that is the same problem for every path. This is where the web UI (web/README.md) hooks
// in: its plugin will pass a `fallback` that answers a GET of one of the UI's own pages
// (/products/123, reloaded or opened from a link) with index.html, and anything else with
// sendNotFound, as now.

export type NotFoundHandler = (request: FastifyRequest, reply: FastifyReply) => unknown;

export const notFound = fp(
  async (app: FastifyInstance, { fallback = sendNotFound }: { fallback?: NotFoundHandler }) => {
    app.setNotFoundHandler(fallback);
  },
  { name: 'not-found' },
);
