import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { brokenLevelInvariants, NO_BROKEN_INVARIANTS } from '../../support/ledger.ts';
import { createLocation, createProduct, createUser, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness, type TestApp } from '../../support/helpers.ts';
import { assertProblem, assertValidationError, tag, TIMESTAMP, UNKNOWN_ID, UUID } from '../../support/assertions.ts';

// The specification of the reservations (API.md, Reservations). Every refusal is also checked to
// have written nothing: no level changed and no reservation or movement added. After every test
// each level's reserved is the sum of its active reservations' lines, and its on-hand the sum of
// its ledger. The expiry sweep is off here (the app is built without jobs), so that a reservation
// past its time stays active until a test sweeps: test/jobs/reservation-expiry.test.ts has the job.

interface Level {
  productId: string;
  locationId: string;
  onHand: number;
  reserved: number;
  available: number;
}

let h: Harness;
before(async () => {
  h = await createHarness({}, { jobs: false });
});
after(() => h.close());
afterEach(async () => {
  assert.deepEqual(await h.db.connection((db) => brokenLevelInvariants(db)), NO_BROKEN_INVARIANTS);
});

const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

function reserve(app: TestApp, body: Record<string, unknown>, headers: Record<string, string | undefined> = {}) {
  return api(app, 'POST', '/api/v1/reservations', body, headers);
}
const fulfil = (id: string, headers: Record<string, string | undefined> = {}) =>
  api(h.app, 'POST', `/api/v1/reservations/${id}/fulfil`, undefined, headers);
const cancel = (id: string, headers: Record<string, string | undefined> = {}) =>
  api(h.app, 'POST', `/api/v1/reservations/${id}/cancel`, undefined, headers);

function assertStatus(response: ApiResponse, status: number) {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** The stored level of a product at a location, or undefined when none exists. */
async function levelOf(productId: string, locationId: string): Promise<Level | undefined> {
  const response = await api(h.app, 'GET', `/api/v1/stock?productId=${productId}&locationId=${locationId}`);
  assert.equal(response.status, 200);
  const item = response.body.items[0];
  return item === undefined
    ? undefined
    : { productId: item.productId, locationId: item.locationId, onHand: item.onHand, reserved: item.reserved, available: item.available };
}

/** A product with `quantity` on hand at a new location. */
async function stocked(quantity: number, locationFields: Record<string, unknown> = {}) {
  const location = await createLocation(h.app, locationFields);
  const product = await createProduct(h.app);
  if (quantity > 0) await stockUp(h.app, product.id, location.id, quantity);
  return { location, product };
}

/** What a refusal must leave as it was: the levels of these products, and every reservation and movement. */
async function snapshot(productIds: string[]) {
  const levels = [];
  for (const productId of productIds) levels.push((await api(h.app, 'GET', `/api/v1/stock?productId=${productId}&limit=500`)).body.items);
  const counts = await sql('SELECT (SELECT count(*) FROM reservations)::int AS r, (SELECT count(*) FROM movements)::int AS m');
  return { levels, counts };
}

/** Sets a reservation's expiresAt to a moment past, as if its time had come (the sweep is off here). */
async function pastItsTime(id: string) {
  await sql(`UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

describe('POST /api/v1/reservations', () => {
  it('holds the stock and answers the reservation with the levels after it: reserved up, available down, on hand as it was', async () => {
    const { location, product } = await stocked(10);
    const expiresAt = inAnHour();
    const response = await reserve(h.app, {
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 4 }],
      reference: 'ORDER-1',
      note: 'web order',
      expiresAt,
    });
    const reservation = assertStatus(response, 201);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const { id, createdAt, updatedAt, createdBy, ...rest } = reservation;
    assert.match(id, UUID);
    assert.match(createdAt, TIMESTAMP);
    assert.equal(updatedAt, createdAt);
    const me = (await api(h.app, 'GET', '/api/v1/me')).body;
    assert.deepEqual(createdBy, { id: me.id, name: me.name });
    assert.deepEqual(rest, {
      status: 'active',
      locationId: location.id,
      reference: 'ORDER-1',
      note: 'web order',
      expiresAt,
      movementId: null,
      lines: [{ productId: product.id, quantity: 4 }],
      balances: [{ productId: product.id, locationId: location.id, onHand: 10, reserved: 4, available: 6 }],
    });
    assert.deepEqual(await levelOf(product.id, location.id), reservation.balances[0]);
  });

  it('answers null for what was not given', async () => {
    const { location, product } = await stocked(1);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
      201,
    );
    assert.deepEqual([reservation.reference, reservation.note, reservation.expiresAt], [null, null, null]);
  });

  it('holds several lines at once, answering the balances in (product, location) order', async () => {
    const location = await createLocation(h.app);
    const products = [await createProduct(h.app), await createProduct(h.app), await createProduct(h.app)];
    for (const product of products) await stockUp(h.app, product.id, location.id, 5);
    const reservation = assertStatus(
      await reserve(h.app, {
        locationId: location.id,
        lines: products.map((product, index) => ({ productId: product.id, quantity: index + 1 })),
      }),
      201,
    );
    assert.deepEqual(
      reservation.lines,
      products.map((product, index) => ({ productId: product.id, quantity: index + 1 })),
      'the lines in the order given',
    );
    const expected = products
      .map((product, index) => ({ productId: product.id, locationId: location.id, onHand: 5, reserved: index + 1, available: 4 - index }))
      .sort((a, b) => (a.productId < b.productId ? -1 : 1));
    assert.deepEqual(reservation.balances, expected);
  });

  it('lets an outbound take only what is not reserved', async () => {
    const { location, product } = await stocked(10);
    assertStatus(await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 7 }] }), 201);
    const refused = await recordMovement(h.app, {
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 4 }],
    });
    assertProblem(refused, 409, 'insufficient_stock');
    assert.deepEqual(refused.body.lines, [{ productId: product.id, locationId: location.id, requested: 4, available: 3 }]);
    assertStatus(
      await recordMovement(h.app, { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 3 }] }),
      201,
    );
    assert.deepEqual(await levelOf(product.id, location.id), {
      productId: product.id,
      locationId: location.id,
      onHand: 7,
      reserved: 7,
      available: 0,
    });
  });

  it('refuses the whole reservation with insufficient_stock when any line is short, naming every short line, and writes nothing', async () => {
    const location = await createLocation(h.app);
    const [plenty, short, none] = [await createProduct(h.app), await createProduct(h.app), await createProduct(h.app)];
    await stockUp(h.app, plenty.id, location.id, 100);
    await stockUp(h.app, short.id, location.id, 2);
    assertStatus(await reserve(h.app, { locationId: location.id, lines: [{ productId: short.id, quantity: 1 }] }), 201);
    const before = await snapshot([plenty.id, short.id, none.id]);

    const refused = await reserve(h.app, {
      locationId: location.id,
      lines: [
        { productId: plenty.id, quantity: 10 },
        { productId: short.id, quantity: 2 },
        { productId: none.id, quantity: 1 },
      ],
    });

    assertProblem(refused, 409, 'insufficient_stock');
    assert.match(refused.body.detail, /nothing was written/);
    const lines = [...refused.body.lines].sort((a: { productId: string }, b: { productId: string }) =>
      a.productId < b.productId ? -1 : 1,
    );
    assert.deepEqual(
      lines,
      [
        { productId: short.id, locationId: location.id, requested: 2, available: 1 },
        { productId: none.id, locationId: location.id, requested: 1, available: 0 },
      ].sort((a, b) => (a.productId < b.productId ? -1 : 1)),
    );
    assert.deepEqual(await snapshot([plenty.id, short.id, none.id]), before);
    assert.equal(await levelOf(none.id, location.id), undefined, 'no level is left behind for a product never stocked there');
  });

  it('holds more than is on hand where the location allows negative stock, as an outbound may take it', async () => {
    const { location, product } = await stocked(2, { allowNegative: true });
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 5 }] }),
      201,
    );
    assert.deepEqual(reservation.balances, [{ productId: product.id, locationId: location.id, onHand: 2, reserved: 5, available: -3 }]);
    const fulfilled = assertStatus(await fulfil(reservation.id), 200);
    assert.deepEqual(fulfilled.balances, [{ productId: product.id, locationId: location.id, onHand: -3, reserved: 0, available: -3 }]);
  });

  it('refuses a product given twice (422) and writes nothing', async () => {
    const { location, product } = await stocked(10);
    const before = await snapshot([product.id]);
    const refused = await reserve(h.app, {
      locationId: location.id,
      lines: [
        { productId: product.id, quantity: 1 },
        { productId: product.id, quantity: 2 },
      ],
    });
    assertValidationError(refused, '/lines/1/productId');
    assert.deepEqual(await snapshot([product.id]), before);
  });

  it('refuses no lines, more than 1000 lines, a quantity below 1 or not whole, and unknown fields (422)', async () => {
    const { location, product } = await stocked(10);
    const before = await snapshot([product.id]);
    const line = { productId: product.id, quantity: 1 };
    assertValidationError(await reserve(h.app, { locationId: location.id, lines: [] }), '/lines');
    const many = Array.from({ length: 1001 }, (_, index) => ({
      productId: `0190a5b2-7c3e-7000-8000-${String(index).padStart(12, '0')}`,
      quantity: 1,
    }));
    assertValidationError(await reserve(h.app, { locationId: location.id, lines: many }), '/lines');
    assertValidationError(await reserve(h.app, { locationId: location.id, lines: [{ ...line, quantity: 0 }] }), '/lines/0/quantity');
    assertValidationError(await reserve(h.app, { locationId: location.id, lines: [{ ...line, quantity: -1 }] }), '/lines/0/quantity');
    assertValidationError(await reserve(h.app, { locationId: location.id, lines: [{ ...line, quantity: 1.5 }] }), '/lines/0/quantity');
    assertProblem(await reserve(h.app, { locationId: location.id, lines: [line], status: 'fulfilled' }), 422, 'validation_failed');
    assertProblem(await reserve(h.app, { lines: [line] }), 422, 'validation_failed');
    assert.deepEqual(await snapshot([product.id]), before);
  });

  it('refuses an expiresAt that is not in the future (422), and one that is not a timestamp', async () => {
    const { location, product } = await stocked(10);
    const before = await snapshot([product.id]);
    const lines = [{ productId: product.id, quantity: 1 }];
    assertValidationError(
      await reserve(h.app, { locationId: location.id, lines, expiresAt: new Date(Date.now() - 1000).toISOString() }),
      '/expiresAt',
    );
    assertValidationError(await reserve(h.app, { locationId: location.id, lines, expiresAt: '0001-01-01T00:00:00Z' }), '/expiresAt');
    assertValidationError(await reserve(h.app, { locationId: location.id, lines, expiresAt: 'tomorrow' }), '/expiresAt');
    assertValidationError(await reserve(h.app, { locationId: location.id, lines, expiresAt: '2099-02-30T00:00:00Z' }), '/expiresAt');
    assert.deepEqual(await snapshot([product.id]), before);
  });

  it('reads an expiresAt with an offset as the instant it names', async () => {
    const { location, product } = await stocked(1);
    const reservation = assertStatus(
      await reserve(h.app, {
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 1 }],
        expiresAt: '2099-06-01T12:00:00.5+02:00',
      }),
      201,
    );
    assert.equal(reservation.expiresAt, '2099-06-01T10:00:00.500Z');
  });

  it('answers 404 for an unknown product or location, 409 at an archived location, and writes nothing', async () => {
    const { location, product } = await stocked(10);
    const before = await snapshot([product.id]);
    assertProblem(await reserve(h.app, { locationId: location.id, lines: [{ productId: UNKNOWN_ID, quantity: 1 }] }), 404, 'not_found');
    assertProblem(await reserve(h.app, { locationId: UNKNOWN_ID, lines: [{ productId: product.id, quantity: 1 }] }), 404, 'not_found');
    assert.deepEqual(await snapshot([product.id]), before);

    const archived = await createLocation(h.app);
    assertStatus(await api(h.app, 'PATCH', `/api/v1/locations/${archived.id}`, { archived: true }), 200);
    assertProblem(await reserve(h.app, { locationId: archived.id, lines: [{ productId: product.id, quantity: 1 }] }), 409, 'conflict');
  });

  it('holds an archived product, which may still be taken out of stock', async () => {
    const { location, product } = await stocked(3);
    assertStatus(await api(h.app, 'DELETE', `/api/v1/products/${product.id}`), 200);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 3 }] }),
      201,
    );
    assertStatus(await fulfil(reservation.id), 200);
  });

  it('replays the first answer byte for byte for a repeat with the same Idempotency-Key, holding the stock once', async () => {
    const { location, product } = await stocked(10);
    const body = { locationId: location.id, lines: [{ productId: product.id, quantity: 3 }], reference: tag() };
    const key = `reserve-${tag()}`;
    const first = await h.app.inject({
      method: 'POST',
      url: '/api/v1/reservations',
      headers: { ...h.auth, 'content-type': 'application/json', 'idempotency-key': key },
      payload: JSON.stringify(body),
    });
    assert.equal(first.statusCode, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const again = await h.app.inject({
      method: 'POST',
      url: '/api/v1/reservations',
      headers: { ...h.auth, 'content-type': 'application/json', 'idempotency-key': key },
      payload: JSON.stringify(body),
    });
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    assert.equal((await levelOf(product.id, location.id))?.reserved, 3);
    const listed = await api(h.app, 'GET', `/api/v1/reservations?reference=${body.reference}`);
    assert.equal(listed.body.items.length, 1);

    const reused = await reserve(h.app, { ...body, lines: [{ productId: product.id, quantity: 4 }] }, { 'idempotency-key': key });
    assertProblem(reused, 422, 'idempotency_key_reused');
    assert.equal((await levelOf(product.id, location.id))?.reserved, 3);
  });

  it('leaves the Idempotency-Key free after a refusal, for a retry once the cause is fixed', async () => {
    const { location, product } = await stocked(1);
    const body = { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] };
    const key = `reserve-${tag()}`;
    assertProblem(await reserve(h.app, body, { 'idempotency-key': key }), 409, 'insufficient_stock');
    await stockUp(h.app, product.id, location.id, 1);
    const retried = await reserve(h.app, body, { 'idempotency-key': key });
    assertStatus(retried, 201);
    assert.equal(retried.headers['idempotent-replayed'], undefined);
  });

  it('lets a clerk reserve at its own locations only (403 elsewhere, and nothing written)', async () => {
    const own = await stocked(5);
    const other = await stocked(5);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [own.location.id] });
    const before = await snapshot([other.product.id]);
    assertProblem(
      await reserve(h.app, { locationId: other.location.id, lines: [{ productId: other.product.id, quantity: 1 }] }, clerk.auth),
      403,
      'forbidden',
    );
    assert.deepEqual(await snapshot([other.product.id]), before);
    const made = assertStatus(
      await reserve(h.app, { locationId: own.location.id, lines: [{ productId: own.product.id, quantity: 1 }] }, clerk.auth),
      201,
    );
    assert.equal(made.createdBy.id, clerk.user.id);
  });
});

describe('POST /api/v1/reservations/{id}/fulfil', () => {
  it('writes the outbound movement and releases the hold in one step: on hand down, reserved released, available as it was', async () => {
    const { location, product } = await stocked(10);
    const reservation = assertStatus(
      await reserve(h.app, {
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 4 }],
        reference: 'ORDER-7',
        note: 'gift',
      }),
      201,
    );
    const response = await fulfil(reservation.id);
    const fulfilled = assertStatus(response, 200);
    assert.match(fulfilled.movementId, UUID);
    const { movementId, updatedAt, balances, ...rest } = fulfilled;
    assert.match(updatedAt, TIMESTAMP);
    const { movementId: _none, updatedAt: _created, balances: _held, ...asReserved } = reservation;
    assert.deepEqual(rest, { ...asReserved, status: 'fulfilled' });
    assert.deepEqual(balances, [{ productId: product.id, locationId: location.id, onHand: 6, reserved: 0, available: 6 }]);
    assert.deepEqual(await levelOf(product.id, location.id), balances[0]);

    const movement = assertStatus(await api(h.app, 'GET', `/api/v1/movements/${movementId}`), 200);
    assert.deepEqual(
      [movement.type, movement.locationId, movement.reference, movement.note, movement.lines],
      ['outbound', location.id, 'ORDER-7', 'gift', [{ productId: product.id, quantity: 4 }]],
    );
    const got = assertStatus(await api(h.app, 'GET', `/api/v1/reservations/${reservation.id}`), 200);
    assert.deepEqual(got, { ...rest, movementId, updatedAt }, 'GET answers it as fulfilled, without the balances');
  });

  it('refuses to fulfil a reservation that is not active (409 naming its status), and writes nothing', async () => {
    const { location, product } = await stocked(10);
    const fulfilled = assertStatus(await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }), 201);
    assertStatus(await fulfil(fulfilled.id), 200);
    const cancelled = assertStatus(await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }), 201);
    assertStatus(await cancel(cancelled.id), 200);
    const before = await snapshot([product.id]);

    const again = await fulfil(fulfilled.id);
    assertProblem(again, 409, 'conflict');
    assert.match(again.body.detail, /is fulfilled/);
    const afterCancel = await fulfil(cancelled.id);
    assertProblem(afterCancel, 409, 'conflict');
    assert.match(afterCancel.body.detail, /is cancelled/);
    assert.deepEqual(await snapshot([product.id]), before);
  });

  it('refuses a fulfil that arrives after expiresAt, even before the sweep has released the hold', async () => {
    const { location, product } = await stocked(10);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }], expiresAt: inAnHour() }),
      201,
    );
    await pastItsTime(reservation.id);
    const before = await snapshot([product.id]);
    const refused = await fulfil(reservation.id);
    assertProblem(refused, 409, 'conflict');
    assert.match(refused.body.detail, /is expired/);
    assertProblem(await cancel(reservation.id), 409, 'conflict');
    assert.deepEqual(await snapshot([product.id]), before, 'the hold stays until the sweep releases it');
    assert.equal((await api(h.app, 'GET', `/api/v1/reservations/${reservation.id}`)).body.status, 'active');
  });

  it('fulfils a reservation whose expiresAt is still to come', async () => {
    const { location, product } = await stocked(10);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }], expiresAt: inAnHour() }),
      201,
    );
    assert.equal(assertStatus(await fulfil(reservation.id), 200).status, 'fulfilled');
  });

  it('answers 404 for a reservation that does not exist, and 422 for an id that is not one', async () => {
    assertProblem(await fulfil(UNKNOWN_ID), 404, 'not_found');
    assertProblem(await fulfil('not-an-id'), 422, 'validation_failed');
  });

  it('replays the first answer byte for byte for a repeat with the same Idempotency-Key, writing one movement', async () => {
    const { location, product } = await stocked(10);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 3 }] }),
      201,
    );
    const key = `fulfil-${tag()}`;
    const send = () =>
      h.app.inject({
        method: 'POST',
        url: `/api/v1/reservations/${reservation.id}/fulfil`,
        headers: { ...h.auth, 'idempotency-key': key },
      });
    const first = await send();
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const again = await send();
    assert.equal(again.statusCode, 200);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.body, first.body);
    const movements = await api(h.app, 'GET', `/api/v1/movements?productId=${product.id}&type=outbound`);
    assert.equal(movements.body.items.length, 1);
    assert.equal((await levelOf(product.id, location.id))?.onHand, 7);

    // The same key on another reservation is another request.
    const other = assertStatus(await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }), 201);
    assertProblem(await fulfil(other.id, { 'idempotency-key': key }), 422, 'idempotency_key_reused');
  });

  it('lets a clerk fulfil at its own locations only (403 elsewhere)', async () => {
    const own = await stocked(5);
    const other = await stocked(5);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [own.location.id] });
    const there = assertStatus(
      await reserve(h.app, { locationId: other.location.id, lines: [{ productId: other.product.id, quantity: 1 }] }),
      201,
    );
    const here = assertStatus(
      await reserve(h.app, { locationId: own.location.id, lines: [{ productId: own.product.id, quantity: 1 }] }),
      201,
    );
    const before = await snapshot([other.product.id]);
    assertProblem(await fulfil(there.id, clerk.auth), 403, 'forbidden');
    assertProblem(await cancel(there.id, clerk.auth), 403, 'forbidden');
    assert.deepEqual(await snapshot([other.product.id]), before);
    const fulfilled = assertStatus(await fulfil(here.id, clerk.auth), 200);
    const movement = assertStatus(await api(h.app, 'GET', `/api/v1/movements/${fulfilled.movementId}`), 200);
    assert.equal(movement.createdBy.id, clerk.user.id, 'the movement is recorded for whoever fulfilled');
  });

  it('refuses to fulfil at a location archived since (409), and leaves the hold for a cancel', async () => {
    const { location, product } = await stocked(5);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] }),
      201,
    );
    assertStatus(await api(h.app, 'PATCH', `/api/v1/locations/${location.id}`, { archived: true }), 200);
    const before = await snapshot([product.id]);
    assertProblem(await fulfil(reservation.id), 409, 'conflict');
    assert.deepEqual(await snapshot([product.id]), before);
    assert.equal(assertStatus(await cancel(reservation.id), 200).status, 'cancelled');
  });
});

describe('POST /api/v1/reservations/{id}/cancel', () => {
  it('releases the hold and answers the reservation, cancelled', async () => {
    const { location, product } = await stocked(10);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 6 }] }),
      201,
    );
    const cancelled = assertStatus(await cancel(reservation.id), 200);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.movementId, null);
    assert.deepEqual(cancelled.balances, [{ productId: product.id, locationId: location.id, onHand: 10, reserved: 0, available: 10 }]);
    assert.deepEqual(await levelOf(product.id, location.id), cancelled.balances[0]);
  });

  it('refuses a reservation that is not active (409 naming its status), and 404 for one that does not exist', async () => {
    const { location, product } = await stocked(10);
    const reservation = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
      201,
    );
    assertStatus(await cancel(reservation.id), 200);
    const before = await snapshot([product.id]);
    const again = await cancel(reservation.id);
    assertProblem(again, 409, 'conflict');
    assert.match(again.body.detail, /is cancelled/);
    assert.deepEqual(await snapshot([product.id]), before);
    assertProblem(await cancel(UNKNOWN_ID), 404, 'not_found');
  });
});

describe('GET /api/v1/reservations and /api/v1/reservations/{id}', () => {
  it('gets a reservation as it was answered, without the balances', async () => {
    const { location, product } = await stocked(3);
    const { balances: _, ...reservation } = assertStatus(
      await reserve(h.app, { locationId: location.id, lines: [{ productId: product.id, quantity: 1 }], reference: tag() }),
      201,
    );
    assert.deepEqual(assertStatus(await api(h.app, 'GET', `/api/v1/reservations/${reservation.id}`), 200), reservation);
    assertProblem(await api(h.app, 'GET', `/api/v1/reservations/${UNKNOWN_ID}`), 404, 'not_found');
  });

  it('lists newest first, filtered by status, location, product and reference, paging with the cursor', async () => {
    const location = await createLocation(h.app);
    const [a, b] = [await createProduct(h.app), await createProduct(h.app)];
    await stockUp(h.app, a.id, location.id, 100);
    await stockUp(h.app, b.id, location.id, 100);
    const reference = tag();
    const made = [];
    for (let index = 0; index < 5; index += 1) {
      const lines = index % 2 === 0 ? [{ productId: a.id, quantity: 1 }] : [{ productId: b.id, quantity: 1 }];
      made.push(assertStatus(await reserve(h.app, { locationId: location.id, lines, reference }), 201));
    }
    assertStatus(await cancel(made[1].id), 200);
    assertStatus(await fulfil(made[2].id), 200);
    const newestFirst = [...made].reverse().map((r) => r.id);

    const list = async (query: string) => {
      const items = [];
      let cursor: string | null = null;
      do {
        const page: ApiResponse = await api(
          h.app,
          'GET',
          `/api/v1/reservations?${query}&limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        );
        assertStatus(page, 200);
        assert.ok(page.body.items.length <= 2);
        items.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      return items;
    };
    const ids = async (query: string) => (await list(query)).map((r: { id: string }) => r.id);

    assert.deepEqual(await ids(`reference=${reference}`), newestFirst);
    assert.deepEqual(await ids(`locationId=${location.id}`), newestFirst);
    assert.deepEqual(await ids(`productId=${a.id}`), [made[4].id, made[2].id, made[0].id]);
    assert.deepEqual(await ids(`reference=${reference}&status=active`), [made[4].id, made[3].id, made[0].id]);
    assert.deepEqual(await ids(`reference=${reference}&status=cancelled`), [made[1].id]);
    assert.deepEqual(await ids(`reference=${reference}&status=fulfilled&productId=${a.id}`), [made[2].id]);
    assert.deepEqual(await ids(`reference=${reference}&status=expired`), []);
    const listed = await list(`reference=${reference}`);
    assert.deepEqual(listed[2].lines, [{ productId: a.id, quantity: 1 }]);
    assert.equal(listed[2].status, 'fulfilled');
    assert.match(listed[2].movementId, UUID);
  });

  it('refuses a cursor it did not issue and a status it does not know (422)', async () => {
    assertProblem(await api(h.app, 'GET', '/api/v1/reservations?cursor=bogus'), 422, 'validation_failed');
    assertProblem(await api(h.app, 'GET', '/api/v1/reservations?status=pending'), 422, 'validation_failed');
  });

  it("shows a clerk the reservations at its own locations only: 403 for another's, and a list without them", async () => {
    const own = await stocked(5);
    const other = await stocked(5);
    const reference = tag();
    const here = assertStatus(
      await reserve(h.app, { locationId: own.location.id, lines: [{ productId: own.product.id, quantity: 1 }], reference }),
      201,
    );
    const there = assertStatus(
      await reserve(h.app, { locationId: other.location.id, lines: [{ productId: other.product.id, quantity: 1 }], reference }),
      201,
    );
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [own.location.id] });
    assertStatus(await api(h.app, 'GET', `/api/v1/reservations/${here.id}`, undefined, clerk.auth), 200);
    assertProblem(await api(h.app, 'GET', `/api/v1/reservations/${there.id}`, undefined, clerk.auth), 403, 'forbidden');
    const listed = assertStatus(await api(h.app, 'GET', `/api/v1/reservations?reference=${reference}`, undefined, clerk.auth), 200);
    assert.deepEqual(
      listed.items.map((r: { id: string }) => r.id),
      [here.id],
    );
    assertProblem(await api(h.app, 'GET', `/api/v1/reservations?locationId=${other.location.id}`, undefined, clerk.auth), 403, 'forbidden');
    const viewer = await createUser(h.app, { role: 'viewer' });
    const seen = assertStatus(await api(h.app, 'GET', `/api/v1/reservations?reference=${reference}`, undefined, viewer.auth), 200);
    assert.equal(seen.items.length, 2, 'a viewer reads every location');
  });
});
