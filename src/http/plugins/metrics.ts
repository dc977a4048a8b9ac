import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../../db/database.ts';

// GET /metrics in Prometheus text: requests and latencies by route, the pool, event-loop delay
// (prom-client's default process metrics) and movements written. One registry per app, so that
// several apps in one process (the tests) don't share counters.

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { movementsWritten: Counter<'type'> };
  }
}

export const metrics = fp(
  async (app: FastifyInstance, options: { db: Database }) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
    const requests = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    });
    const movementsWritten = new Counter({
      name: 'stockroom_movements_written_total',
      help: 'Movements written (replays excluded)',
      labelNames: ['type'] as const,
      registers: [registry],
    });
    new Gauge({
      name: 'db_pool_connections',
      help: 'Database connections by state (in_use, idle, waiting for one)',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const stats = options.db.stats();
        this.set({ state: 'in_use' }, stats.inUse);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });

    app.decorate('metrics', { movementsWritten });
    app.addHook('onResponse', async (request, reply) => {
      requests.observe(
        { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    });
  },
  { name: 'metrics' },
);
