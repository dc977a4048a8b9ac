import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

// The OpenAPI document (/openapi.json) and the interactive documentation (/docs), both built
// from the routes' own schemas: the ones that validate requests and serialise answers. The
// document needs no database, so scripts/openapi.ts prints it from an app that has none.

// Every route gives its schema an operationId (camelCase verb and noun, unique, stable: generated
// clients name their methods with it), tags, a summary and its 4xx answers (problems(...)):
// test/http/openapi.test.ts holds the document to Redocly's recommended rules and type-checks a
// client generated from it.
//
// A body or an answer that is not JSON is described by media type, with the helpers of
// schemas/common.ts, so that generators see a form, a CSV or bytes rather than a JSON object:
// - an upload: `body: multipartFile({ description })`, a multipart/form-data part `file` (binary);
// - a CSV: `body: csvBody(description)`, text/csv (spread its `content` beside an
//   'application/json' schema for a route that takes both);
// - answers: `response: { 200: csvResponse(description) }` or `binaryResponse(['image/webp'], description)`.
// A body schema keyed by media type is validated for the request's type only, and one that is not
// JSON not at all (src/http/validator.ts): its route streams and checks it itself. Fastify needs a
// content-type parser for the type (@fastify/multipart, or addContentTypeParser('text/csv', …)).
// Don't use `consumes`: Fastify would validate every body against the one schema.

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

/**
 * The document lists the paths in the order their routes are registered (src/http/routes/index.ts),
 * with one exception: a route registered by another resource's module under a resource's path
 * (GET /products/{id}/stock, in routes/stock.ts) is listed beside that resource's own paths.
 */
function groupPathsByResource<Item>(paths: Record<string, Item>): Record<string, Item> {
  const resourceOf = (path: string) => path.replace(/^\/api\/v1/, '').split('/')[1] ?? '';
  const resources = [...new Set(Object.keys(paths).map(resourceOf))];
  const grouped: Record<string, Item> = {};
  for (const resource of resources) {
    for (const [path, item] of Object.entries(paths)) if (resourceOf(path) === resource) grouped[path] = item;
  }
  return grouped;
}

export const openapi = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Stockroom API',
          version: '1.0.0',
          description: API_DESCRIPTION,
          license: { name: 'MIT', identifier: 'MIT' },
        },
        // Relative: the server that serves this document (OpenAPI 3.1, Server Object), wherever it runs, and
        // the paths carry /api/v1. A generated client takes the host as its base URL (openapi-fetch's baseUrl).
        servers: [{ url: '/', description: 'The server that serves this document' }],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'A session token from /api/v1/auth/login, or an API token' },
            session: {
              type: 'apiKey',
              in: 'cookie',
              name: 'session',
              description: 'Set by login; unsafe methods also need the X-CSRF-Token header',
            },
          },
        },
        security: [{ bearer: [] }, { session: [] }],
        tags: [
          { name: 'auth', description: 'Login, sessions and API tokens' },
          { name: 'users', description: 'Users and roles (admin only)' },
          { name: 'catalog', description: 'Categories and products' },
          { name: 'locations', description: 'Stores and warehouses' },
          { name: 'stock', description: 'Levels, the movement ledger and reservations' },
          { name: 'events', description: 'Every change, as server-sent events' },
          { name: 'webhooks', description: 'Webhooks and their deliveries (admin only)' },
          { name: 'operations', description: 'Health, readiness, metrics' },
        ],
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
      transformObject: (documents) => {
        if (!('openapiObject' in documents)) return documents.swaggerObject;
        const document = documents.openapiObject;
        if (document.paths !== undefined) document.paths = groupPathsByResource(document.paths);
        return document;
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'openapi' },
);
