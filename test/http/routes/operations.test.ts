import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCategory, createLocation, createProduct, recordMovement } from '../../support/factories.ts';
import { api, createHarness, TEST_ADMIN, type Harness, type TestApp } from '../../support/helpers.ts';
import { tag, UNKNOWN_ID } from '../../support/assertions.ts';

// Operations of API.md: health, readiness, metrics, the API documentation, and the promise that
// every error is an RFC 9457 problem document that gives nothing of the inside away.

const BODY_LIMIT_BYTES = 2048;

// The whole file runs on one app with a small body limit, so that the 413 needs no big body.
let h: Harness;
before(async () => {
  h = await createHarness({ bodyLimitBytes: BODY_LIMIT_BYTES });
});
after(() => h.close());

interface RawResponse {
  status: number;
  contentType: string;
  text: string;
  json: any;
}

/** One request with a body sent exactly as given, answering the raw text as well as the JSON. */
async function raw(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: string, contentType?: string): Promise<RawResponse> {
  const response = await h.app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    headers: contentType === undefined ? h.auth : { 'content-type': contentType, ...h.auth },
  });
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, contentType: String(response.headers['content-type']), text: response.body, json };
}

/** The problem document of API.md, with nothing of the inside in it. */
function assertProblem(response: RawResponse, status: number, code: string) {
  assert.equal(response.status, status, response.text);
  assert.match(response.contentType, /^application\/problem\+json/);
  const body = response.json;
  assert.equal(typeof body, 'object');
  assert.equal(typeof body.type, 'string');
  assert.ok(body.type.length > 0);
  assert.equal(typeof body.title, 'string');
  assert.ok(body.title.length > 0);
  assert.equal(body.status, status);
  assert.equal(typeof body.detail, 'string');
  assert.ok(body.detail.length > 0);
  assert.equal(body.code, code);
  assertNothingInternal(response.text);
}

function assertNothingInternal(text: string) {
  assert.doesNotMatch(text, /\bat .+:\d+:\d+/, 'a stack frame');
  assert.doesNotMatch(text, /"stack"/, 'a stack member');
  assert.doesNotMatch(text, /SELECT|INSERT|UPDATE |DELETE FROM|RETURNING/, 'SQL text');
  assert.doesNotMatch(text, /violates|constraint|duplicate key|relation "|_key\b|_check\b|_fkey\b/i, 'a database message');
  assert.doesNotMatch(text, /\/src\/|node_modules|\.ts\b|\.js\b|\/work\//, 'an internal path');
}

/** Method and path of every /api/v1 route the app serves, read from Fastify's route tree. */
function registeredApiRoutes(app: TestApp): string[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const routes = new Set<string>();
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = match[1]!.length / 4;
    const path = (depth === 0 ? '' : prefixes[depth - 1]!) + match[2]!;
    prefixes.length = depth;
    prefixes.push(path);
    for (const method of (match[3] ?? '').split(', ')) {
      if (method !== '' && method !== 'HEAD' && path.startsWith('/api/v1/')) routes.add(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return [...routes].sort();
}

/** The value of one sample of the Prometheus text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function locationsWithCode(code: string) {
  const response = await api(h.app, 'GET', '/api/v1/locations?limit=500');
  assert.equal(response.status, 200);
  assert.equal(response.body.nextCursor, null, 'this file makes fewer than 500 locations');
  return response.body.items.filter((location: { code: string }) => location.code.toLowerCase() === code.toLowerCase());
}

describe('GET /healthz and GET /readyz', () => {
  it('answers 200 on /healthz while the process runs', async () => {
    const response = await api(h.app, 'GET', '/healthz');
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ok' });
  });

  it('answers 200 on /readyz when the database answers and is migrated', async () => {
    const response = await api(h.app, 'GET', '/readyz');
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { status: 'ready' });
  });
});

describe('GET /openapi.json and GET /docs', () => {
  it('serves an OpenAPI 3.1 document that lists every /api/v1 route the app serves, and no other', async () => {
    const response = await api(h.app, 'GET', '/openapi.json');
    assert.equal(response.status, 200);
    assert.match(response.body.openapi, /^3\.1\./);
    assert.equal(typeof response.body.info.title, 'string');
    const documented: string[] = [];
    for (const [path, operations] of Object.entries(response.body.paths as Record<string, Record<string, unknown>>)) {
      if (!path.startsWith('/api/v1/')) continue;
      for (const method of Object.keys(operations)) {
        if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) documented.push(`${method.toUpperCase()} ${path}`);
      }
    }
    const registered = registeredApiRoutes(h.app);
    // The route tree was read: the routes API.md names are among those registered.
    for (const route of [
      'GET /api/v1/products',
      'POST /api/v1/movements',
      'DELETE /api/v1/categories/{id}',
      'PATCH /api/v1/locations/{id}',
    ]) {
      assert.ok(registered.includes(route), `${route} is registered`);
    }
    assert.deepEqual(documented.sort(), registered);
  });

  it('documents a request body with the same schema that validates it', async () => {
    const spec = (await api(h.app, 'GET', '/openapi.json')).body;
    const schema = spec.paths['/api/v1/products'].post.requestBody.content['application/json'].schema;
    assert.deepEqual([...schema.required].sort(), ['name', 'sku']);
    assert.equal(schema.additionalProperties, false);
    assert.equal(schema.properties.sku.maxLength, 64);
    // What the document says is what the validator does: a 65-character SKU is refused.
    const response = await raw('POST', '/api/v1/products', JSON.stringify({ sku: 'S'.repeat(65), name: 'Long' }), 'application/json');
    assertProblem(response, 422, 'validation_failed');
    assert.deepEqual(
      response.json.errors.map((error: { path: string }) => error.path),
      ['/sku'],
    );
  });

  it('tells on /docs how to authorise, and what it says works: a bearer token writes even beside a session cookie without CSRF', async () => {
    const spec = (await api(h.app, 'GET', '/openapi.json')).body;
    assert.match(spec.info.description, /\*\*Authorize\*\*/);
    assert.match(spec.info.description, /paste the token into \*\*bearer\*\*/);
    assert.match(spec.info.description, /X-CSRF-Token/);

    // What a browser on /docs holds after trying out the login: the session cookie.
    const login = await h.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: TEST_ADMIN });
    assert.equal(login.statusCode, 200);
    const { token } = login.json() as { token: string };
    const cookie = `session=${token}`;
    const body = { code: `DOCS-${Date.now()}`, name: 'Tried out on /docs' };
    const cookieOnly = await h.app.inject({ method: 'POST', url: '/api/v1/locations', payload: body, headers: { cookie } });
    assert.equal(cookieOnly.statusCode, 403);
    const read = await h.app.inject({ method: 'GET', url: '/api/v1/locations?limit=1', headers: { cookie } });
    assert.equal(read.statusCode, 200);
    const authorised = await h.app.inject({
      method: 'POST',
      url: '/api/v1/locations',
      payload: body,
      headers: { cookie, authorization: `Bearer ${token}` },
    });
    assert.equal(authorised.statusCode, 201);
  });

  it('serves the interactive documentation as HTML at /docs', async () => {
    const response = await raw('GET', '/docs');
    assert.equal(response.status, 200);
    assert.match(response.contentType, /^text\/html/);
    assert.match(response.text, /<html/i);
  });
});

describe('GET /metrics', () => {
  it('serves Prometheus text with request latencies, the pool, the event loop and movements written', async () => {
    assert.equal((await api(h.app, 'GET', '/api/v1/locations?limit=1')).status, 200);
    const before = await raw('GET', '/metrics');
    const written = sample(before.text, 'stockroom_movements_written_total', { type: 'inbound' }) ?? 0;

    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const movement = await recordMovement(h.app, {
      type: 'inbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 4 }],
    });
    assert.equal(movement.status, 201);
    // A refused movement is not a movement written.
    const refused = await recordMovement(h.app, {
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 5 }],
    });
    assert.equal(refused.status, 409);

    const response = await raw('GET', '/metrics');
    assert.equal(response.status, 200);
    assert.match(response.contentType, /^text\/plain; version=0\.0\.4/);
    const text = response.text;
    assert.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
    const requests = sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/locations', status: '200' });
    assert.ok(requests !== undefined && requests >= 1, 'the GET /api/v1/locations request is counted by route');
    assert.match(text, /^# TYPE db_pool_connections gauge$/m);
    for (const state of ['in_use', 'idle', 'waiting']) {
      const value = sample(text, 'db_pool_connections', { state });
      assert.ok(value !== undefined && Number.isInteger(value) && value >= 0, `db_pool_connections{state="${state}"}`);
    }
    assert.match(text, /^# TYPE stockroom_movements_written_total counter$/m);
    assert.equal(sample(text, 'stockroom_movements_written_total', { type: 'inbound' }), written + 1);
    assert.equal(sample(text, 'stockroom_movements_written_total', { type: 'outbound' }), undefined);
    const lag = sample(text, 'nodejs_eventloop_lag_seconds');
    assert.ok(lag !== undefined && Number.isFinite(lag) && lag >= 0, 'an event-loop delay metric');
  });
});

describe('errors', () => {
  it('answers malformed JSON with 400 bad_request, and creates nothing', async () => {
    const code = `JSON-${tag()}`;
    const response = await raw('POST', '/api/v1/locations', `{"code": "${code}", "name": `, 'application/json');
    assertProblem(response, 400, 'bad_request');
    assert.deepEqual(await locationsWithCode(code), []);
  });

  it('answers an empty JSON body with 400 bad_request', async () => {
    assertProblem(await raw('POST', '/api/v1/locations', '', 'application/json'), 400, 'bad_request');
  });

  it('answers a text/plain body with 400 bad_request, even when it holds valid JSON, and creates nothing', async () => {
    const code = `TEXT-${tag()}`;
    const response = await raw('POST', '/api/v1/locations', JSON.stringify({ code, name: 'Plain' }), 'text/plain');
    assertProblem(response, 400, 'bad_request');
    assert.deepEqual(await locationsWithCode(code), []);
  });

  it('answers a body of another type with 400 bad_request, and creates nothing', async () => {
    const code = `XML-${tag()}`;
    assertProblem(await raw('POST', '/api/v1/locations', JSON.stringify({ code, name: 'X' }), 'application/xml'), 400, 'bad_request');
    assert.deepEqual(await locationsWithCode(code), []);
  });

  it('answers a body over BODY_LIMIT_BYTES with 413 payload_too_large, and creates nothing', async () => {
    const code = `BIG-${tag()}`;
    const json = JSON.stringify({ code, name: 'Big' });
    // Whitespace keeps the JSON valid: only its size is wrong.
    const response = await raw('POST', '/api/v1/locations', json + ' '.repeat(BODY_LIMIT_BYTES + 1 - json.length), 'application/json');
    assertProblem(response, 413, 'payload_too_large');
    assert.deepEqual(await locationsWithCode(code), []);
  });

  it('accepts a body of exactly BODY_LIMIT_BYTES', async () => {
    const code = `FIT-${tag()}`;
    const json = JSON.stringify({ code, name: 'Fits' });
    const response = await raw('POST', '/api/v1/locations', json + ' '.repeat(BODY_LIMIT_BYTES - json.length), 'application/json');
    assert.equal(response.status, 201, response.text);
    assert.equal((await locationsWithCode(code)).length, 1);
  });

  it('answers an unknown route, and an unknown method on a known path, with a 404 problem', async () => {
    assertProblem(await raw('GET', '/api/v1/warehouses'), 404, 'not_found');
    assertProblem(await raw('GET', '/nothing-here'), 404, 'not_found');
    assertProblem(await raw('DELETE', `/api/v1/locations/${UNKNOWN_ID}`), 404, 'not_found');
  });

  it('answers every kind of failure with a problem document that shows no stack, SQL or internal path', async () => {
    const category = await createCategory(h.app);
    const product = await createProduct(h.app, { categoryId: category.id });
    const location = await createLocation(h.app, { allowNegative: true });
    const sale = await recordMovement(h.app, {
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 1 }],
    });
    assert.equal(sale.status, 201);
    const strict = await createLocation(h.app);
    const json = 'application/json';

    const failures: [RawResponse, number, string][] = [
      [await raw('GET', `/api/v1/products/${UNKNOWN_ID}`), 404, 'not_found'],
      [await raw('GET', '/api/v1/products/not-a-uuid'), 422, 'validation_failed'],
      [await raw('GET', '/api/v1/products?limit=501'), 422, 'validation_failed'],
      [await raw('GET', '/api/v1/products?cursor=not-a-cursor'), 422, 'validation_failed'],
      [await raw('POST', '/api/v1/products', JSON.stringify({ name: 'No SKU', colour: 'red' }), json), 422, 'validation_failed'],
      // Failures the database itself detects: a unique index, a foreign key, a CHECK constraint.
      [await raw('POST', '/api/v1/products', JSON.stringify({ sku: product.sku.toUpperCase(), name: 'Copy' }), json), 409, 'conflict'],
      [await raw('PATCH', `/api/v1/products/${product.id}`, JSON.stringify({ categoryId: UNKNOWN_ID }), json), 404, 'not_found'],
      [await raw('POST', '/api/v1/categories', JSON.stringify({ name: category.name.toLowerCase() }), json), 409, 'conflict'],
      [await raw('PATCH', `/api/v1/locations/${location.id}`, JSON.stringify({ allowNegative: false }), json), 409, 'conflict'],
      [await raw('DELETE', `/api/v1/categories/${category.id}`), 409, 'conflict'],
      [
        await raw(
          'POST',
          '/api/v1/movements',
          JSON.stringify({ type: 'outbound', locationId: strict.id, lines: [{ productId: product.id, quantity: 1 }] }),
          json,
        ),
        409,
        'insufficient_stock',
      ],
      [await raw('POST', '/api/v1/locations', '{"code":', json), 400, 'bad_request'],
      [await raw('POST', '/api/v1/locations', 'code=x', 'text/plain'), 400, 'bad_request'],
      [await raw('POST', '/api/v1/locations', `{"code":"x","name":"${'y'.repeat(BODY_LIMIT_BYTES)}"}`, json), 413, 'payload_too_large'],
      [await raw('GET', '/api/v1/nowhere'), 404, 'not_found'],
    ];
    for (const [response, status, code] of failures) assertProblem(response, status, code);
    const validation = failures[4]![0].json;
    assert.deepEqual(validation.errors.map((error: { path: string }) => error.path).sort(), ['/colour', '/sku']);
    const short = failures[10]![0].json;
    assert.deepEqual(short.lines, [{ productId: product.id, locationId: strict.id, requested: 1, available: 0 }]);
  });
});
