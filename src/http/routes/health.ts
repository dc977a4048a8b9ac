import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Database } from '../../db/database.ts';
import { isMigrated } from '../../db/migrate.ts';
import { sendProblem } from '../problems.ts';

// Outside the versioned API and its authentication: a load balancer or orchestrator asks these.

/** How long /readyz waits for the database before calling it unreachable. */
const READINESS_TIMEOUT_MS = 2000;

const Status = (status: string) => Type.Object({ status: Type.Literal(status) }, { description: `The probe answers "${status}"` });

export async function healthRoutes(app: FastifyInstance, { db }: { db: Database }) {
  app.get(
    '/healthz',
    { schema: { operationId: 'getHealth', tags: ['operations'], summary: 'The process is running', response: { 200: Status('ok') } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['operations'],
        summary: 'The database answers and is migrated',
        description: 'Otherwise 503, with a problem document (code unavailable).',
        response: { 200: Status('ready') },
      },
    },
    async (request, reply) => {
      const signal = AbortSignal.any([request.abortSignal, AbortSignal.timeout(READINESS_TIMEOUT_MS)]);
      const ready = await isMigrated(db, signal).catch(() => false);
      if (!ready) return sendProblem(reply, 503, 'unavailable', 'the database is unreachable or not migrated', {}, 1);
      return { status: 'ready' };
    },
  );
}
