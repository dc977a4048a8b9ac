import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, assertValidationError, tag, UNKNOWN_ID } from '../../support/assertions.ts';
import { createLocation, createProduct, createUser, stockUp } from '../../support/factories.ts';
import { api, createHarness, type Harness } from '../../support/helpers.ts';

// Issue 10, item 11: an API token limited to locations (POST /api/v1/tokens {locationIds}). It
// reads and moves stock only there, as a clerk does at its own, within its creator's current
// scope; its role alone governs everything else.

type Headers = Record<string, string | undefined>;

let h: Harness;
/** Three locations, and a product stocked at each of them, with the inbound that did it. */
let l1: string;
let l2: string;
let l3: string;
let product: string;
let inbound: Record<string, string>;

before(async () => {
  h = await createHarness();
  [l1, l2, l3] = (await Promise.all([1, 2, 3].map(() => createLocation(h.app)))).map((location) => location.id as string) as [
    string,
    string,
    string,
  ];
  product = (await createProduct(h.app)).id;
  inbound = {};
  for (const location of [l1, l2, l3]) inbound[location] = (await stockUp(h.app, product, location, 100)).id;
});
after(() => h.close());

const sorted = (ids: readonly string[]) => [...ids].sort();
const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` });

async function newToken(as: Headers, fields: Record<string, unknown> = {}) {
  const response = await api(h.app, 'POST', '/api/v1/tokens', { name: `token ${tag()}`, ...fields }, as);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return { ...response.body, auth: bearer(response.body.token) } as {
    id: string;
    role: string;
    locationIds: string[] | null;
    auth: Headers;
  };
}

const move = (as: Headers, fields: Record<string, unknown>) =>
  api(h.app, 'POST', '/api/v1/movements', { type: 'inbound', lines: [{ productId: product, quantity: 1 }], ...fields }, as);
const stockLocations = async (as: Headers) => {
  const response = await api(h.app, 'GET', `/api/v1/stock?productId=${product}`, undefined, as);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return sorted(response.body.items.map((item: { locationId: string }) => item.locationId));
};
const movementCount = () =>
  h.db.connection((db) => db.query<{ count: number }>('SELECT count(*)::int AS count FROM movements')).then((rows) => rows[0]!.count);
const tokenCount = () =>
  h.db
    .connection((db) => db.query<{ count: number }>(`SELECT count(*)::int AS count FROM credentials WHERE kind = 'token'`))
    .then((rows) => rows[0]!.count);

async function setUser(id: string, changes: Record<string, unknown>) {
  const response = await api(h.app, 'PATCH', `/api/v1/users/${id}`, changes);
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

describe('an API token limited to locations', () => {
  it('lists stock, moves stock and reads the ledger only at its locations', async () => {
    const manager = await createUser(h.app, { role: 'manager' });
    const token = await newToken(manager.auth, { locationIds: [l1, l2] });
    assert.deepEqual(token.locationIds, sorted([l1, l2]));

    assert.deepEqual(await stockLocations(token.auth), sorted([l1, l2]));
    assert.deepEqual(await stockLocations(manager.auth), sorted([l1, l2, l3]), 'its creator sees everywhere');
    assertProblem(await api(h.app, 'GET', `/api/v1/stock?locationId=${l3}`, undefined, token.auth), 403, 'forbidden');
    const levels = await api(h.app, 'GET', `/api/v1/products/${product}/stock`, undefined, token.auth);
    assert.deepEqual(sorted(levels.body.levels.map((level: { locationId: string }) => level.locationId)), sorted([l1, l2]));

    const before = await movementCount();
    assertProblem(await move(token.auth, { locationId: l3 }), 403, 'forbidden');
    assertProblem(await move(token.auth, { type: 'transfer', locationId: l1, toLocationId: l3 }), 403, 'forbidden');
    assertProblem(await move(token.auth, { type: 'transfer', locationId: l3, toLocationId: l1 }), 403, 'forbidden');
    assert.equal(await movementCount(), before, 'nothing was written');
    const moved = await move(token.auth, { locationId: l1 });
    assert.equal(moved.status, 201, JSON.stringify(moved.body));
    assert.equal(moved.body.createdBy.id, manager.user.id, 'it acts for its creator');
    assert.equal((await move(token.auth, { type: 'transfer', locationId: l1, toLocationId: l2 })).status, 201);

    const history = await api(h.app, 'GET', `/api/v1/movements?productId=${product}&limit=500`, undefined, token.auth);
    const seen = history.body.items.map((movement: { id: string }) => movement.id);
    assert.ok(seen.includes(inbound[l1]) && seen.includes(inbound[l2]) && !seen.includes(inbound[l3]), JSON.stringify(seen));
    assert.ok(
      history.body.items.every((movement: { locationId: string; toLocationId: string | null }) =>
        [movement.locationId, movement.toLocationId].some((id) => id === l1 || id === l2),
      ),
    );
    assertProblem(await api(h.app, 'GET', `/api/v1/movements/${inbound[l3]}`, undefined, token.auth), 403, 'forbidden');
    assertProblem(await api(h.app, 'GET', `/api/v1/movements?locationId=${l3}`, undefined, token.auth), 403, 'forbidden');
  });

  it('keeps its scope while the instance remembers it: the credential cache carries the limit', async () => {
    const cache = h.credentials;
    assert.ok(cache !== undefined, 'the harness keeps a credential cache, as a server does');
    for (let waited = 0; !cache.live && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    const token = await newToken(h.auth, { locationIds: [l2] });
    const remembered = cache.size;
    for (let i = 0; i < 3; i += 1) {
      assert.deepEqual(await stockLocations(token.auth), [l2]);
      assert.equal(cache.size, remembered + 1, 'the token is remembered after its first request');
      assertProblem(await move(token.auth, { locationId: l1 }), 403, 'forbidden');
    }
  });

  it('shows locationIds in POST and GET /tokens, in id order, and null when not limited', async () => {
    const viewer = await createUser(h.app, { role: 'viewer' });
    const limited = await newToken(viewer.auth, { locationIds: [l3, l1] });
    const unlimited = await newToken(viewer.auth);
    const explicitNull = await newToken(viewer.auth, { locationIds: null });
    assert.deepEqual([limited.locationIds, unlimited.locationIds, explicitNull.locationIds], [sorted([l1, l3]), null, null]);
    const list = await api(h.app, 'GET', '/api/v1/tokens', undefined, viewer.auth);
    assert.deepEqual(
      list.body.items.map((token: { id: string; locationIds: string[] | null }) => [token.id, token.locationIds]),
      [
        [explicitNull.id, null],
        [unlimited.id, null],
        [limited.id, sorted([l1, l3])],
      ],
    );
    assert.deepEqual(await stockLocations(explicitNull.auth), sorted([l1, l2, l3]), 'null is not limited');
  });

  it('a clerk limits a token only to locations of its own: another one is 403, and nothing is made', async () => {
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [l1, l2] });
    const before = await tokenCount();
    for (const locationIds of [[l3], [l1, l3]]) {
      assertProblem(await api(h.app, 'POST', '/api/v1/tokens', { name: 'too far', locationIds }, clerk.auth), 403, 'forbidden');
    }
    assertProblem(await api(h.app, 'POST', '/api/v1/tokens', { name: 'nowhere', locationIds: [UNKNOWN_ID] }, clerk.auth), 403, 'forbidden');
    assert.equal(await tokenCount(), before);
    const token = await newToken(clerk.auth, { locationIds: [l2.toUpperCase()] });
    assert.deepEqual(token.locationIds, [l2], 'ids in any case, stored as the database spells them');
    assert.deepEqual(await stockLocations(token.auth), [l2]);
  });

  it("follows its creator: shrinking a clerk's locations shrinks the token, and growing them never grows it past its limit", async () => {
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [l1, l2] });
    const token = await newToken(clerk.auth, { locationIds: [l1, l2] });
    assert.equal((await move(token.auth, { locationId: l1 })).status, 201);

    await setUser(clerk.user.id, { locationIds: [l2] });
    assertProblem(await move(token.auth, { locationId: l1 }), 403, 'forbidden');
    assert.deepEqual(await stockLocations(token.auth), [l2]);
    assert.equal((await move(token.auth, { locationId: l2 })).status, 201);

    await setUser(clerk.user.id, { locationIds: [l3] });
    assert.deepEqual(await stockLocations(token.auth), [], 'it reaches nothing now');
    for (const locationId of [l1, l2, l3]) assertProblem(await move(token.auth, { locationId }), 403, 'forbidden');

    await setUser(clerk.user.id, { locationIds: [l1, l2, l3] });
    assert.deepEqual(await stockLocations(token.auth), sorted([l1, l2]));
    assertProblem(await move(token.auth, { locationId: l3 }), 403, 'forbidden');
    assert.deepEqual(await stockLocations(clerk.auth), sorted([l1, l2, l3]));
  });

  it('refuses a location that does not exist with 404, an empty or repeating list with 422, and makes nothing', async () => {
    const before = await tokenCount();
    const unknown = await api(h.app, 'POST', '/api/v1/tokens', { name: 'ghost', locationIds: [l1, UNKNOWN_ID] });
    assertProblem(unknown, 404, 'not_found');
    assert.match(unknown.body.detail, /location/);
    assertValidationError(await api(h.app, 'POST', '/api/v1/tokens', { name: 'nothing', locationIds: [] }), '/locationIds');
    assertValidationError(await api(h.app, 'POST', '/api/v1/tokens', { name: 'twice', locationIds: [l1, l1] }), '/locationIds');
    assertValidationError(await api(h.app, 'POST', '/api/v1/tokens', { name: 'odd', locationIds: ['not-an-id'] }), '/locationIds/0');
    assert.equal(await tokenCount(), before);
  });

  it('leaves everything but stock to its role: a limited admin token still writes the catalog and manages users and tokens', async () => {
    const token = await newToken(h.auth, { locationIds: [l1] });
    assert.equal((await api(h.app, 'POST', '/api/v1/categories', { name: `Category ${tag()}` }, token.auth)).status, 201);
    assert.equal((await api(h.app, 'GET', '/api/v1/users', undefined, token.auth)).status, 200);
    assert.equal((await api(h.app, 'GET', '/api/v1/tokens', undefined, token.auth)).status, 200);
    assertProblem(await move(token.auth, { locationId: l2 }), 403, 'forbidden');
    // A limited clerk token of a manager is a clerk at its limit, however wide the manager.
    const manager = await createUser(h.app, { role: 'manager' });
    const clerkToken = await newToken(manager.auth, { role: 'clerk', locationIds: [l3] });
    assert.equal((await move(clerkToken.auth, { locationId: l3 })).status, 201);
    assertProblem(await move(clerkToken.auth, { locationId: l1 }), 403, 'forbidden');
    assertProblem(await api(h.app, 'POST', '/api/v1/categories', { name: `Category ${tag()}` }, clerkToken.auth), 403, 'forbidden');
  });

  it('can make no token wider than itself: others are 403, and one given no locations takes its limit', async () => {
    const manager = await createUser(h.app, { role: 'manager' });
    const token = await newToken(manager.auth, { locationIds: [l1] });
    assertProblem(await api(h.app, 'POST', '/api/v1/tokens', { name: 'wider', locationIds: [l1, l2] }, token.auth), 403, 'forbidden');
    assertProblem(await api(h.app, 'POST', '/api/v1/tokens', { name: 'elsewhere', locationIds: [l2] }, token.auth), 403, 'forbidden');
    const same = await newToken(token.auth, { locationIds: [l1] });
    assert.deepEqual(same.locationIds, [l1]);
    for (const fields of [{}, { locationIds: null }, { role: 'viewer' }]) {
      const child = await newToken(token.auth, fields);
      assert.deepEqual(child.locationIds, [l1], JSON.stringify(fields));
      assert.deepEqual(await stockLocations(child.auth), [l1]);
    }
    // The creator itself, with its session, is not limited by its token.
    assert.equal((await newToken(manager.auth, { locationIds: [l2] })).locationIds?.[0], l2);
  });

  it("passes a clerk-role token's locations on to the tokens it makes: a manager's clerk token can't make a viewer token that reads everywhere", async () => {
    const manager = await createUser(h.app, { role: 'manager', locationIds: [l1] });
    const clerkToken = await newToken(manager.auth, { role: 'clerk' });
    assert.equal(clerkToken.locationIds, null);
    assert.deepEqual(await stockLocations(clerkToken.auth), [l1]);
    const viewerToken = await newToken(clerkToken.auth, { role: 'viewer' });
    assert.deepEqual(viewerToken.locationIds, [l1]);
    assert.deepEqual(await stockLocations(viewerToken.auth), [l1]);
  });

  it('is in the OpenAPI document, described', async () => {
    const document = (await api(h.app, 'GET', '/openapi.json')).body;
    const body = document.paths['/api/v1/tokens'].post.requestBody.content['application/json'].schema;
    assert.match(body.properties.locationIds.description, /locations/);
    const token =
      document.components.schemas.Token ?? Object.values(document.components.schemas).find((schema: any) => schema.$id === 'Token');
    assert.ok(token.properties.locationIds.description.length > 0, JSON.stringify(token));
  });
});
