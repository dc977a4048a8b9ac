import cookie from '@fastify/cookie';
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
import { earlyAnswers } from './http/early-answers.ts';
import { gracefulClose } from './http/graceful-close.ts';
import { jsonBody } from './http/json-body.ts';
import { clientErrorHandler, frameworkErrors, registerProblemHandlers, sendProblem } from './http/problems.ts';
import { requestScope } from './http/request-scope.ts';
import { securityHeaders, type HeaderList } from './http/security-headers.ts';
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

// How much of a body answered before it arrived (413, 401, …) is read and thrown away, so that
// the answer reaches a client still sending it, before the connection is cut instead.
const EARLY_ANSWER_DISCARD_MAX_BYTES = 64 * 1024 * 1024;
// Headers must arrive within this, or the request's deadline if shorter (slow-header attacks).
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * TRUST_PROXY as a hop count: the last `hops` addresses of the chain (the connection's own, then
 * X-Forwarded-For from the right) are proxies, the one before them the client. Fastify no longer
 * takes a number for this, so it gets proxy-addr's trust function.
 */
function trustHops(hops: number) {
  return (_address: string, hop: number) => hop < hops;
}

/** The whole application as a Fastify instance: the process (src/server.ts) or a test serves it. */
// The first thing /docs shows. A session cookie set by trying out the login here is not enough to
// write: cookie-authenticated writes need the X-CSRF-Token header, which this page doesn't send.
const API_DESCRIPTION = `Products, locations, stock levels and an immutable movement ledger.
Errors are RFC 9457 problem documents; the concepts (error codes, idempotency, pagination,
compare-and-set, roles and tokens) are explained in the repository's \`docs/\` folder.

### Authorising requests on this page
1. Open **POST /api/v1/auth/login**, choose *Try it out*, send your email and password, and copy
   the \`token\` from the answer (or use an API token from **POST /api/v1/tokens**).
2. Click **Authorize** (top right), paste the token into **bearer**, and close the dialog.

Every request made here then carries \`Authorization: Bearer <token>\`, which takes precedence
over the session cookie. Trying out the login also sets that cookie: reads work with it alone,
but a write authenticated only by the cookie is refused with 403 unless it carries the
\`X-CSRF-Token\` header, which this page does not send. Use the bearer token.`;

export async function buildApp({ config, db, logger = false }: AppOptions) {
  // Set below, once the documentation's policy is known, and before anything is served.
  let headers: HeaderList = [];
  const app = Fastify({
    logger,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: false, // gracefulClose answers with a problem document instead
    forceCloseConnections: 'idle',
    genReqId: () => crypto.randomUUID(),
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy,
    // One log line per request (below) instead of Fastify's two: measured at ~15 % of GET /stock's throughput.
    logController: new LogController({ disableRequestLogging: true }),
    // Errors before any route runs are problem documents too.
    frameworkErrors: frameworkErrors(() => headers),
    clientErrorHandler: clientErrorHandler(() => headers),
    // A request must arrive whole within its deadline, headers and body alike: past it Node's
    // HTTP server answers 408 (through clientErrorHandler) and closes, so a client trickling
    // bytes can't hold a socket and its buffers. Fastify's default (0) turns that off. Node
    // looks for such requests every connectionsCheckingInterval.
    requestTimeout: config.requestTimeoutMs,
    http: { headersTimeout: Math.min(config.requestTimeoutMs, HEADERS_TIMEOUT_MS), connectionsCheckingInterval: 1000 },
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
  await app.register(earlyAnswers, { discardMaxBytes: EARLY_ANSWER_DISCARD_MAX_BYTES }); // before gracefulClose: see there
  await app.register(gracefulClose);
  await app.register(requestScope, { requestTimeoutMs: config.requestTimeoutMs });
  await app.register(metrics, { db });
  await app.register(jsonBody);
  await app.register(textGuard);
  await app.register(cookie);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Stockroom API',
        version: '1.0.0',
        description: API_DESCRIPTION,
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
  // Security headers on every answer (src/http/security-headers.ts).
  headers = securityHeaders(app.swaggerCSP);
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of headers) reply.raw.setHeader(name, value);
    done();
  });
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

  // Background work (clean-up, the credential cache's listener) is not started here but by the
  // lifespan (src/server.ts, src/jobs/): an app built by a test does none unless it starts it.
  return app;
}
