import cookie from '@fastify/cookie';
import helmet from 'helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { LogController, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { isMigrated } from './db/migrate.ts';
import { authentication } from './http/authentication.ts';
import { metrics } from './http/metrics.ts';
import { gracefulClose } from './http/graceful-close.ts';
import { clientErrorHandler, frameworkErrors, registerProblemHandlers, sendProblem } from './http/problems.ts';
import { requestScope } from './http/request-scope.ts';
import { textGuard } from './http/text-guard.ts';
import { authRoutes } from './http/routes/auth.ts';
import { categoryRoutes } from './http/routes/categories.ts';
import { locationRoutes } from './http/routes/locations.ts';
import { movementRoutes } from './http/routes/movements.ts';
import { productRoutes } from './http/routes/products.ts';
import { tokenRoutes } from './http/routes/tokens.ts';
import { userRoutes } from './http/routes/users.ts';
import { TokenSchema, UserSchema } from './http/schemas/auth.ts';
import { CategorySchema, ProductSchema } from './http/schemas/catalog.ts';
import { Problem } from './http/schemas/common.ts';
import { LocationSchema } from './http/schemas/locations.ts';
import { MovementSchema, ProductStockSchema, RecordedMovementSchema, StockLevelSchema } from './http/schemas/stock.ts';
import type { RouteOptions } from './http/types.ts';
import { startCredentialCache } from './services/credential-cache.ts';
import { startCleanup } from './services/maintenance.ts';
import { prepareDummyHash } from './services/passwords.ts';

export interface AppOptions {
  config: Config;
  db: Database;
  logger?: FastifyServerOptions['logger'];
}

// Request bodies are validated strictly (no type coercion: "5" is not a quantity); the query
// string, path and headers arrive as text, so there numbers and booleans are coerced.
function validatorCompiler() {
  const common: AjvOptions = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false };
  const body = addFormats.default(new Ajv({ ...common, coerceTypes: false }));
  const text = addFormats.default(new Ajv({ ...common, coerceTypes: 'array' }));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? body : text).compile(schema);
}

/** The whole application as a Fastify instance: the process (src/server.ts) or a test serves it. */
export async function buildApp({ config, db, logger = false }: AppOptions) {
  const app = Fastify({
    logger,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: false, // gracefulClose answers with a problem document instead
    forceCloseConnections: 'idle',
    genReqId: () => crypto.randomUUID(),
    trustProxy: config.trustProxy,
    // One log line per request (below) instead of Fastify's two: measured at ~15 % of GET /stock's throughput.
    logController: new LogController({ disableRequestLogging: true }),
    // Errors before any route runs are problem documents too.
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());
  // The API speaks JSON only; any other body type is a 400 (API.md), not a string to validate.
  app.removeContentTypeParser('text/plain');

  for (const schema of [Problem, CategorySchema, ProductSchema, LocationSchema, MovementSchema, RecordedMovementSchema, StockLevelSchema, ProductStockSchema, UserSchema, TokenSchema]) {
    app.addSchema(schema);
  }
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: request.url, statusCode: reply.statusCode, responseTimeMs: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });
  registerProblemHandlers(app);
  await app.register(gracefulClose);
  await app.register(requestScope, { requestTimeoutMs: config.requestTimeoutMs });
  await app.register(metrics, { db });
  await app.register(textGuard);
  await app.register(cookie);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Stockroom API',
        version: '1.0.0',
        description: 'Products, locations, stock levels and an immutable movement ledger. Errors are RFC 9457 problem documents.',
      },
      servers: [],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A session token from /api/v1/auth/login, or an API token' },
          session: { type: 'apiKey', in: 'cookie', name: 'session', description: 'Set by login; unsafe methods also need the X-CSRF-Token header' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
      tags: [
        { name: 'auth', description: 'Login, sessions and API tokens' },
        { name: 'users', description: 'Users and roles (admin only)' },
        { name: 'catalog', description: 'Categories and products' },
        { name: 'locations', description: 'Stores and warehouses' },
        { name: 'stock', description: 'Levels and the movement ledger' },
        { name: 'operations', description: 'Health, readiness, metrics' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Security headers on every answer. The policy admits the documentation page's own inline
  // script and style (by hash) and nothing from elsewhere. No upgrade-insecure-requests: the
  // service is often reached over plain HTTP on a private network or behind a TLS proxy.
  // helmet itself, built once: @fastify/helmet rebuilds it (parsing the policy) on every request,
  // which cost about 3 % of GET /stock's CPU.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        scriptSrc: ["'self'", ...app.swaggerCSP.script],
        styleSrc: ["'self'", ...app.swaggerCSP.style],
        upgradeInsecureRequests: null,
      },
    },
  });
  app.addHook('onRequest', (request, reply, done) => securityHeaders(request.raw, reply.raw, (error) => done(error as Error | undefined)));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is running' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['operations'], summary: 'The database answers and is migrated' } }, async (request, reply) => {
    const signal = AbortSignal.any([request.abortSignal, AbortSignal.timeout(2000)]);
    const ready = await isMigrated(db, signal).catch(() => false);
    if (!ready) return sendProblem(reply, 503, 'unavailable', 'the database is unreachable or not migrated', {}, 1);
    return { status: 'ready' };
  });

  // Every route of the versioned API lives in this one encapsulated plugin, behind one
  // authentication hook; each route declares the access it needs (src/http/authentication.ts).
  const routeOptions: RouteOptions = {
    db,
    idempotencyKeyTtlHours: config.idempotencyKeyTtlHours,
    loginPolicy: { sessionTtlHours: config.sessionTtlHours, maxAttempts: config.loginMaxAttempts, windowS: config.loginWindowS },
  };
  prepareDummyHash();
  await app.register(
    async (api) => {
      await authentication(api, { db });
      await api.register(authRoutes, routeOptions);
      await api.register(userRoutes, routeOptions);
      await api.register(tokenRoutes, routeOptions);
      await api.register(categoryRoutes, routeOptions);
      await api.register(productRoutes, routeOptions);
      await api.register(locationRoutes, routeOptions);
      await api.register(movementRoutes, routeOptions);
    },
    { prefix: '/api/v1' },
  );

  const stopCleanup = startCleanup(db, { idempotencyKeyTtlHours: config.idempotencyKeyTtlHours, loginWindowS: config.loginWindowS }, app.log);
  const stopCredentialCache = startCredentialCache(db, { ttlS: config.authCacheTtlS });
  app.addHook('onClose', async () => {
    stopCleanup();
    await stopCredentialCache();
  });
  return app;
}
