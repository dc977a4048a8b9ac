import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashSecret } from '../../../src/domain/secrets.ts';
import { DEMO_ADMIN_EMAIL, ensureFirstAdmin } from '../../../src/first-admin.ts';
import { assertProblem, TIMESTAMP, UNKNOWN_ID, UUID } from '../../support/assertions.ts';
import { createLocation, createProduct, createUser, stockUp, USER_PASSWORD } from '../../support/factories.ts';
import { api, createHarness, createTestDatabase, TEST_ADMIN, type ApiResponse, type Harness } from '../../support/helpers.ts';

// Issue 4: logging in, sessions and their cookies, CSRF, failed-login throttling, users, API
// tokens, the first admin, and security headers. Which role may call which route is the
// authorisation matrix (authorization.test.ts); how throttling counts, login-throttling.test.ts.

let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

const anonymous = { authorization: undefined };
let addressCounter = 0;
/** A client address of its own, so that one test's failed logins don't throttle another's. */
const newAddress = () => `10.0.${Math.floor(addressCounter / 250)}.${(addressCounter++ % 250) + 1}`;

async function login(email: string, password: string, remoteAddress = newAddress()): Promise<ApiResponse> {
  const response = await h.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ email, password }),
    remoteAddress,
  });
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body) };
}

/** The cookies a response sets, by name: value and attributes. */
function cookiesOf(response: ApiResponse): Map<string, { value: string; attributes: string[] }> {
  const header = response.headers['set-cookie'];
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [String(header)];
  return new Map(
    lines.map((line) => {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const [name, ...value] = pair!.split('=');
      return [name!, { value: value.join('='), attributes: attributes.map((a) => a.toLowerCase()) }];
    }),
  );
}

const query = <T>(sql: string, params: unknown[] = []) => h.db.connection((db) => db.query<T>(sql, params));

describe('POST /api/v1/auth/login', () => {
  it('answers a bearer token, a CSRF token, the expiry and the user, and sets the session cookies', async () => {
    const response = await login(TEST_ADMIN.email, TEST_ADMIN.password);
    assert.equal(response.status, 200);
    const { token, csrfToken, expiresAt, user } = response.body;
    assert.match(token, /^sr_[A-Za-z0-9_-]{43}$/, '256 random bits');
    assert.equal(typeof csrfToken, 'string');
    assert.match(expiresAt, TIMESTAMP);
    const hours = (Date.parse(expiresAt) - Date.now()) / 3_600_000;
    assert.ok(hours > 11.9 && hours <= 12, `expires in SESSION_TTL_HOURS (12): ${hours}`);
    assert.deepEqual(Object.keys(user).sort(), ['createdAt', 'disabled', 'email', 'id', 'locationIds', 'name', 'role', 'updatedAt']);
    assert.equal(user.role, 'admin');

    const cookies = cookiesOf(response);
    const session = cookies.get('session');
    assert.equal(session?.value, token, 'the cookie holds the same session as the bearer token');
    for (const attribute of ['httponly', 'samesite=lax', 'path=/']) assert.ok(session!.attributes.includes(attribute), attribute);
    assert.ok(!session!.attributes.includes('secure'), 'no Secure flag over plain HTTP');
    const csrf = cookies.get('csrf_token');
    assert.equal(csrf?.value, csrfToken);
    assert.ok(!csrf!.attributes.includes('httponly'), 'the page script can read the CSRF token');
  });

  it('takes the email case-insensitively', async () => {
    assert.equal((await login(TEST_ADMIN.email.toUpperCase(), TEST_ADMIN.password)).status, 200);
  });

  it('answers the same 401 for an unknown email, a wrong password and a disabled user', async () => {
    const { user } = await createUser(h.app, { role: 'viewer' });
    assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${user.id}`, { disabled: true })).status, 200);
    const unknown = await login('nobody@stockroom.test', USER_PASSWORD);
    const wrong = await login(user.email, 'not the password');
    const disabled = await login(user.email, USER_PASSWORD);
    assertProblem(unknown, 401, 'unauthenticated');
    assert.deepEqual(wrong.body, unknown.body);
    assert.deepEqual(disabled.body, unknown.body);
    assert.equal(wrong.headers['set-cookie'], undefined);
  });

  it('throttles a client address after four times as many failures over any accounts', async () => {
    const address = newAddress();
    for (let i = 0; i < 20; i += 1) assert.equal((await login(`guess-${i}@stockroom.test`, 'wrong password', address)).status, 401);
    assertProblem(await login(TEST_ADMIN.email, TEST_ADMIN.password, address), 429, 'rate_limited');
  });

  it('stores the password as an Argon2id hash with its own salt, never the password', async () => {
    const first = await createUser(h.app, { role: 'viewer' });
    const second = await createUser(h.app, { role: 'viewer' });
    const rows = await query<{ hash: string }>('SELECT password_hash AS hash FROM users WHERE id = ANY($1::uuid[])', [
      [first.user.id, second.user.id],
    ]);
    for (const { hash } of rows) {
      assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.ok(!hash.includes(USER_PASSWORD));
    }
    assert.notEqual(rows[0]!.hash, rows[1]!.hash, 'the same password hashes differently');
  });

  it('refuses a body without email or password with 422, and gives no session', async () => {
    const response = await api(h.app, 'POST', '/api/v1/auth/login', { email: TEST_ADMIN.email }, anonymous);
    assertProblem(response, 422, 'validation_failed');
  });
});

describe('sessions and the session cookie', () => {
  async function session() {
    const response = await login(TEST_ADMIN.email, TEST_ADMIN.password);
    const cookie = `session=${response.body.token}; csrf_token=${response.body.csrfToken}`;
    return { token: response.body.token as string, csrfToken: response.body.csrfToken as string, cookie };
  }

  it('authenticates safe requests by the cookie alone', async () => {
    const { cookie } = await session();
    const me = await api(h.app, 'GET', '/api/v1/me', undefined, { cookie });
    assert.equal(me.status, 200);
    assert.equal(me.body.email, TEST_ADMIN.email);
  });

  it('refuses an unsafe cookie-authenticated request without the right X-CSRF-Token with 403, and writes nothing', async () => {
    const { cookie, csrfToken } = await session();
    const body = { code: `CSRF-${Date.now()}`, name: 'CSRF test' };
    assertProblem(await api(h.app, 'POST', '/api/v1/locations', body, { cookie }), 403, 'forbidden');
    assertProblem(await api(h.app, 'POST', '/api/v1/locations', body, { cookie, 'x-csrf-token': 'guess' }), 403, 'forbidden');
    const other = await session();
    assertProblem(await api(h.app, 'POST', '/api/v1/locations', body, { cookie, 'x-csrf-token': other.csrfToken }), 403, 'forbidden');
    const list = await api(h.app, 'GET', '/api/v1/locations?limit=500');
    assert.ok(!list.body.items.some((location: { code: string }) => location.code === body.code), 'nothing was written');
    assert.equal((await api(h.app, 'POST', '/api/v1/locations', body, { cookie, 'x-csrf-token': csrfToken })).status, 201);
  });

  it('needs no CSRF token with a bearer token', async () => {
    const { token } = await session();
    const response = await api(
      h.app,
      'POST',
      '/api/v1/locations',
      { code: `BEARER-${Date.now()}`, name: 'Bearer' },
      { authorization: `Bearer ${token}` },
    );
    assert.equal(response.status, 201);
  });

  it('logout answers 204, clears the cookies, and ends the session for the cookie and the bearer token alike', async () => {
    const { token, cookie, csrfToken } = await session();
    const response = await api(h.app, 'POST', '/api/v1/auth/logout', undefined, { cookie, 'x-csrf-token': csrfToken });
    assert.equal(response.status, 204);
    const cleared = cookiesOf(response).get('session');
    assert.equal(cleared?.value, '');
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, { cookie }), 401, 'unauthenticated');
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token}` }), 401, 'unauthenticated');
  });

  it('ends a session at its expiry, remembered or not', async () => {
    const { token } = await session();
    const [{ expiresAt }] = await query<{ expiresAt: Date }>(
      `UPDATE credentials SET expires_at = now() + interval '1 second' WHERE secret_hash = $1 RETURNING expires_at AS "expiresAt"`,
      [hashSecret(token)],
    );
    // Authenticated once, so the instance remembers it (AUTH_CACHE_TTL_S is well past the expiry).
    assert.equal((await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token}` })).status, 200);
    await sleep(expiresAt.getTime() - Date.now() + 50);
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token}` }), 401, 'unauthenticated');
  });

  it('answers 401 with WWW-Authenticate to a request without credentials, whatever its body', async () => {
    const response = await api(h.app, 'POST', '/api/v1/movements', { not: 'a movement' }, anonymous);
    assertProblem(response, 401, 'unauthenticated');
    assert.match(String(response.headers['www-authenticate']), /^Bearer/);
    assertProblem(await api(h.app, 'POST', '/api/v1/movements', '{"broken', anonymous), 401, 'unauthenticated');
    for (const authorization of ['Bearer', 'Bearer sr_nope', 'Basic YWRtaW46YWRtaW4=', `Bearer sr_${'A'.repeat(43)}`]) {
      assertProblem(await api(h.app, 'GET', '/api/v1/products', undefined, { authorization }), 401, 'unauthenticated');
    }
  });
});

describe('users', () => {
  it('an admin creates, reads, lists and changes users; the password never appears', async () => {
    const location = await createLocation(h.app);
    const email = `Clerk-${Date.now()}@Stockroom.test`;
    const created = await api(h.app, 'POST', '/api/v1/users', {
      email,
      name: 'Casey Clerk',
      role: 'clerk',
      locationIds: [location.id],
      password: USER_PASSWORD,
    });
    assert.equal(created.status, 201);
    assert.match(created.body.id, UUID);
    assert.deepEqual(
      { email: created.body.email, role: created.body.role, locationIds: created.body.locationIds, disabled: created.body.disabled },
      { email, role: 'clerk', locationIds: [location.id], disabled: false },
    );
    assert.ok(!JSON.stringify(created.body).includes(USER_PASSWORD) && !('password' in created.body) && !('passwordHash' in created.body));
    assert.deepEqual((await api(h.app, 'GET', `/api/v1/users/${created.body.id}`)).body, created.body);

    const changed = await api(h.app, 'PATCH', `/api/v1/users/${created.body.id}`, {
      role: 'manager',
      locationIds: [],
      name: 'Casey Manager',
    });
    assert.equal(changed.status, 200);
    assert.deepEqual([changed.body.role, changed.body.locationIds, changed.body.name], ['manager', [], 'Casey Manager']);

    const managers = await api(h.app, 'GET', '/api/v1/users?role=manager&limit=500');
    assert.ok(managers.body.items.some((user: { id: string }) => user.id === created.body.id));
    assert.ok(managers.body.items.every((user: { role: string }) => user.role === 'manager'));
  });

  it('pages through users by email with a cursor', async () => {
    for (let i = 0; i < 3; i += 1) await createUser(h.app, { role: 'viewer' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await api(h.app, 'GET', `/api/v1/users?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.equal(page.status, 200);
      seen.push(...page.body.items.map((user: { email: string }) => user.email.toLowerCase()));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(new Set(seen).size, seen.length);
  });

  it('refuses a taken email (case-insensitively) with 409, an unknown location with 404, a short password with 422', async () => {
    const { user } = await createUser(h.app, { role: 'viewer' });
    assertProblem(
      await api(h.app, 'POST', '/api/v1/users', { email: user.email.toUpperCase(), name: 'Twin', role: 'viewer', password: USER_PASSWORD }),
      409,
      'conflict',
    );
    assertProblem(
      await api(h.app, 'POST', '/api/v1/users', {
        email: `x${Date.now()}@stockroom.test`,
        name: 'X',
        role: 'clerk',
        locationIds: [UNKNOWN_ID],
        password: USER_PASSWORD,
      }),
      404,
      'not_found',
    );
    assertProblem(
      await api(h.app, 'POST', '/api/v1/users', { email: `y${Date.now()}@stockroom.test`, name: 'Y', role: 'viewer', password: 'short' }),
      422,
      'validation_failed',
    );
    assertProblem(
      await api(h.app, 'POST', '/api/v1/users', {
        email: `z${Date.now()}@stockroom.test`,
        name: 'Z',
        role: 'owner',
        password: USER_PASSWORD,
      }),
      422,
      'validation_failed',
    );
    assertProblem(await api(h.app, 'GET', `/api/v1/users/${UNKNOWN_ID}`), 404, 'not_found');
  });

  it('keeps the last active admin: it can be neither demoted nor disabled', async () => {
    const me = (await api(h.app, 'GET', '/api/v1/me')).body;
    const admins = await api(h.app, 'GET', '/api/v1/users?role=admin&disabled=false&limit=500');
    // Other tests may have made admins: disable all but the harness admin first.
    for (const admin of admins.body.items.filter((user: { id: string }) => user.id !== me.id)) {
      assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${admin.id}`, { disabled: true })).status, 200);
    }
    assertProblem(await api(h.app, 'PATCH', `/api/v1/users/${me.id}`, { role: 'manager' }), 409, 'conflict');
    assertProblem(await api(h.app, 'PATCH', `/api/v1/users/${me.id}`, { disabled: true }), 409, 'conflict');
    assert.equal((await api(h.app, 'GET', '/api/v1/me')).body.role, 'admin');
    // With a second admin, the first may step down.
    const second = await createUser(h.app, { role: 'admin' });
    const demoted = await api(h.app, 'PATCH', `/api/v1/users/${second.user.id}`, { role: 'manager' }, second.auth);
    assert.equal(demoted.status, 200);
  });

  it('disabling a user ends its sessions and API tokens at once; enabling it again does not revive them', async () => {
    const { user, auth } = await createUser(h.app, { role: 'manager' });
    const token = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'integration' }, auth)).body.token;
    assert.equal((await api(h.app, 'GET', '/api/v1/me', undefined, auth)).status, 200);
    assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${user.id}`, { disabled: true })).status, 200);
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, auth), 401, 'unauthenticated');
    assertProblem(await api(h.app, 'GET', '/api/v1/products', undefined, { authorization: `Bearer ${token}` }), 401, 'unauthenticated');
    assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${user.id}`, { disabled: false })).status, 200);
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, auth), 401, 'unauthenticated');
    assertProblem(await api(h.app, 'GET', '/api/v1/products', undefined, { authorization: `Bearer ${token}` }), 401, 'unauthenticated');
  });

  it('a new password ends the user’s sessions but not its API tokens', async () => {
    const { user, auth } = await createUser(h.app, { role: 'viewer' });
    const token = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'dashboard' }, auth)).body.token;
    assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${user.id}`, { password: 'an entirely new password' })).status, 200);
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, auth), 401, 'unauthenticated');
    assert.equal((await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token}` })).status, 200);
    assertProblem(await login(user.email, USER_PASSWORD), 401, 'unauthenticated');
    assert.equal((await login(user.email, 'an entirely new password')).status, 200);
  });

  it('GET /me answers the current user, for every role', async () => {
    const { user, auth } = await createUser(h.app, { role: 'viewer' });
    const me = await api(h.app, 'GET', '/api/v1/me', undefined, auth);
    assert.deepEqual(me.body, user);
  });
});

describe('API tokens', () => {
  it('shows the secret once, stores only its hash, and lists tokens without it', async () => {
    const { auth } = await createUser(h.app, { role: 'manager' });
    const created = await api(h.app, 'POST', '/api/v1/tokens', { name: 'till integration' }, auth);
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^sr_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      [created.body.name, created.body.role, created.body.lastUsedAt, created.body.expiresAt],
      ['till integration', 'manager', null, null],
    );
    const list = await api(h.app, 'GET', '/api/v1/tokens', undefined, auth);
    assert.deepEqual(
      list.body.items.map((token: { id: string }) => token.id),
      [created.body.id],
    );
    assert.ok(!JSON.stringify(list.body).includes(created.body.token));
    const stored = await query<{ text: string }>('SELECT row_to_json(c)::text AS text FROM credentials c WHERE id = $1', [created.body.id]);
    assert.ok(!stored[0]!.text.includes(created.body.token.slice(3)), 'the secret is not stored');
  });

  it('acts with its own role, never above its creator’s, and records when it was last used', async () => {
    const { user, auth } = await createUser(h.app, { role: 'manager' });
    assertProblem(await api(h.app, 'POST', '/api/v1/tokens', { name: 'too strong', role: 'admin' }, auth), 403, 'forbidden');
    const viewer = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'read only', role: 'viewer' }, auth)).body;
    const manager = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'writer' }, auth)).body;
    const location = { code: `TOK-${Date.now()}`, name: 'Token test' };
    assertProblem(await api(h.app, 'POST', '/api/v1/locations', location, { authorization: `Bearer ${viewer.token}` }), 403, 'forbidden');
    assert.equal((await api(h.app, 'GET', '/api/v1/locations', undefined, { authorization: `Bearer ${viewer.token}` })).status, 200);

    // The creator is demoted: its manager token can do no more than a viewer now.
    assert.equal((await api(h.app, 'PATCH', `/api/v1/users/${user.id}`, { role: 'viewer' })).status, 200);
    assertProblem(await api(h.app, 'POST', '/api/v1/locations', location, { authorization: `Bearer ${manager.token}` }), 403, 'forbidden');

    const listed = await api(h.app, 'GET', `/api/v1/tokens?userId=${user.id}`);
    const used = listed.body.items.find((token: { id: string }) => token.id === viewer.id);
    assert.match(used.lastUsedAt, TIMESTAMP);
  });

  it('is revoked at once by DELETE, which answers 204; another user’s token is not found', async () => {
    const owner = await createUser(h.app, { role: 'clerk' });
    const stranger = await createUser(h.app, { role: 'manager' });
    const token = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'scanner' }, owner.auth)).body;
    assertProblem(await api(h.app, 'DELETE', `/api/v1/tokens/${token.id}`, undefined, stranger.auth), 404, 'not_found');
    assert.equal((await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token.token}` })).status, 200);
    assert.equal((await api(h.app, 'DELETE', `/api/v1/tokens/${token.id}`, undefined, owner.auth)).status, 204);
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token.token}` }), 401, 'unauthenticated');
    assertProblem(await api(h.app, 'DELETE', `/api/v1/tokens/${token.id}`, undefined, owner.auth), 404, 'not_found');
  });

  it('an admin sees and revokes everyone’s tokens', async () => {
    const owner = await createUser(h.app, { role: 'viewer' });
    const token = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'report' }, owner.auth)).body;
    const all = await api(h.app, 'GET', '/api/v1/tokens?limit=500');
    assert.ok(all.body.items.some((item: { id: string }) => item.id === token.id));
    assert.equal((await api(h.app, 'DELETE', `/api/v1/tokens/${token.id}`)).status, 204);
  });

  it('expires at expiresAt, which must be in the future', async () => {
    assertProblem(
      await api(h.app, 'POST', '/api/v1/tokens', { name: 'past', expiresAt: '2020-01-01T00:00:00.000Z' }),
      422,
      'validation_failed',
    );
    const soon = new Date(Date.now() + 1500).toISOString();
    const token = (await api(h.app, 'POST', '/api/v1/tokens', { name: 'brief', expiresAt: soon })).body;
    assert.equal(token.expiresAt, soon);
    assert.equal((await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token.token}` })).status, 200);
    await sleep(Date.parse(soon) - Date.now() + 100);
    assertProblem(await api(h.app, 'GET', '/api/v1/me', undefined, { authorization: `Bearer ${token.token}` }), 401, 'unauthenticated');
  });
});

describe('who did what', () => {
  it('every movement records its author, shown in the history', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const clerk = await createUser(h.app, { role: 'clerk', locationIds: [location.id] });
    await stockUp(h.app, product.id, location.id, 5);
    const sold = await api(
      h.app,
      'POST',
      '/api/v1/movements',
      { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 2 }] },
      clerk.auth,
    );
    assert.equal(sold.status, 201);
    assert.deepEqual(sold.body.createdBy, { id: clerk.user.id, name: clerk.user.name });
    const history = await api(h.app, 'GET', `/api/v1/movements?productId=${product.id}`);
    const admin = (await api(h.app, 'GET', '/api/v1/me')).body;
    assert.deepEqual(
      history.body.items.map((movement: { type: string; createdBy: unknown }) => [movement.type, movement.createdBy]),
      [
        ['outbound', { id: clerk.user.id, name: clerk.user.name }],
        ['inbound', { id: admin.id, name: admin.name }],
      ],
    );
  });

  it('keeps Idempotency-Keys per user: the same key from two users writes two movements', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const other = await createUser(h.app, { role: 'manager' });
    const movement = { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] };
    const key = `shared-${Date.now()}`;
    const mine = await api(h.app, 'POST', '/api/v1/movements', movement, { 'idempotency-key': key });
    const theirs = await api(h.app, 'POST', '/api/v1/movements', movement, { 'idempotency-key': key, ...other.auth });
    assert.equal(mine.status, 201);
    assert.equal(theirs.status, 201);
    assert.equal(theirs.headers['idempotent-replayed'], undefined);
    assert.notEqual(mine.body.id, theirs.body.id);
  });
});

describe('security headers', () => {
  it('sets helmet’s headers on API answers and on the documentation page', async () => {
    for (const url of ['/api/v1/products', '/docs/', '/healthz']) {
      const response = await h.app.inject({ method: 'GET', url, headers: h.auth });
      assert.equal(response.statusCode, 200, url);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', url);
      assert.match(String(response.headers['content-security-policy']), /default-src 'self'/, url);
      assert.ok(!String(response.headers['content-security-policy']).includes('upgrade-insecure-requests'), url);
      assert.equal(response.headers['x-frame-options'], 'SAMEORIGIN', url);
      assert.ok(response.headers['strict-transport-security'] !== undefined, url);
    }
  });
});

describe('behind a TLS proxy (TRUST_PROXY)', () => {
  let proxied: Harness;
  before(async () => {
    proxied = await createHarness({ trustProxy: 1 });
  });
  after(() => proxied.close());

  it('marks the session cookies Secure when the request came over HTTPS, and throttles the client’s own address', async () => {
    const response = await proxied.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' },
      payload: JSON.stringify(TEST_ADMIN),
    });
    assert.equal(response.statusCode, 200);
    const session = cookiesOf({ status: 200, headers: response.headers, body: undefined }).get('session');
    assert.ok(session!.attributes.includes('secure'));
    const subjects = await proxied.db.connection((db) => db.query<{ subject: string }>('SELECT subject FROM login_attempts'));
    assert.ok(
      subjects.some((row) => row.subject === 'ip:203.0.113.9'),
      JSON.stringify(subjects),
    );
  });
  it('takes the right-most X-Forwarded-For entry, so a client can neither choose its address nor dodge throttling', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 30; i += 1) {
      const response = await proxied.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `192.0.2.${i}, 198.51.100.7` },
        payload: JSON.stringify({ email: `nobody-${i}@example.com`, password: 'wrong password' }),
      });
      statuses.push(response.statusCode);
    }
    assert.ok(statuses.includes(429), `throttled: ${statuses.join(' ')}`);
    const subjects = await proxied.db.connection((db) => db.query<{ subject: string }>('SELECT subject FROM login_attempts'));
    assert.ok(
      subjects.some((row) => row.subject.includes('198.51.100.7')),
      JSON.stringify(subjects),
    );
    assert.ok(!subjects.some((row) => row.subject.includes('192.0.2.')), JSON.stringify(subjects));
  });
});

describe('the first admin', () => {
  it('comes from STOCKROOM_ADMIN_EMAIL and _PASSWORD on a database without users, and only then', async () => {
    const t = await createTestDatabase({ adminEmail: 'boss@example.com', adminPassword: 'boss password 1' });
    try {
      const log = { info: () => undefined, warn: () => undefined } as never;
      await ensureFirstAdmin(t.db, t.config, log, () => assert.fail('prints nothing'));
      await ensureFirstAdmin(t.db, { ...t.config, adminEmail: 'other@example.com' }, log, () => assert.fail('prints nothing'));
      const users = await t.db.connection((db) => db.query<{ email: string; role: string }>('SELECT email, role FROM users'));
      assert.deepEqual(users, [{ email: 'boss@example.com', role: 'admin' }]);
    } finally {
      await t.destroy();
    }
  });

  it('is a demo admin on the embedded database when none is configured, its password printed once', async () => {
    const t = await createTestDatabase({ adminEmail: undefined, adminPassword: undefined });
    try {
      const printed: string[] = [];
      const log = { info: () => undefined, warn: () => undefined } as never;
      const config = { ...t.config, databaseUrl: undefined };
      await ensureFirstAdmin(t.db, config, log, (text: string) => printed.push(text));
      await ensureFirstAdmin(t.db, config, log, (text: string) => printed.push(text));
      assert.equal(printed.length, 1, 'printed once');
      assert.match(printed[0]!, new RegExp(`email: +${DEMO_ADMIN_EMAIL}`));
      const password = /password: +(\S+)/.exec(printed[0]!)?.[1];
      assert.ok(password !== undefined && password.length >= 16);
      const users = await t.db.connection((db) => db.query<{ email: string; role: string }>('SELECT email, role FROM users'));
      assert.deepEqual(users, [{ email: DEMO_ADMIN_EMAIL, role: 'admin' }]);
    } finally {
      await t.destroy();
    }
  });

  it('on a PostgreSQL server without users or configuration, creates nobody and warns how to', async () => {
    const t = await createTestDatabase({ adminEmail: undefined, adminPassword: undefined });
    try {
      const warnings: string[] = [];
      const log = { info: () => undefined, warn: (text: string) => warnings.push(text) } as never;
      await ensureFirstAdmin(t.db, { ...t.config, databaseUrl: 'postgres://example/server' }, log, () => assert.fail('prints nothing'));
      assert.match(warnings.join('\n'), /STOCKROOM_ADMIN_EMAIL.*`npm run stockroom -- user create --role admin/);
      assert.deepEqual(await t.db.connection((db) => db.query('SELECT id FROM users')), []);
    } finally {
      await t.destroy();
    }
  });
});
