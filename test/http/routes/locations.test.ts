import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocation, createProduct, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness } from '../../support/helpers.ts';
import { assertProblem, assertValidationError, tag, TIMESTAMP, UNKNOWN_ID, UUID } from '../../support/assertions.ts';

// Locations of API.md: {id, code, name, allowNegative (default false), archived}, code unique
// case-insensitively; allowNegative can't be switched off while the location holds negative stock.

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

const get = (id: string) => api(h.app, 'GET', `/api/v1/locations/${id}`);

/** Every location the list answers for `query`, following nextCursor to the end. */
async function listAll(query: string, limit = 500) {
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/api/v1/locations?${query}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const response: ApiResponse = await api(h.app, 'GET', url);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    items.push(...response.body.items);
    cursor = response.body.nextCursor;
    pages += 1;
    assert.ok(pages <= 1000, 'the cursor never ends');
  } while (cursor !== null);
  return items;
}

const withCode = async (code: string) =>
  (await listAll('')).filter((location: { code: string }) => location.code.toLowerCase() === code.toLowerCase());

/** The product's level at the location, as GET /products/{id}/stock reports it. */
async function level(productId: string, locationId: string) {
  const response = await api(h.app, 'GET', `/api/v1/products/${productId}/stock`);
  assert.equal(response.status, 200);
  return response.body.levels.find((l: { locationId: string }) => l.locationId === locationId);
}

describe('POST /api/v1/locations', () => {
  it('creates a location that does not allow negative stock unless told, and is not archived', async () => {
    const code = `WH-${tag()}`;
    const response = await api(h.app, 'POST', '/api/v1/locations', { code, name: 'Main warehouse' });
    assert.equal(response.status, 201);
    const { id, createdAt, updatedAt, ...rest } = response.body;
    assert.match(id, UUID);
    assert.match(createdAt, TIMESTAMP);
    assert.equal(updatedAt, createdAt);
    assert.deepEqual(rest, { code, name: 'Main warehouse', allowNegative: false, archived: false });
    assert.deepEqual((await get(id)).body, response.body);
  });

  it('creates a location that allows negative stock when told', async () => {
    const response = await api(h.app, 'POST', '/api/v1/locations', { code: `POS-${tag()}`, name: 'Shop till', allowNegative: true });
    assert.equal(response.status, 201);
    assert.equal(response.body.allowNegative, true);
    assert.equal((await get(response.body.id)).body.allowNegative, true);
  });

  it('trims the name', async () => {
    const response = await api(h.app, 'POST', '/api/v1/locations', { code: `TR-${tag()}`, name: '  Back room  ' });
    assert.equal(response.status, 201);
    assert.equal(response.body.name, 'Back room');
  });

  it('refuses a code that exists, whatever its case, with 409 conflict, and creates nothing', async () => {
    const code = `Store-${tag()}`;
    const first = await createLocation(h.app, { code });
    for (const variant of [code, code.toUpperCase(), code.toLowerCase()]) {
      assertProblem(await api(h.app, 'POST', '/api/v1/locations', { code: variant, name: 'Second' }), 409, 'conflict');
    }
    assert.deepEqual(await withCode(code), [first]);
  });

  it('refuses an unknown field, a code with spaces, a missing name and a non-boolean allowNegative, with 422, and creates nothing', async () => {
    const code = `BAD-${tag()}`;
    assertValidationError(await api(h.app, 'POST', '/api/v1/locations', { code, name: 'N', city: 'Lyon' }), '/city');
    assertValidationError(await api(h.app, 'POST', '/api/v1/locations', { code: `${code} X`, name: 'N' }), '/code');
    assertValidationError(await api(h.app, 'POST', '/api/v1/locations', { code }), '/name');
    assertValidationError(await api(h.app, 'POST', '/api/v1/locations', { code, name: 'N', allowNegative: 'yes' }), '/allowNegative');
    assert.deepEqual(await withCode(code), []);
    assert.deepEqual(await withCode(`${code} X`), []);
  });

  it('refuses a NUL character in the name with 422 at its path, and creates nothing', async () => {
    const code = `NUL-${tag()}`;
    assertValidationError(await api(h.app, 'POST', '/api/v1/locations', { code, name: 'Back\u0000room' }), '/name');
    assert.deepEqual(await withCode(code), []);
  });
});

describe('GET /api/v1/locations/:id', () => {
  it('returns the location', async () => {
    const location = await createLocation(h.app);
    const response = await get(location.id);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, location);
  });

  it('answers 404 for an id that does not exist, and 422 for an id that is not a UUID', async () => {
    assertProblem(await get(UNKNOWN_ID), 404, 'not_found');
    assertValidationError(await get('WH-1'), '/id');
  });
});

describe('GET /api/v1/locations', () => {
  it('pages with limit and an opaque cursor, giving every location exactly once, ordered by code case-insensitively', async () => {
    const t = tag();
    for (const suffix of ['c', 'A', 'e', 'B', 'd']) await createLocation(h.app, { code: `${t}-${suffix}` });
    const everything = await listAll('', 500);
    const paged = await listAll('', 2);
    assert.deepEqual(paged, everything);
    const ids = paged.map((location: { id: string }) => location.id);
    assert.equal(new Set(ids).size, ids.length, 'no location appears twice');
    assert.deepEqual(
      paged.filter((location: { code: string }) => location.code.startsWith(`${t}-`)).map((location: { code: string }) => location.code),
      [`${t}-A`, `${t}-B`, `${t}-c`, `${t}-d`, `${t}-e`],
    );
  });

  it('answers a page of limit items with a string cursor, and null on the last page', async () => {
    await createLocation(h.app);
    await createLocation(h.app);
    const first = await api(h.app, 'GET', '/api/v1/locations?limit=1');
    assert.equal(first.status, 200);
    assert.equal(first.body.items.length, 1);
    assert.equal(typeof first.body.nextCursor, 'string');
    const all = await listAll('');
    const last = await api(h.app, 'GET', `/api/v1/locations?limit=${all.length}`);
    assert.equal(last.body.items.length, all.length);
    assert.equal(last.body.nextCursor, null);
  });

  it('refuses a limit over 500 or of 0, and a cursor it did not issue, with 422', async () => {
    assertValidationError(await api(h.app, 'GET', '/api/v1/locations?limit=501'), '/limit');
    assertValidationError(await api(h.app, 'GET', '/api/v1/locations?limit=0'), '/limit');
    assertValidationError(await api(h.app, 'GET', '/api/v1/locations?cursor=WyJhIiwiYiJd'), '/cursor');
  });
});

describe('PATCH /api/v1/locations/:id', () => {
  it('changes only the fields given', async () => {
    const location = await createLocation(h.app);
    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { name: 'Renamed' });
    assert.equal(response.status, 200);
    assert.deepEqual({ ...response.body, updatedAt: undefined }, { ...location, name: 'Renamed', updatedAt: undefined });
    assert.ok(Date.parse(response.body.updatedAt) >= Date.parse(location.updatedAt));
    assert.deepEqual((await get(location.id)).body, response.body);
  });

  it('changes the code, and lets a location change the case of its own code', async () => {
    const location = await createLocation(h.app, { code: `old-${tag()}` });
    const code = `new-${tag()}`;
    const renamed = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { code });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.code, code);
    const recased = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { code: code.toUpperCase() });
    assert.equal(recased.status, 200);
    assert.equal(recased.body.code, code.toUpperCase());
  });

  it("refuses another location's code, whatever its case, with 409 conflict, and changes nothing", async () => {
    const taken = await createLocation(h.app, { code: `Taken-${tag()}` });
    const location = await createLocation(h.app);
    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { code: taken.code.toLowerCase(), name: 'Changed' });
    assertProblem(response, 409, 'conflict');
    assert.deepEqual((await get(location.id)).body, location);
    assert.deepEqual((await get(taken.id)).body, taken);
  });

  it('archives a location with archived true, and the archived filter then finds it', async () => {
    const location = await createLocation(h.app);
    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { archived: true });
    assert.equal(response.status, 200);
    assert.equal(response.body.archived, true);
    assert.equal((await get(location.id)).body.archived, true);
    const archived = (await listAll('archived=true')).map((l: { id: string }) => l.id);
    const active = (await listAll('archived=false')).map((l: { id: string }) => l.id);
    assert.ok(archived.includes(location.id));
    assert.ok(!active.includes(location.id));
    for (const l of await listAll('archived=true')) assert.equal(l.archived, true);
    for (const l of await listAll('archived=false')) assert.equal(l.archived, false);
  });

  it('refuses a movement into an archived location, and restores it with archived false', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    assert.equal((await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { archived: true })).status, 200);
    assertProblem(
      await recordMovement(h.app, { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
      409,
      'conflict',
    );
    assert.equal(await level(product.id, location.id), undefined);
    const restored = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { archived: false });
    assert.equal(restored.status, 200);
    assert.equal(restored.body.archived, false);
    await stockUp(h.app, product.id, location.id, 1);
  });

  it('allows negative stock once allowNegative is switched on', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const outbound = { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] };
    assertProblem(await recordMovement(h.app, outbound), 409, 'insufficient_stock');
    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { allowNegative: true });
    assert.equal(response.status, 200);
    assert.equal(response.body.allowNegative, true);
    assert.equal((await recordMovement(h.app, outbound)).status, 201);
    assert.equal((await level(product.id, location.id)).onHand, -2);
  });

  it('refuses allowNegative false while the location holds negative stock with 409 conflict, and changes nothing', async () => {
    const location = await createLocation(h.app, { allowNegative: true });
    const product = await createProduct(h.app);
    const sale = await recordMovement(h.app, {
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 3 }],
    });
    assert.equal(sale.status, 201, JSON.stringify(sale.body));
    const before = await level(product.id, location.id);
    assert.equal(before.onHand, -3);

    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { allowNegative: false });
    assertProblem(response, 409, 'conflict');
    assert.deepEqual((await get(location.id)).body, location);
    assert.deepEqual(await level(product.id, location.id), before);
    // The flag is still on: the location still accepts a sale it can't cover.
    const another = await recordMovement(h.app, {
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 1 }],
    });
    assert.equal(another.status, 201);
    assert.equal((await level(product.id, location.id)).onHand, -4);
  });

  it('refuses allowNegative false with other changes while negative stock is held, and applies none of them', async () => {
    const location = await createLocation(h.app, { allowNegative: true });
    const product = await createProduct(h.app);
    const sale = await recordMovement(h.app, {
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 1 }],
    });
    assert.equal(sale.status, 201);
    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, {
      allowNegative: false,
      name: 'Renamed',
      code: `X-${tag()}`,
      archived: true,
    });
    assertProblem(response, 409, 'conflict');
    assert.deepEqual((await get(location.id)).body, location);
  });

  it('accepts allowNegative false once the negative stock is brought back to zero, and then refuses overselling', async () => {
    const location = await createLocation(h.app, { allowNegative: true });
    const product = await createProduct(h.app);
    const outbound = { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] };
    assert.equal((await recordMovement(h.app, outbound)).status, 201);
    assertProblem(await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { allowNegative: false }), 409, 'conflict');
    await stockUp(h.app, product.id, location.id, 2);
    const response = await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { allowNegative: false });
    assert.equal(response.status, 200);
    assert.equal(response.body.allowNegative, false);
    assertProblem(await recordMovement(h.app, outbound), 409, 'insufficient_stock');
    assert.equal((await level(product.id, location.id)).onHand, 0);
  });

  it('refuses an unknown field, a null name and an empty body with 422, and changes nothing', async () => {
    const location = await createLocation(h.app);
    assertValidationError(await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { name: 'X', city: 'Lyon' }), '/city');
    assertValidationError(await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { name: null }), '/name');
    assertProblem(await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, {}), 422, 'validation_failed');
    assert.deepEqual((await get(location.id)).body, location);
  });

  it('answers 404 for a location that does not exist, and 422 for an id that is not a UUID', async () => {
    assertProblem(await api(h.app, 'PATCH', `/api/v1/locations/${UNKNOWN_ID}`, { name: 'Ghost' }), 404, 'not_found');
    assertProblem(await api(h.app, 'PATCH', `/api/v1/locations/${UNKNOWN_ID}`, { allowNegative: true }), 404, 'not_found');
    assertValidationError(await api(h.app, 'PATCH', '/api/v1/locations/nope', { name: 'Ghost' }), '/id');
  });
});
