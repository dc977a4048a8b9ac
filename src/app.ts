import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { earlyAnswers } from './http/plugins/early-answers.ts';
import { gracefulClose } from './http/plugins/graceful-close.ts';
import { jsonBody } from './http/plugins/json-body.ts';
import { metrics } from './http/plugins/metrics.ts';
import { notFound } from './http/plugins/not-found.ts';
import { openapi } from './http/plugins/openapi.ts';
import { requestLog } from './http/plugins/request-log.ts';
import { requestScope } from './http/plugins/request-scope.ts';
import { securityHeaderPlugin, type SecurityHeaderHolder } from './http/plugins/security-headers.ts';
import { textGuard } from './http/plugins/text-guard.ts';
import { registerProblemHandlers } from './http/problems.ts';
import { healthRoutes } from './http/routes/health.ts';
import { apiRoutes } from './http/routes/index.ts';
import { serverOptions } from './http/server-options.ts';
import { validatorCompiler } from './http/validator.ts';
import type { CredentialCache } from './services/credential-cache.ts';
import type { EventFeed } from './services/event-feed.ts';

export interface AppOptions {
  config: Config;
  /**
   * Only requests use it: building the app queries nothing, so a stand-in serves to print
   * /openapi.json without a database (scripts/openapi.ts).
   */
  db: Database;
  /**
   * The instance's credential cache (src/services/credential-cache.ts), kept listening by its jobs;
   * without one every request looks its credential up.
   */
  credentials?: CredentialCache | undefined;
  /** The instance's event feed (src/services/event-feed.ts), kept publishing by its jobs; without one no event stream is served. */
  events?: EventFeed | undefined;
  logger?: FastifyServerOptions['logger'];
}

/**
 * The whole application as a Fastify instance: the process (src/server.ts) or a test serves it.
 * Plugins register in an order that matters (each says why): hooks of one kind run in it.
 */
export async function buildApp({ config, db, credentials, events, logger = false }: AppOptions) {
  // Filled by the security-headers plugin, before anything is served.
  const securityHeaders: SecurityHeaderHolder = { list: [] };
  const app = Fastify(serverOptions(config, logger, () => securityHeaders.list)).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());

  await app.register(requestLog);
  registerProblemHandlers(app);
  await app.register(notFound);
  await app.register(earlyAnswers); // before gracefulClose: see there
  await app.register(gracefulClose);
  await app.register(requestScope, { requestTimeoutMs: config.requestTimeoutMs }); // its signal goes into request.ctx
  await app.register(metrics, { db });
  await app.register(jsonBody);
  await app.register(textGuard);
  await app.register(cookie);
  await app.register(openapi);
  await app.register(securityHeaderPlugin, { holder: securityHeaders }); // after openapi: the policy admits its page

  await app.register(healthRoutes, { db });
  await app.register(apiRoutes, {
    prefix: '/api/v1',
    db,
    credentials,
    events,
    streams: { heartbeatS: config.eventsHeartbeatS, bufferBytes: config.eventsStreamBufferBytes },
    idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
    loginPolicy: { sessionTtlHours: config.sessionTtlHours, maxAttempts: config.loginMaxAttempts, windowS: config.loginWindowS },
    webhookAllowPrivateNetworks: config.webhookAllowPrivateNetworks,
    uploads: { maxBytes: config.uploadMaxBytes, tmpDir: config.uploadTmpDir },
    importMaxBytes: config.importMaxBytes,
  });

  // Background work (clean-up, the credential cache's listener) is not started here but by the
  // lifespan (src/server.ts, src/jobs/): an app built by a test does none unless it starts it.
  return app;
}
