import { api, type TestApp } from './helpers.ts';

// Factories make the resources a test needs through the API itself, with unique codes so that
// tests sharing a database never collide.

let counter = 0;
/** A name no other test run, file or call has used. */
export const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter += 1)}`;

async function created(response: Promise<{ status: number; body: any }>) {
  const { status, body } = await response;
  if (status !== 201) throw new Error(`expected 201, got ${status}: ${JSON.stringify(body)}`);
  return body;
}

export function createCategory(app: TestApp, fields: Record<string, unknown> = {}) {
  return created(api(app, 'POST', '/api/v1/categories', { name: unique('Category'), ...fields }));
}

export function createProduct(app: TestApp, fields: Record<string, unknown> = {}) {
  return created(api(app, 'POST', '/api/v1/products', { sku: unique('SKU'), name: unique('Product'), ...fields }));
}

export function createLocation(app: TestApp, fields: Record<string, unknown> = {}) {
  return created(api(app, 'POST', '/api/v1/locations', { code: unique('LOC'), name: unique('Location'), ...fields }));
}

export function recordMovement(app: TestApp, movement: Record<string, unknown>, headers: Record<string, string> = {}) {
  return api(app, 'POST', '/api/v1/movements', movement, headers);
}

/** Puts `quantity` of the product on hand at the location with one inbound movement. */
export async function stockUp(app: TestApp, productId: string, locationId: string, quantity: number) {
  return created(recordMovement(app, { type: 'inbound', locationId, lines: [{ productId, quantity }] }));
}

export const USER_PASSWORD = 'a password of some length';

/** A user made by the harness admin, logged in: its record, bearer token and Authorization header. */
export async function createUser(app: TestApp, fields: { role: string; locationIds?: string[]; [field: string]: unknown }) {
  const email = `${unique('user').toLowerCase()}@stockroom.test`;
  const user = await created(api(app, 'POST', '/api/v1/users', { email, name: unique('User'), password: USER_PASSWORD, ...fields }));
  const login = await api(
    app,
    'POST',
    '/api/v1/auth/login',
    { email, password: fields.password ?? USER_PASSWORD },
    { authorization: undefined },
  );
  if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
  return { user, token: login.body.token as string, auth: { authorization: `Bearer ${login.body.token}` } };
}
