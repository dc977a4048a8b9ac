import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, assertValidationError } from '../../support/assertions.ts';
import { createLocation, createProduct, createUser, USER_PASSWORD } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness } from '../../support/helpers.ts';

// Issue 10, item 10: a user changes its own name and password (PATCH /api/v1/me). A wrong current
// password counts as a failed login (LOGIN_MAX_ATTEMPTS = 5 per account and address here); a
// new password ends the user's other sessions, on every instance (the instances part is
// test/faults/credential-cache.test.ts); API tokens stay.

const LIMIT = 5;
const NEW_PASSWORD = 'a brand new password';

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

type Headers = Record<string, string | undefined>;

let addressCounter = 0;
/** A client address no other test uses, so that one test's failures don't throttle another's. */
const newAddress = () => `10.8.${Math.floor(addressCounter / 250)}.${(addressCounter++ % 250) + 1}`;

/** One request from a client address of the test's choosing (the throttle counts per address). */
async function inject(
  method: 'POST' | 'PATCH' | 'GET',
  url: string,
  payload: unknown,
  headers: Headers,
  remoteAddress: string,
): Promise<ApiResponse> {
  const sent = Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await h.app.inject({
    method,
    url,
    remoteAddress,
    headers: payload === undefined ? sent : { ...sent, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
  return { status: response.statusCode, headers: response.headers, body: response.body === '' ? undefined : JSON.parse(response.body) };
}

const login = (email: string, password: string, address = newAddress()) =>
  inject('POST', '/api/v1/auth/login', { email, password }, {}, address);
const changeMe = (body: unknown, as: Headers, address = newAddress()) => inject('PATCH', '/api/v1/me', body, as, address);
const me = (as: Headers) => api(h.app, 'GET', '/api/v1/me', undefined, as);

async function session(email: string) {
  const response = await login(email, USER_PASSWORD);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const { token, csrfToken } = response.body as { token: string; csrfToken: string };
  return { bearer: { authorization: `Bearer ${token}` }, cookie: { cookie: `session=${token}`, 'x-csrf-token': csrfToken } };
}

async function apiToken(as: Headers) {
  const response = await api(h.app, 'POST', '/api/v1/tokens', { name: 'integration' }, as);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return { authorization: `Bearer ${response.body.token}` };
}

/** The password hash and name as stored: what "nothing changed" is checked against. */
const stored = (id: string) =>
  h.db
    .connection((db) => db.query<{ hash: string; name: string }>('SELECT password_hash AS hash, name FROM users WHERE id = $1', [id]))
    .then((rows) => rows[0]!);
const attemptsOf = (subject: string) =>
  h.db
    .connection((db) => db.query<{ attempts: number }>('SELECT attempts FROM login_attempts WHERE subject = $1', [subject]))
    .then((rows) => rows[0]?.attempts);

describe('PATCH /api/v1/me', () => {
  it('changes the password: answers the user as GET /me does, the old password is refused at login, the new one works', async () => {
    const { user, auth } = await createUser(h.app, { role: 'clerk' });
    const changed = await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, auth);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const current = await me(auth);
    assert.equal(current.status, 200);
    assert.deepEqual(changed.body, current.body);
    assert.deepEqual({ ...changed.body, updatedAt: user.updatedAt }, user, 'nothing but the password (and updatedAt) changed');
    assertProblem(await login(user.email, USER_PASSWORD), 401, 'unauthenticated');
    assert.equal((await login(user.email, NEW_PASSWORD)).status, 200);
  });

  it("ends the user's other sessions at once, cookie or bearer, and keeps the one it came with and the API tokens", async () => {
    const { user, auth } = await createUser(h.app, { role: 'viewer' });
    const second = await session(user.email);
    const third = await session(user.email);
    const token = await apiToken(auth);
    const stranger = await createUser(h.app, { role: 'viewer' });
    // Each is authenticated once, so the instance remembers it: the change must make it forget.
    for (const as of [auth, second.bearer, third.cookie, token, stranger.auth]) assert.equal((await me(as)).status, 200);

    assert.equal((await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, auth)).status, 200);
    assertProblem(await me(second.bearer), 401, 'unauthenticated');
    assertProblem(await me(third.cookie), 401, 'unauthenticated');
    assertProblem(await me(third.bearer), 401, 'unauthenticated');
    assert.equal((await me(auth)).status, 200, 'the session that changed it goes on');
    assert.equal((await me(token)).status, 200, 'API tokens stay');
    assert.equal((await me(stranger.auth)).status, 200, "another user's session is untouched");
  });

  it('with an API token, ends every session of the user and keeps its API tokens', async () => {
    const { user, auth } = await createUser(h.app, { role: 'manager' });
    const other = await session(user.email);
    const token = await apiToken(auth);
    const otherToken = await apiToken(auth);
    assert.equal((await me(other.bearer)).status, 200);
    const changed = await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, token);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assertProblem(await me(auth), 401, 'unauthenticated');
    assertProblem(await me(other.bearer), 401, 'unauthenticated');
    assert.equal((await me(token)).status, 200);
    assert.equal((await me(otherToken)).status, 200);
    assert.equal((await login(user.email, NEW_PASSWORD)).status, 200);
  });

  it('with a session cookie, needs the X-CSRF-Token header (403, nothing changed), and works with it', async () => {
    const { user } = await createUser(h.app, { role: 'viewer' });
    const { cookie } = await session(user.email);
    const before = await stored(user.id);
    const body = { currentPassword: USER_PASSWORD, password: NEW_PASSWORD, name: 'Cookie Monster' };
    assertProblem(await changeMe(body, { cookie: cookie.cookie }), 403, 'forbidden');
    assertProblem(await changeMe(body, { ...cookie, 'x-csrf-token': 'a guess' }), 403, 'forbidden');
    assert.deepEqual(await stored(user.id), before);
    const changed = await changeMe(body, cookie);
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.name, 'Cookie Monster');
    assert.equal((await me(cookie)).status, 200);
  });

  it('renames the user without a password, trimmed, at once for every credential, and ends no session', async () => {
    const { user, auth } = await createUser(h.app, { role: 'manager' });
    const other = await session(user.email);
    const [location, product] = [await createLocation(h.app), await createProduct(h.app)];
    const inbound = () =>
      api(
        h.app,
        'POST',
        '/api/v1/movements',
        { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] },
        other.bearer,
      );
    assert.equal((await inbound()).body.createdBy.name, user.name, 'the instance now remembers the session, and the name');
    const renamed = await changeMe({ name: '  Robin Renamed ' }, auth);
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.name, 'Robin Renamed');
    assert.equal((await me(other.bearer)).body.name, 'Robin Renamed');
    assert.deepEqual((await inbound()).body.createdBy, { id: user.id, name: 'Robin Renamed' }, 'the ledger records the new name at once');
    assert.equal((await login(user.email, USER_PASSWORD)).status, 200);
  });

  it('refuses a wrong currentPassword with 422 at /currentPassword, changes nothing, and counts it as a failed login', async () => {
    const { user, auth } = await createUser(h.app, { role: 'viewer' });
    const other = await session(user.email);
    const before = await stored(user.id);
    const address = newAddress();
    const wrong = await changeMe({ currentPassword: 'not my password', password: NEW_PASSWORD, name: 'Not Renamed' }, auth, address);
    assertValidationError(wrong, '/currentPassword');
    assert.deepEqual(wrong.body.errors, [{ path: '/currentPassword', message: 'is not your current password' }]);
    assert.deepEqual(await stored(user.id), before, 'neither the password nor the name changed');
    assert.equal((await me(other.bearer)).status, 200, 'no session ended');
    assert.equal(await attemptsOf(`pair:user:${user.id}|ip:${address}`), 1);
    assert.equal(await attemptsOf(`user:${user.id}`), 1);
    assert.equal(await attemptsOf(`ip:${address}`), 1);

    // A right one from the same address takes back its own attempt and forgives the pair, as a login does.
    assert.equal((await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, auth, address)).status, 200);
    assert.equal(await attemptsOf(`pair:user:${user.id}|ip:${address}`), undefined);
    assert.equal(await attemptsOf(`user:${user.id}`), 1);
  });

  it('throttles wrong currentPasswords on the login counters: past the limit 429 with Retry-After, for the right one and for a login too', async () => {
    const { user, auth } = await createUser(h.app, { role: 'viewer' });
    const address = newAddress();
    for (let i = 0; i < LIMIT; i += 1) {
      assertValidationError(await changeMe({ currentPassword: `wrong ${i}`, password: NEW_PASSWORD }, auth, address), '/currentPassword');
    }
    const blocked = await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, auth, address);
    assertProblem(blocked, 429, 'rate_limited');
    const retryAfter = Number(blocked.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 900, `Retry-After: ${blocked.headers['retry-after']}`);
    assertProblem(await login(user.email, USER_PASSWORD, address), 429, 'rate_limited');
    assert.equal(await attemptsOf(`pair:user:${user.id}|ip:${address}`), LIMIT, 'a refused attempt counts nothing');
    assertProblem(await login(user.email, NEW_PASSWORD), 401, 'unauthenticated');

    // A login's failures count against a change of password just the same.
    const other = await createUser(h.app, { role: 'viewer' });
    const loginAddress = newAddress();
    for (let i = 0; i < LIMIT; i += 1) assertProblem(await login(other.user.email, `wrong ${i}`, loginAddress), 401, 'unauthenticated');
    assertProblem(
      await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, other.auth, loginAddress),
      429,
      'rate_limited',
    );
    // From another address the account is still open (an account takes four times as many).
    assert.equal((await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, other.auth)).status, 200);
  });

  it('refuses fields a user can not change on itself, and incomplete or invalid bodies, with 422 and changes nothing', async () => {
    const { user, auth } = await createUser(h.app, { role: 'clerk' });
    const before = await stored(user.id);
    const cases: [body: unknown, path: string][] = [
      [{ email: 'new@stockroom.test' }, '/email'],
      [{ role: 'admin' }, '/role'],
      [{ locationIds: [] }, '/locationIds'],
      [{ disabled: true }, '/disabled'],
      [{ name: 'Sneaky', role: 'admin' }, '/role'],
      [{ password: NEW_PASSWORD }, '/currentPassword'],
      [{ currentPassword: USER_PASSWORD }, '/password'],
      [{ currentPassword: USER_PASSWORD, password: 'short' }, '/password'],
      [{ currentPassword: USER_PASSWORD, password: 'x'.repeat(257) }, '/password'],
      [{ name: '   ' }, '/name'],
    ];
    const address = newAddress();
    for (const [body, path] of cases) assertValidationError(await changeMe(body, auth, address), path);
    assertProblem(await changeMe({}, auth, address), 422, 'validation_failed');
    assert.deepEqual(await stored(user.id), before);
    assert.equal((await me(auth)).body.role, 'clerk');
    assert.equal(await attemptsOf(`pair:user:${user.id}|ip:${address}`), undefined, 'no password was checked, so none was counted');
  });

  it('answers 401 without credentials, whatever the body', async () => {
    assertProblem(await changeMe({ role: 'admin' }, {}), 401, 'unauthenticated');
    assertProblem(
      await changeMe({ currentPassword: USER_PASSWORD, password: NEW_PASSWORD }, { authorization: 'Bearer sr_nope' }),
      401,
      'unauthenticated',
    );
  });

  it('is in the OpenAPI document, with its fields described', async () => {
    const document = (await api(h.app, 'GET', '/openapi.json')).body;
    const operation = document.paths['/api/v1/me'].patch;
    assert.ok(operation.description.includes('currentPassword'));
    const body = operation.requestBody.content['application/json'].schema;
    assert.deepEqual(Object.keys(body.properties).sort(), ['currentPassword', 'name', 'password']);
    assert.equal(body.additionalProperties, false);
    assert.ok(body.properties.currentPassword.description.length > 0);
    assert.ok(operation.responses['429'] !== undefined && operation.responses['422'] !== undefined);
  });
});
