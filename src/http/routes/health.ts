import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.ts';
import { isMigrated } from '../../db/migrate.ts';
import { sendProblem } from '../problems.ts';

// Outside the versioned API and its authentication: a load balancer or orchestrator asks these.

/** How long /readyz waits for the database before calling it unreachable. */
const READINESS_TIMEOUT_MS = 2000;

export async function healthRoutes(app: FastifyInstance, { db }: { db: Database }) {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is running' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['operations'], summary: 'The database answers and is migrated' } }, async (request, reply) => {
    const signal = AbortSignal.any([request.abortSignal, AbortSignal.timeout(READINESS_TIMEOUT_MS)]);
    const ready = await isMigrated(db, signal).catch(() => false);
    if (!ready) return sendProblem(reply, 503, 'unavailable', 'the database is unreachable or not migrated', {}, 1);
    return { status: 'ready' };
  });
}
