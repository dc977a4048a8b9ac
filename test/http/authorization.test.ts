import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { ROLES as APP_ROLES } from '../../src/domain/access.ts';
import { hashSecret } from '../../src/domain/secrets.ts';
import { parse } from 'csv-parse/sync';
import { assertProblem, tag, UNKNOWN_ID } from '../support/assertions.ts';
import { createCategory, createLocation, createProduct, createUser, stockUp, USER_PASSWORD } from '../support/factories.ts';
import { api, createHarness, type ApiResponse, type TestApp } from '../support/helpers.ts';
import { multipartForm, solidImage, uploadImage } from '../support/images.ts';

// The authorisation matrix of API.md (Authentication): every /api/v1 route the app registers ×
// every role × its own or another location, where the location matters × every state a
// credential can be in, each with its exact status. The routes come from the app itself: a route
// that TABLE lacks fails the suite, and so does an entry for a route that no longer exists.
// Expectations come from RULES, which restates API.md; never from src/domain/access.ts.

type Role = 'admin' | 'manager' | 'clerk' | 'viewer';
/** Strongest first. */
const ROLES: readonly Role[] = ['admin', 'manager', 'clerk', 'viewer'];
type Where = 'own' | 'other';
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
type Headers = Record<string, string | undefined>;

// ---- The routes, from the app ----------------------------------------------------------------

// The harness is made as the module loads, not in before(): the tests are named after the routes
// the app registers, so the app must exist before they are declared.

/** "METHOD /url" of every route, collected by an onRoute hook added the moment Fastify creates the app. */
const registered: string[] = [];
function collectRoutes(message: unknown) {
  (message as { fastify: TestApp }).fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registered.push(`${method} ${route.url}`);
  });
}
subscribe('fastify.initialization', collectRoutes);
const h = await createHarness().finally(() => unsubscribe('fastify.initialization', collectRoutes));
after(() => h.close());

const apiRoutes = registered.filter((route) => /^\/api\/v1(\/|$)/.test(route.split(' ')[1]!));
/** Fastify answers HEAD on every GET route with that route's options; they are checked apart. */
const headRoutes = apiRoutes.filter((route) => route.startsWith('HEAD '));
const routes = apiRoutes.filter((route) => !route.startsWith('HEAD '));

// ---- The rules: API.md, Authentication --------------------------------------------------------

const OK = 'ok';
/** `ok` is the route's success status; otherwise the refusal. */
type Outcome = typeof OK | 403 | 404;

const RULES = {
  /** POST /auth/login: needs no credentials and looks at none. */
  public: () => OK,
  /** /me and /auth/logout: any authenticated user. */
  self: () => OK,
  /** /tokens: every role, its own tokens; another user's token is "not found" to all but an admin. */
  'own tokens': (role, where) => (where === 'other' && role !== 'admin' ? 404 : OK),
  /** /users: the admin only. */
  users: (role) => (role === 'admin' ? OK : 403),
  /** /webhooks: the admin only (a webhook receives every location's events). */
  webhooks: (role) => (role === 'admin' ? OK : 403),
  /** Categories, products, locations: every role reads them. */
  'catalog read': () => OK,
  /** ... and the admin and managers change them. */
  'catalog write': (role) => (role === 'admin' || role === 'manager' ? OK : 403),
  /** Stock levels and the ledger: every role, a clerk only at its own locations. */
  'stock read': (role, where) => (role === 'clerk' && where === 'other' ? 403 : OK),
  /** Movements: the admin and managers anywhere, a clerk at its own locations (both ends of a transfer), a viewer never. */
  'stock write': (role, where) => (role === 'viewer' || (role === 'clerk' && where === 'other') ? 403 : OK),
} satisfies Record<string, (role: Role, where?: Where) => Outcome>;
type Rule = keyof typeof RULES;

const outcomeOf = (rule: Rule, role: Role, where?: Where): Outcome => (RULES[rule] as (role: Role, where?: Where) => Outcome)(role, where);

// ---- Fixtures and the team --------------------------------------------------------------------

interface Fixtures {
  /** Every test user but the stranger works at own and own2; none at other. */
  own: string;
  own2: string;
  other: string;
  spareLocation: string;
  category: string;
  product: string;
  productSku: string;
  /** A product stocked at own, own2 and other by one inbound each, then 1 moved from other to own. */
  counted: string;
  ledger: { own: string; own2: string; other: string; arriving: string };
  /** The product the movement cases move; plenty of it at every location. */
  moved: string;
  /** One reservation of the moved product at own, own2 and other, all with one reference. */
  reservations: { reference: string; own: string; own2: string; other: string };
  /** A user outside the team: its tokens are "another user's", and the admin renames it. */
  stranger: { id: string; auth: Headers };
  /** A webhook the harness admin made (to a public address: nothing is ever sent in these tests). */
  webhook: string;
  /** A product with an image, and its image's id; nothing in the matrix replaces it. */
  imaged: { product: string; imageId: string };
}

/** The valid ways a user presents itself; each request of the matrix is made in each. */
const FORMS = ['session token', 'API token', 'session cookie'] as const;
type Form = (typeof FORMS)[number];

interface Member {
  role: Role;
  user: { id: string; email: string };
  valid: Record<Form, Headers>;
  /** Credentials that authenticate nobody: 401 on every route but the public one. */
  broken: [state: string, credentials: Headers][];
  /** The live session cookie without CSRF protection: 403 on unsafe methods, the role's answer on safe ones. */
  withoutCsrf: [state: string, credentials: Headers][];
}

let fx: Fixtures;
let team: Record<Role, Member>;

const UNKNOWN_SECRET = `sr_${'A'.repeat(43)}`;
const bearer = (secret: string): Headers => ({ authorization: `Bearer ${secret}` });
const sessionCookie = (session: { token: string; csrfToken: string }): Headers => ({
  cookie: `session=${session.token}`,
  'x-csrf-token': session.csrfToken,
});
const at = (where: Where | undefined) => (where === 'other' ? fx.other : fx.own);
const visibleTo = (role: Role) => (role === 'clerk' ? [fx.own, fx.own2] : [fx.own, fx.own2, fx.other]).sort();
const sql = (text: string, params: unknown[]) => h.db.connection((db) => db.query(text, params));

async function logIn(email: string) {
  const response = await api(h.app, 'POST', '/api/v1/auth/login', { email, password: USER_PASSWORD }, { authorization: undefined });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body as { token: string; csrfToken: string };
}

async function newToken(as: Headers, fields: Record<string, unknown> = {}) {
  const response = await api(h.app, 'POST', '/api/v1/tokens', { name: `token ${tag()}`, ...fields }, as);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body as { id: string; token: string };
}

/** A user of this role at own and own2, its valid credentials, and one of each kind of dead one. */
async function enrol(role: Role): Promise<Member> {
  const locationIds = [fx.own, fx.own2];
  const { user, auth } = await createUser(h.app, { role, locationIds });
  const cookieSession = await logIn(user.email);

  const expiredToken = await newToken(auth, { expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  await sql(`UPDATE credentials SET expires_at = now() - interval '1 minute' WHERE id = $1`, [expiredToken.id]);
  const expiredSession = await logIn(user.email);
  await sql(`UPDATE credentials SET expires_at = now() - interval '1 minute' WHERE secret_hash = $1`, [hashSecret(expiredSession.token)]);
  const revokedToken = await newToken(auth);
  assert.equal((await api(h.app, 'DELETE', `/api/v1/tokens/${revokedToken.id}`, undefined, auth)).status, 204);
  const loggedOut = await logIn(user.email);
  assert.equal((await api(h.app, 'POST', '/api/v1/auth/logout', undefined, bearer(loggedOut.token))).status, 204);
  const disabled = await createUser(h.app, { role, locationIds });
  const disabledToken = await newToken(disabled.auth);
  assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${disabled.user.id}`, { disabled: true })).status, 200);

  return {
    role,
    user,
    valid: {
      'session token': auth,
      'API token': bearer((await newToken(auth, { role })).token),
      'session cookie': sessionCookie(cookieSession),
    },
    broken: [
      ['no credentials', { authorization: undefined }],
      ['an empty Bearer', { authorization: 'Bearer' }],
      ['a Bearer that is no token', { authorization: 'Bearer not-a-token' }],
      ['Basic credentials, the right ones', { authorization: `Basic ${Buffer.from(`${user.email}:${USER_PASSWORD}`).toString('base64')}` }],
      ['a token nobody was given', bearer(UNKNOWN_SECRET)],
      ['a session cookie nobody was given', { cookie: `session=${UNKNOWN_SECRET}`, 'x-csrf-token': cookieSession.csrfToken }],
      ['an expired API token', bearer(expiredToken.token)],
      ['an expired session', bearer(expiredSession.token)],
      ['a revoked API token', bearer(revokedToken.token)],
      ['the session of a disabled user', disabled.auth],
      ['the API token of a disabled user', bearer(disabledToken.token)],
      ['a session after logout', bearer(loggedOut.token)],
      ['a session cookie after logout', sessionCookie(loggedOut)],
    ],
    withoutCsrf: [
      ['the session cookie without X-CSRF-Token', { cookie: `session=${cookieSession.token}` }],
      [
        "the session cookie with another session's X-CSRF-Token",
        { cookie: `session=${cookieSession.token}`, 'x-csrf-token': loggedOut.csrfToken },
      ],
    ],
  };
}

before(async () => {
  const [own, own2, other, spareLocation] = await Promise.all([1, 2, 3, 4].map(() => createLocation(h.app)));
  const [category, product, counted, moved] = await Promise.all([
    createCategory(h.app),
    createProduct(h.app),
    createProduct(h.app),
    createProduct(h.app),
  ]);
  const inbound = (locationId: string) => stockUp(h.app, counted.id, locationId, 10);
  const ledger = { own: (await inbound(own.id)).id, own2: (await inbound(own2.id)).id, other: (await inbound(other.id)).id, arriving: '' };
  const transfer = await api(h.app, 'POST', '/api/v1/movements', {
    type: 'transfer',
    locationId: other.id,
    toLocationId: own.id,
    lines: [{ productId: counted.id, quantity: 1 }],
  });
  assert.equal(transfer.status, 201, JSON.stringify(transfer.body));
  ledger.arriving = transfer.body.id;
  for (const location of [own, own2, other]) await stockUp(h.app, moved.id, location.id, 1_000_000);
  const reference = `matrix-${tag()}`;
  const reservations = {
    reference,
    own: await newReservation(own.id, moved.id, reference),
    own2: await newReservation(own2.id, moved.id, reference),
    other: await newReservation(other.id, moved.id, reference),
  };
  const stranger = await createUser(h.app, { role: 'viewer' });
  await newToken(stranger.auth);
  const webhook = await newWebhook();
  const imaged = await newProductWithImage();
  fx = {
    own: own.id,
    own2: own2.id,
    other: other.id,
    spareLocation: spareLocation.id,
    category: category.id,
    product: product.id,
    productSku: product.sku,
    counted: counted.id,
    ledger,
    moved: moved.id,
    reservations,
    stranger: { id: stranger.user.id, auth: stranger.auth },
    webhook,
    imaged: { product: imaged.id, imageId: imaged.imageUrl.split('/').pop()! },
  };
  const members = await Promise.all(ROLES.map((role) => enrol(role)));
  team = Object.fromEntries(members.map((member) => [member.role, member])) as Record<Role, Member>;
});

/** A CSV file posted as the imports take it (text/csv), its answer parsed. */
async function sendCsv(url: string, csv: string, credentials: Headers): Promise<ApiResponse> {
  const headers = Object.fromEntries(Object.entries(credentials).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await h.app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': 'text/csv' }, payload: csv });
  return { status: response.statusCode, headers: response.headers, body: response.body === '' ? undefined : JSON.parse(response.body) };
}

// ---- The table: how to make a valid request of each route -------------------------------------

interface Context {
  role: Role;
  where: Where | undefined;
  member: Member;
  form: Form;
  /** The member's credentials in this form. */
  as: Headers;
}

interface Request {
  /** Replaces the route's `:id`. */
  id?: string;
  /** Replace the route's other parameters (`:imageId`). */
  params?: Record<string, string>;
  query?: string;
  body?: unknown;
  /** Credentials of the valid request other than the member's own (e.g. a session to end). */
  credentials?: Headers;
}

interface Variant {
  /** What the request does, where a route needs more than one. */
  name?: string;
  rule: Rule;
  /** The status of a permitted request. */
  ok: number;
  /** Where the answer depends on the place: the cases, and how each reads in the test's name. */
  where?: Partial<Record<Where, string>>;
  build?(ctx: Context): Request | Promise<Request>;
  /** What a permitted request must answer besides its status. */
  check?(response: ApiResponse, ctx: Context, request: Request): void | Promise<void>;
  /** How to send it, when not as one request and its whole answer (an event stream never ends). */
  send?(url: string, credentials: Headers): Promise<ApiResponse>;
}

const AT_LOCATION = { own: 'at its own location', other: 'at another location' };

/**
 * Opens an event stream and reads its status and headers, then lets it go (the app's close ends it);
 * a refusal is read whole, as the problem it is.
 */
async function openStream(url: string, credentials: Headers): Promise<ApiResponse> {
  const headers = Object.fromEntries(Object.entries(credentials).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await h.app.inject({ method: 'GET', url, headers, payloadAsStream: true });
  const stream = response.stream();
  if (response.statusCode === 200) {
    stream.destroy();
    return { status: 200, headers: response.headers, body: undefined };
  }
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(text) };
}
/** A CSV download read whole: its records (header first) as the body; a refusal as the problem it is. */
async function downloadCsv(url: string, credentials: Headers): Promise<ApiResponse> {
  const headers = Object.fromEntries(Object.entries(credentials).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await h.app.inject({ method: 'GET', url, headers });
  if (response.statusCode !== 200) return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) };
  assert.match(String(response.headers['content-type']), /^text\/csv/);
  return { status: 200, headers: response.headers, body: parse(response.body, { bom: true }) as string[][] };
}
/** The values of a column of a CSV body, header left out. */
const csvColumn = (response: ApiResponse, column: string) => {
  const [header, ...records] = response.body as string[][];
  const index = header!.indexOf(column);
  assert.ok(index >= 0, `the CSV has a ${column} column`);
  return records.map((record) => record[index]!);
};
const locationCodes = async (ids: string[]) =>
  ((await sql('SELECT code FROM locations WHERE id = ANY($1::uuid[]) ORDER BY code', [ids])) as { code: string }[]).map((row) => row.code);
const isEventStream = (response: ApiResponse) => assert.match(String(response.headers['content-type']), /^text\/event-stream/);
const sorted = (ids: string[]) => [...ids].sort();
const idsOf = (response: ApiResponse) => sorted(response.body.items.map((item: { id: string }) => item.id));

/** A movement of one unit of the moved product. */
const movement = (fields: Record<string, unknown>, quantity = 1): Request => ({
  body: { ...fields, lines: [{ productId: fx.moved, quantity }] },
});
const recordedBy = (response: ApiResponse, { member }: Context) => assert.deepEqual(response.body.createdBy?.id, member.user.id);

/** A reservation of one unit made by the harness admin (plenty is stocked): its id. */
async function newReservation(locationId: string, productId = fx.moved, reference?: string): Promise<string> {
  const response = await api(h.app, 'POST', '/api/v1/reservations', { locationId, lines: [{ productId, quantity: 1 }], reference });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.id;
}

/** A webhook made by the harness admin: its id. */
async function newWebhook(): Promise<string> {
  const response = await api(h.app, 'POST', '/api/v1/webhooks', { url: 'https://93.184.216.34/matrix', events: ['stock.low'] });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.id;
}

/** A small PNG as the multipart form the upload takes. */
const imageForm = async () => multipartForm(await solidImage('png', 8, 8));

/** A product the harness admin made and gave an image. */
async function newProductWithImage(): Promise<{ id: string; imageUrl: string }> {
  const product = await createProduct(h.app);
  const response = await uploadImage(h.app, product.id, await imageForm(), h.auth);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

/** A GET whose success is an image (not JSON): its body is parsed only when it is a problem document. */
async function getPicture(url: string, credentials: Headers): Promise<ApiResponse> {
  const headers = Object.fromEntries(Object.entries(credentials).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await h.app.inject({ method: 'GET', url, headers });
  const isProblem = String(response.headers['content-type']).startsWith('application/problem+json');
  return { status: response.statusCode, headers: response.headers, body: isProblem ? response.json() : undefined };
}

async function freshSession(member: Member, form: Form): Promise<Headers> {
  const session = await logIn(member.user.email);
  return form === 'session cookie' ? sessionCookie(session) : bearer(session.token);
}

const TABLE: Record<string, Variant[]> = {
  'POST /api/v1/auth/login': [
    {
      rule: 'public',
      ok: 200,
      build: ({ member }) => ({ body: { email: member.user.email, password: USER_PASSWORD } }),
      check: (response, { member }) => assert.equal(response.body.user.id, member.user.id),
    },
  ],
  'POST /api/v1/auth/logout': [
    {
      rule: 'self',
      ok: 204,
      // A session logs itself out, so each gets a session of its own; logging out with an API token ends nothing.
      build: async ({ member, form }) => (form === 'API token' ? {} : { credentials: await freshSession(member, form) }),
      check: async (_response, { as, form }, request) => {
        const me = await api(h.app, 'GET', '/api/v1/me', undefined, request.credentials ?? as);
        expectStatus(me, form === 'API token' ? 200 : 401, 'GET /me after logout');
      },
    },
  ],
  'GET /api/v1/me': [
    {
      rule: 'self',
      ok: 200,
      check: (response, { member }) => assert.deepEqual([response.body.id, response.body.role], [member.user.id, member.role]),
    },
  ],
  // A rename only: a new password would end the member's other sessions, which the matrix goes on using.
  'PATCH /api/v1/me': [
    {
      rule: 'self',
      ok: 200,
      build: () => ({ body: { name: `Renamed ${tag()}` } }),
      check: (response, { member }, request) =>
        assert.deepEqual([response.body.id, response.body.name], [member.user.id, (request.body as { name: string }).name]),
    },
  ],

  'GET /api/v1/users': [{ rule: 'users', ok: 200 }],
  'POST /api/v1/users': [
    {
      rule: 'users',
      ok: 201,
      build: () => ({ body: { email: `${tag()}@stockroom.test`, name: 'New user', role: 'viewer', password: USER_PASSWORD } }),
    },
  ],
  'GET /api/v1/users/:id': [{ rule: 'users', ok: 200, build: () => ({ id: fx.stranger.id }) }],
  'PATCH /api/v1/users/:id': [{ rule: 'users', ok: 200, build: () => ({ id: fx.stranger.id, body: { name: `Stranger ${tag()}` } }) }],

  'POST /api/v1/tokens': [
    {
      rule: 'own tokens',
      ok: 201,
      build: () => ({ body: { name: `token ${tag()}` } }),
      check: (response, { member }) => assert.deepEqual([response.body.userId, response.body.role], [member.user.id, member.role]),
    },
  ],
  'GET /api/v1/tokens': [
    {
      rule: 'own tokens',
      ok: 200,
      build: () => ({ query: `userId=${fx.stranger.id}&limit=500` }),
      // userId is an admin's filter; anyone else sees its own tokens whatever it asks.
      check: (response, { member }) => {
        const owners = [...new Set(response.body.items.map((token: { userId: string }) => token.userId))];
        assert.deepEqual(owners, [member.role === 'admin' ? fx.stranger.id : member.user.id]);
      },
    },
  ],
  'DELETE /api/v1/tokens/:id': [
    {
      rule: 'own tokens',
      ok: 204,
      where: { own: 'its own token', other: "another user's token" },
      build: async ({ where, as }) => ({ id: (await newToken(where === 'own' ? as : fx.stranger.auth)).id }),
    },
  ],

  'GET /api/v1/categories': [{ rule: 'catalog read', ok: 200 }],
  'POST /api/v1/categories': [{ rule: 'catalog write', ok: 201, build: () => ({ body: { name: `Category ${tag()}` } }) }],
  'GET /api/v1/categories/:id': [{ rule: 'catalog read', ok: 200, build: () => ({ id: fx.category }) }],
  'PATCH /api/v1/categories/:id': [
    { rule: 'catalog write', ok: 200, build: () => ({ id: fx.category, body: { name: `Category ${tag()}` } }) },
  ],
  'DELETE /api/v1/categories/:id': [{ rule: 'catalog write', ok: 204, build: async () => ({ id: (await createCategory(h.app)).id }) }],

  'GET /api/v1/products': [{ rule: 'catalog read', ok: 200 }],
  'POST /api/v1/products': [{ rule: 'catalog write', ok: 201, build: () => ({ body: { sku: `SKU-${tag()}`, name: 'New product' } }) }],
  'GET /api/v1/products/lookup': [{ rule: 'catalog read', ok: 200, build: () => ({ query: `code=${encodeURIComponent(fx.productSku)}` }) }],
  'GET /api/v1/products/:id': [{ rule: 'catalog read', ok: 200, build: () => ({ id: fx.product }) }],
  'PATCH /api/v1/products/:id': [{ rule: 'catalog write', ok: 200, build: () => ({ id: fx.product, body: { name: `Product ${tag()}` } }) }],
  'DELETE /api/v1/products/:id': [
    {
      rule: 'catalog write',
      ok: 200,
      build: async () => ({ id: (await createProduct(h.app)).id }),
      check: (response) => assert.equal(response.body.archived, true),
    },
  ],
  'PUT /api/v1/products/:id/image': [
    {
      rule: 'catalog write',
      ok: 200,
      build: async () => ({ id: (await createProduct(h.app)).id }),
      send: async (url, credentials) => uploadImage(h.app, url.split('/')[4]!, await imageForm(), credentials),
      check: (response) => assert.match(response.body.imageUrl, /\/image\/[0-9a-f-]{36}$/),
    },
  ],
  'DELETE /api/v1/products/:id/image': [{ rule: 'catalog write', ok: 204, build: async () => ({ id: (await newProductWithImage()).id }) }],
  'GET /api/v1/products/:id/image/:imageId': [
    {
      rule: 'catalog read',
      ok: 200,
      build: () => ({ id: fx.imaged.product, params: { imageId: fx.imaged.imageId } }),
      send: getPicture,
      check: (response) => assert.match(String(response.headers['content-type']), /^image\/(png|webp)$/),
    },
  ],
  'GET /api/v1/products/:id/thumbnail/:imageId': [
    {
      rule: 'catalog read',
      ok: 200,
      build: () => ({ id: fx.imaged.product, params: { imageId: fx.imaged.imageId } }),
      send: getPicture,
      check: (response) => assert.match(String(response.headers['content-type']), /^image\/(png|webp)$/),
    },
  ],
  'GET /api/v1/products/:id/stock': [
    {
      name: 'levels at the locations it may see',
      rule: 'stock read',
      ok: 200,
      build: () => ({ id: fx.counted }),
      check: (response, { role }) => {
        const levels: { locationId: string; onHand: number }[] = response.body.levels;
        const shown = levels.map((level) => level.locationId);
        assert.deepEqual(sorted(shown.filter((id) => [fx.own, fx.own2, fx.other].includes(id))), visibleTo(role));
        if (role === 'clerk') assert.deepEqual(sorted(shown), visibleTo(role));
        assert.equal(
          response.body.total.onHand,
          levels.reduce((sum, level) => sum + level.onHand, 0),
          'the total is of the levels shown',
        );
      },
    },
  ],

  'GET /api/v1/locations': [{ rule: 'catalog read', ok: 200 }],
  'POST /api/v1/locations': [{ rule: 'catalog write', ok: 201, build: () => ({ body: { code: `LOC-${tag()}`, name: 'New location' } }) }],
  // A location is part of the catalog: a clerk reads the others too (it only can't see their stock).
  'GET /api/v1/locations/:id': [{ rule: 'catalog read', ok: 200, where: AT_LOCATION, build: ({ where }) => ({ id: at(where) }) }],
  'PATCH /api/v1/locations/:id': [
    { rule: 'catalog write', ok: 200, build: () => ({ id: fx.spareLocation, body: { name: `Location ${tag()}` } }) },
  ],

  'POST /api/v1/movements': [
    {
      name: 'inbound',
      rule: 'stock write',
      ok: 201,
      where: AT_LOCATION,
      build: ({ where }) => movement({ type: 'inbound', locationId: at(where) }),
      check: recordedBy,
    },
    {
      name: 'outbound',
      rule: 'stock write',
      ok: 201,
      where: AT_LOCATION,
      build: ({ where }) => movement({ type: 'outbound', locationId: at(where) }),
      check: recordedBy,
    },
    {
      name: 'adjustment',
      rule: 'stock write',
      ok: 201,
      where: AT_LOCATION,
      build: ({ where }) => movement({ type: 'adjustment', locationId: at(where), reason: 'damaged' }, -1),
      check: recordedBy,
    },
    {
      name: 'transfer from an own location',
      rule: 'stock write',
      ok: 201,
      where: { own: 'to its own location', other: 'to another location' },
      build: ({ where }) => movement({ type: 'transfer', locationId: fx.own2, toLocationId: at(where) }),
      check: recordedBy,
    },
    {
      name: 'transfer to an own location',
      rule: 'stock write',
      ok: 201,
      where: { own: 'from its own location', other: 'from another location' },
      build: ({ where }) => movement({ type: 'transfer', locationId: at(where), toLocationId: fx.own2 }),
      check: recordedBy,
    },
  ],
  'GET /api/v1/movements': [
    {
      name: 'the movements it may see',
      rule: 'stock read',
      ok: 200,
      build: () => ({ query: `productId=${fx.counted}&limit=500` }),
      check: (response, { role }) => {
        const { own, own2, other, arriving } = fx.ledger;
        assert.deepEqual(idsOf(response), sorted(role === 'clerk' ? [own, own2, arriving] : [own, own2, other, arriving]));
      },
    },
    {
      name: 'filtered by location',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `productId=${fx.counted}&locationId=${at(where)}&limit=500` }),
      check: (response, { where }) =>
        assert.deepEqual(idsOf(response), sorted([where === 'own' ? fx.ledger.own : fx.ledger.other, fx.ledger.arriving])),
    },
  ],
  'GET /api/v1/movements/:id': [
    {
      name: 'an inbound',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ id: where === 'own' ? fx.ledger.own : fx.ledger.other }),
      check: (response, _ctx, request) => assert.equal(response.body.id, request.id),
    },
    // A transfer touches both its ends: a clerk at either end sees it.
    {
      name: 'a transfer from another location',
      rule: 'stock read',
      ok: 200,
      where: { own: 'arriving at its own location' },
      build: () => ({ id: fx.ledger.arriving }),
    },
  ],
  'POST /api/v1/reservations': [
    {
      rule: 'stock write',
      ok: 201,
      where: AT_LOCATION,
      build: ({ where }) => ({ body: { locationId: at(where), lines: [{ productId: fx.moved, quantity: 1 }] } }),
      check: recordedBy,
    },
  ],
  'GET /api/v1/reservations': [
    {
      name: 'the reservations it may see',
      rule: 'stock read',
      ok: 200,
      build: () => ({ query: `reference=${fx.reservations.reference}&limit=500` }),
      check: (response, { role }) => {
        const { own, own2, other } = fx.reservations;
        assert.deepEqual(idsOf(response), sorted(role === 'clerk' ? [own, own2] : [own, own2, other]));
      },
    },
    {
      name: 'filtered by location',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `reference=${fx.reservations.reference}&locationId=${at(where)}` }),
      check: (response, { where }) => assert.deepEqual(idsOf(response), [where === 'own' ? fx.reservations.own : fx.reservations.other]),
    },
  ],
  'GET /api/v1/reservations/:id': [
    {
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ id: where === 'own' ? fx.reservations.own : fx.reservations.other }),
      check: (response, _ctx, request) => assert.equal(response.body.id, request.id),
    },
  ],
  'POST /api/v1/reservations/:id/fulfil': [
    {
      rule: 'stock write',
      ok: 200,
      where: AT_LOCATION,
      build: async ({ where }) => ({ id: await newReservation(at(where)) }),
      check: async (response, { member }) => {
        assert.equal(response.body.status, 'fulfilled');
        const movement = await api(h.app, 'GET', `/api/v1/movements/${response.body.movementId}`);
        assert.equal(movement.body.createdBy.id, member.user.id);
      },
    },
  ],
  'POST /api/v1/reservations/:id/cancel': [
    {
      rule: 'stock write',
      ok: 200,
      where: AT_LOCATION,
      build: async ({ where }) => ({ id: await newReservation(at(where)) }),
      check: (response) => assert.equal(response.body.status, 'cancelled'),
    },
  ],
  'GET /api/v1/events': [
    { name: 'every event it may see', rule: 'stock read', ok: 200, send: openStream, check: isEventStream },
    {
      name: 'the events of a location',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `locationId=${at(where)}&types=stock.changed` }),
      send: openStream,
      check: isEventStream,
    },
  ],
  'POST /api/v1/webhooks': [
    {
      rule: 'webhooks',
      ok: 201,
      build: () => ({ body: { url: 'https://93.184.216.34/matrix', events: ['stock.changed'] } }),
      check: (response) => assert.match(response.body.secret, /^whsec_/),
    },
  ],
  'GET /api/v1/webhooks': [{ rule: 'webhooks', ok: 200 }],
  'GET /api/v1/webhooks/:id': [{ rule: 'webhooks', ok: 200, build: () => ({ id: fx.webhook }) }],
  'PATCH /api/v1/webhooks/:id': [
    { rule: 'webhooks', ok: 200, build: () => ({ id: fx.webhook, body: { description: `Matrix ${tag()}` } }) },
  ],
  'DELETE /api/v1/webhooks/:id': [{ rule: 'webhooks', ok: 204, build: async () => ({ id: await newWebhook() }) }],
  'GET /api/v1/webhooks/:id/deliveries': [{ rule: 'webhooks', ok: 200, build: () => ({ id: fx.webhook }) }],
  'GET /api/v1/stock': [
    {
      name: 'the levels it may see',
      rule: 'stock read',
      ok: 200,
      build: () => ({ query: `productId=${fx.counted}` }),
      check: (response, { role }) =>
        assert.deepEqual(sorted(response.body.items.map((item: { locationId: string }) => item.locationId)), visibleTo(role)),
    },
    {
      name: 'the levels it may see, as of a time',
      rule: 'stock read',
      ok: 200,
      build: () => ({ query: `productId=${fx.counted}&asOf=${new Date().toISOString()}` }),
      check: (response, { role }) =>
        assert.deepEqual(sorted(response.body.items.map((item: { locationId: string }) => item.locationId)), visibleTo(role)),
    },
    {
      name: 'filtered by location',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `productId=${fx.counted}&locationId=${at(where)}` }),
      check: (response, { where }) =>
        assert.deepEqual(
          response.body.items.map((item: { locationId: string }) => item.locationId),
          [at(where)],
        ),
    },
  ],
  'POST /api/v1/import/products': [
    {
      rule: 'catalog write',
      ok: 200,
      send: (url, credentials) => sendCsv(url, `sku,name\nIMPORT-${tag()},Imported\n`, credentials),
      check: (response) => assert.equal(response.body.created, 1),
    },
  ],
  'POST /api/v1/import/stock-counts': [
    {
      rule: 'stock write',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `locationId=${at(where)}` }),
      send: (url, credentials) => sendCsv(url, `sku,countedQuantity\n${fx.productSku},3\n`, credentials),
      check: (response) => assert.equal(response.body.movementIds.length, 1),
    },
  ],
  'GET /api/v1/export/products.csv': [
    {
      rule: 'catalog read',
      ok: 200,
      build: () => ({ query: `q=${encodeURIComponent(fx.productSku)}` }),
      send: downloadCsv,
      check: (response) => assert.deepEqual(csvColumn(response, 'sku'), [fx.productSku]),
    },
  ],
  'GET /api/v1/export/stock.csv': [
    {
      name: 'the levels it may see',
      rule: 'stock read',
      ok: 200,
      send: downloadCsv,
      check: async (response, { role }) => {
        const seen = [...new Set(csvColumn(response, 'location'))].sort();
        const visible = await locationCodes(visibleTo(role));
        if (role === 'clerk') assert.deepEqual(seen, visible);
        else
          assert.ok(
            visible.every((code) => seen.includes(code)),
            'every location is written',
          );
      },
    },
    {
      name: 'filtered by location',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `locationId=${at(where)}&asOf=${new Date().toISOString()}` }),
      send: downloadCsv,
      check: async (response, { where }) =>
        assert.deepEqual([...new Set(csvColumn(response, 'location'))], await locationCodes([at(where)])),
    },
  ],
  'GET /api/v1/export/movements.csv': [
    {
      name: 'the movements it may see',
      rule: 'stock read',
      ok: 200,
      build: () => ({ query: `productId=${fx.counted}` }),
      send: downloadCsv,
      check: (response, { role }) => {
        const { own, own2, other, arriving } = fx.ledger;
        assert.deepEqual(
          sorted(csvColumn(response, 'movementId')),
          sorted(role === 'clerk' ? [own, own2, arriving] : [own, own2, other, arriving]),
        );
      },
    },
    {
      name: 'filtered by location',
      rule: 'stock read',
      ok: 200,
      where: AT_LOCATION,
      build: ({ where }) => ({ query: `productId=${fx.counted}&locationId=${at(where)}` }),
      send: downloadCsv,
      check: (response, { where }) =>
        assert.deepEqual(
          sorted(csvColumn(response, 'movementId')),
          sorted([where === 'own' ? fx.ledger.own : fx.ledger.other, fx.ledger.arriving]),
        ),
    },
  ],
};

// ---- Running it -------------------------------------------------------------------------------

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PROBLEM_CODES: Record<number, string> = { 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found' };

function expectStatus(response: ApiResponse, status: number, label: string) {
  assert.equal(response.status, status, `${label}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  const code = PROBLEM_CODES[status];
  if (code !== undefined) assertProblem(response, status, code);
  if (status === 401) assert.match(String(response.headers['www-authenticate']), /^Bearer realm="stockroom"/, label);
}

const split = (route: string) => route.split(' ') as [Method, string];

function urlOf(route: string, request: Request) {
  const [, url] = split(route);
  let path = request.id === undefined ? url : url.replace(':id', request.id);
  for (const [name, value] of Object.entries(request.params ?? {})) path = path.replace(`:${name}`, value);
  assert.ok(!path.includes(':'), `the table's builder for ${route} gives no id`);
  return request.query === undefined ? path : `${path}?${request.query}`;
}

/**
 * One cell of the matrix, in each valid form: first (once) every dead credential and the cookie
 * without CSRF protection on the very request that then succeeds, which shows that none of them
 * did anything; then the member's own credentials.
 */
async function runCell(route: string, variant: Variant, role: Role, where: Where | undefined) {
  const [method] = split(route);
  const member = team[role];
  const outcome = outcomeOf(variant.rule, role, where);
  const expected = outcome === OK ? variant.ok : outcome;
  const isPublic = variant.rule === 'public';
  for (const form of FORMS) {
    const ctx: Context = { role, where, member, form, as: member.valid[form] };
    const request = await (variant.build?.(ctx) ?? {});
    const send = (credentials: Headers) =>
      variant.send?.(urlOf(route, request), credentials) ?? api(h.app, method, urlOf(route, request), request.body, credentials);
    if (form === FORMS[0]) {
      for (const [state, credentials] of member.broken) expectStatus(await send(credentials), isPublic ? variant.ok : 401, state);
      for (const [state, credentials] of member.withoutCsrf) {
        expectStatus(await send(credentials), UNSAFE.has(method) && !isPublic ? 403 : expected, state);
      }
    }
    const response = await send(request.credentials ?? ctx.as);
    expectStatus(response, expected, `a valid ${form}`);
    if (outcome === OK) await variant.check?.(response, ctx, request);
  }
}

describe('the authorisation matrix', () => {
  it('covers the routes the app registers: every one has an entry, and no entry is stale', () => {
    assert.ok(routes.length > 0, 'no route was collected from the app');
    const missing = routes.filter((route) => !(route in TABLE));
    const stale = Object.keys(TABLE).filter((route) => !routes.includes(route));
    assert.deepEqual(
      { missing, stale },
      { missing: [], stale: [] },
      'routes without a rule in TABLE (missing), entries for routes the app lacks (stale)',
    );
  });

  it('knows every role the app knows', () => {
    assert.deepEqual([...APP_ROLES], ROLES);
  });

  for (const route of routes) {
    describe(route, () => {
      const variants = TABLE[route];
      if (variants === undefined) {
        it('has a rule', () =>
          assert.fail(`${route} is a new route without a declared rule: add it to TABLE in test/authorization.test.ts`));
        return;
      }
      for (const variant of variants) {
        const places: [Where | undefined, string][] =
          variant.where === undefined ? [[undefined, '']] : (Object.entries(variant.where) as [Where, string][]);
        for (const role of ROLES) {
          for (const [where, place] of places) {
            const outcome = outcomeOf(variant.rule, role, where);
            const name = [variant.name, `as ${role}`, place].filter(Boolean).join(', ');
            it(`${name} → ${outcome === OK ? variant.ok : outcome}`, () => runCell(route, variant, role, where));
          }
        }
      }
    });
  }
});

// ---- Before validation ------------------------------------------------------------------------

const GARBAGE_BODIES: [contentType: string, payload: string][] = [
  ['application/json', '{"broken'],
  ['application/json', '{"unexpected": ["field"]}'],
  ['text/plain', 'not JSON at all'],
];

/** The route's request with a malformed id, query and (for methods with one) body, in every garbage variant. */
async function sendGarbage(route: string, credentials: Headers) {
  const [method, url] = split(route);
  const path = `${url.replace(':id', 'not-an-id')}?limit=many&locationId=nowhere`;
  const bodies = method === 'GET' || method === 'DELETE' ? [undefined] : GARBAGE_BODIES;
  const answers: ApiResponse[] = [];
  for (const body of bodies) {
    const headers = Object.fromEntries(Object.entries(credentials).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const response = await h.app.inject({
      method,
      url: path,
      headers: body === undefined ? headers : { ...headers, 'content-type': body[0] },
      payload: body?.[1],
    });
    answers.push({
      status: response.statusCode,
      headers: response.headers,
      body: response.body === '' ? undefined : JSON.parse(response.body),
    });
  }
  return answers;
}

describe('authentication and roles are checked before the request is validated', () => {
  it('a request without valid credentials gets 401 whatever its body, query and path', async () => {
    const closed = routes.filter((route) => TABLE[route]?.some((variant) => variant.rule !== 'public'));
    assert.ok(closed.length > 0);
    for (const route of closed) {
      for (const [state, credentials] of team.viewer.broken) {
        for (const answer of await sendGarbage(route, credentials)) expectStatus(answer, 401, `${route} with ${state}`);
      }
    }
  });

  it('a role the route is closed to gets 403 whatever its body, query and path', async () => {
    let cases = 0;
    for (const [route, [variant]] of Object.entries(TABLE)) {
      for (const role of ROLES.filter((role) => outcomeOf(variant!.rule, role, 'own') === 403)) {
        for (const answer of await sendGarbage(route, team[role].valid['session token'])) expectStatus(answer, 403, `${route} as ${role}`);
        cases += 1;
      }
    }
    assert.ok(cases > 0);
  });

  it('HEAD, which Fastify answers on every GET route, is as closed as its GET', async () => {
    assert.deepEqual(
      headRoutes.filter((route) => !routes.includes(route.replace(/^HEAD /, 'GET '))),
      [],
      'HEAD routes without a GET twin would need rules of their own',
    );
    for (const route of headRoutes) {
      const response = await h.app.inject({ method: 'HEAD', url: urlOf(route, { id: UNKNOWN_ID, params: { imageId: UNKNOWN_ID } }) });
      assert.equal(response.statusCode, 401, route);
    }
  });
});

// ---- API tokens and roles ---------------------------------------------------------------------

const inboundWith = (credentials: Headers, locationId: string) =>
  api(h.app, 'POST', '/api/v1/movements', { type: 'inbound', locationId, lines: [{ productId: fx.moved, quantity: 1 }] }, credentials);
const stockAt = (credentials: Headers, locationId?: string) =>
  api(
    h.app,
    'GET',
    `/api/v1/stock?productId=${fx.counted}${locationId === undefined ? '' : `&locationId=${locationId}`}`,
    undefined,
    credentials,
  );
const locationsOf = (response: ApiResponse) => sorted(response.body.items.map((item: { locationId: string }) => item.locationId));

async function setUser(id: string, changes: Record<string, unknown>) {
  expectStatus(await api(h.app, 'PATCH', `/api/v1/users/${id}`, changes), 200, `PATCH user ${JSON.stringify(changes)}`);
}

describe('API tokens and roles', () => {
  it("a token can't be made with a role above its creator's (403); at or below it, it is made with that role", async () => {
    for (const creator of ROLES) {
      for (const role of ROLES) {
        const response = await api(h.app, 'POST', '/api/v1/tokens', { name: `token ${tag()}`, role }, team[creator].valid['session token']);
        const above = ROLES.indexOf(role) < ROLES.indexOf(creator);
        expectStatus(response, above ? 403 : 201, `a ${creator} making a ${role} token`);
        if (!above) assert.equal(response.body.role, role);
      }
    }
  });

  it('nor can a token make a token above its own role', async () => {
    const viewerToken = bearer((await newToken(team.manager.valid['session token'], { role: 'viewer' })).token);
    for (const role of ['manager', 'clerk'] as const) {
      expectStatus(await api(h.app, 'POST', '/api/v1/tokens', { name: `token ${tag()}`, role }, viewerToken), 403, `a ${role} token`);
    }
    const made = await api(h.app, 'POST', '/api/v1/tokens', { name: `token ${tag()}` }, viewerToken);
    expectStatus(made, 201, 'a token of its own role');
    assert.equal(made.body.role, 'viewer');
  });

  it("a token's role is capped at its creator's current role", async () => {
    const creator = await createUser(h.app, { role: 'manager', locationIds: [fx.own] });
    const token = bearer((await newToken(creator.auth, { role: 'manager' })).token);
    const createCategoryWith = () => api(h.app, 'POST', '/api/v1/categories', { name: `Category ${tag()}` }, token);

    expectStatus(await createCategoryWith(), 201, 'a manager token of a manager');
    await setUser(creator.user.id, { role: 'viewer' });
    expectStatus(await createCategoryWith(), 403, 'its creator now a viewer');
    expectStatus(await inboundWith(token, fx.own), 403, 'its creator now a viewer');
    expectStatus(await stockAt(token, fx.other), 200, 'a viewer reads everywhere');

    await setUser(creator.user.id, { role: 'clerk' });
    expectStatus(await createCategoryWith(), 403, 'its creator now a clerk');
    expectStatus(await inboundWith(token, fx.own), 201, "its creator now a clerk, at the clerk's location");
    expectStatus(await inboundWith(token, fx.other), 403, 'its creator now a clerk, at another location');
    expectStatus(await stockAt(token, fx.other), 403, 'its creator now a clerk, reading another location');

    await setUser(creator.user.id, { role: 'manager' });
    expectStatus(await createCategoryWith(), 201, 'its creator a manager again');
    expectStatus(await inboundWith(token, fx.other), 201, 'its creator a manager again');
  });

  it("a clerk's API token acts at the clerk's current locations", async () => {
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [fx.own] });
    const token = bearer((await newToken(clerk.auth)).token);
    expectStatus(await inboundWith(token, fx.own), 201, 'at its location');
    expectStatus(await inboundWith(token, fx.other), 403, 'at another location');
    expectStatus(await stockAt(token, fx.other), 403, 'reading another location');
    assert.deepEqual(locationsOf(await stockAt(token)), [fx.own]);

    await setUser(clerk.user.id, { locationIds: [fx.other] });
    expectStatus(await inboundWith(token, fx.other), 201, 'at its new location');
    expectStatus(await inboundWith(token, fx.own), 403, 'at its former location');
    assert.deepEqual(locationsOf(await stockAt(token)), [fx.other]);
  });

  it("a clerk's token of a lesser role keeps the clerk's locations: a viewer token reads only there", async () => {
    const token = bearer((await newToken(team.clerk.valid['session token'], { role: 'viewer' })).token);
    expectStatus(await inboundWith(token, fx.own), 403, 'a viewer token records nothing');
    expectStatus(await stockAt(token, fx.own), 200, 'reading its location');
    assert.deepEqual(locationsOf(await stockAt(token)), visibleTo('clerk'), 'the stock it lists');
    expectStatus(await stockAt(token, fx.other), 403, 'reading another location');
    expectStatus(await api(h.app, 'GET', `/api/v1/movements/${fx.ledger.other}`, undefined, token), 403, 'a movement at another location');
  });

  it("a manager's clerk token acts as a clerk at the manager's locations", async () => {
    const token = bearer((await newToken(team.manager.valid['session token'], { role: 'clerk' })).token);
    expectStatus(await inboundWith(token, fx.own), 201, 'at its location');
    expectStatus(await inboundWith(token, fx.other), 403, 'at another location');
    expectStatus(await api(h.app, 'POST', '/api/v1/categories', { name: `Category ${tag()}` }, token), 403, 'a catalog write');
    assert.deepEqual(locationsOf(await stockAt(token)), visibleTo('clerk'));
  });
});
