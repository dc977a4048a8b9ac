import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queryable } from '../../src/db/database.ts';
import { levelsDisagreeingWithLedger } from '../support/ledger.ts';
import { loginAsAdmin } from '../support/server-process.ts';

// What every fault test shares: real HTTP write load against 127.0.0.1, a record of every answer,
// and the invariants of the ledger checked in the database itself after the fault:
//   - every level equals the sum of its ledger;
//   - no level is negative where its location forbids it;
//   - every movement answered 201 is in the database, and no movement answered 4xx/5xx is
//     (a movement whose request got no answer at all — the server was killed — may be either).

/** Longer than the server's default REQUEST_TIMEOUT_MS (10 s): a request without an answer past it hangs. */
export const REQUEST_HANG_MS = 15_000;
export const WORKERS = 16;

// ---------------------------------------------------------------------------------------------
// HTTP.

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Past it the request is aborted and counts as hung. */
  hangMs?: number;
}

/**
 * Every HTTP request of the fault tests goes through here, so that what every request needs
 * (authentication, soon) is added in one place. A body makes it a POST.
 */
/** The test admin's Authorization header per server, logged in at its first API request. */
const credentials = new Map<string, Promise<{ authorization: string }>>();

function authFor(base: string, path: string): Promise<{ authorization: string } | object> {
  if (!path.startsWith('/api/v1/')) return Promise.resolve({}); // /readyz and /healthz need none
  let auth = credentials.get(base);
  if (auth === undefined) {
    auth = loginAsAdmin(base);
    credentials.set(base, auth);
    auth.catch(() => credentials.delete(base)); // try again at the next request
  }
  return auth;
}

export async function request(base: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method: options.body === undefined ? 'GET' : 'POST',
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(await authFor(base, path)),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(options.hangMs ?? REQUEST_HANG_MS),
  });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').includes('json');
  return { status: response.status, headers: response.headers, body: json && text !== '' ? JSON.parse(text) : text };
}

export async function create(base: string, path: string, body: unknown): Promise<any> {
  const answer = await request(base, path, { body });
  assert.equal(answer.status, 201, `POST ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Polls `condition` every `intervalMs` until it holds; fails naming `what` if it doesn't within `timeoutMs`. */
export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 10) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// The fixture and the movements.

export interface Fixture {
  locationIds: string[];
  productIds: string[];
}

let uniqueCounter = 0;
export const unique = (prefix: string) =>
  `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${(uniqueCounter += 1)}`.slice(0, 32);

export async function createFixture(base: string): Promise<Fixture> {
  const locationIds: string[] = [];
  // Three locations that forbid negative stock, one that allows it.
  for (const allowNegative of [false, false, false, true]) {
    locationIds.push((await create(base, '/api/v1/locations', { code: unique('F'), name: 'Fault test', allowNegative })).id);
  }
  const productIds: string[] = [];
  for (let i = 0; i < 4; i += 1) {
    productIds.push((await create(base, '/api/v1/products', { sku: unique('F'), name: 'Fault test' })).id);
  }
  return { locationIds, productIds };
}

export const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
export const between = (low: number, high: number) => low + Math.floor(Math.random() * (high - low + 1));

/** A random inbound, outbound or transfer over one or two products, tagged with `reference`. */
export function randomMovement(fixture: Fixture, reference: string) {
  const products = [...fixture.productIds].sort(() => Math.random() - 0.5).slice(0, between(1, 2));
  const kind = pick(['inbound', 'outbound', 'transfer'] as const);
  const locationId = pick(fixture.locationIds);
  const lines = products.map((productId) => ({ productId, quantity: kind === 'inbound' ? between(1, 6) : between(1, 3) }));
  if (kind === 'transfer') {
    const toLocationId = pick(fixture.locationIds.filter((id) => id !== locationId));
    return { type: kind, locationId, toLocationId, reference, lines };
  }
  return { type: kind, locationId, reference, lines };
}

// ---------------------------------------------------------------------------------------------
// The load and its record.

export interface Load {
  /**
   * The last answer to each movement request, by its reference. `outcomeUnknown`: a 503 saying
   * that the connection was lost during COMMIT and whether it committed is unknown.
   */
  answered: Map<string, { status: number; code: string | undefined; id: string | undefined; outcomeUnknown: boolean }>;
  /** References of requests that got no answer (connection refused or reset, or a hang). */
  unanswered: Map<string, string>;
  /** The ids in the 201 answers. */
  created: Set<string>;
  /** Every answer other than 2xx to any request, as "status code" with how many of each. */
  others: Record<string, number>;
}

export function newLoad(): Load {
  return { answered: new Map(), unanswered: new Map(), created: new Set(), others: {} };
}

/** Records an answer; `reference` is the movement's, or undefined for a request that writes nothing. */
export function recordAnswer(load: Load, reference: string | undefined, { status, headers, body }: Answer) {
  if (status >= 300) {
    // A 503 tells the client when to retry (API.md); one without Retry-After is an answer of its own.
    const key =
      `${status} ${body?.code}${status === 503 && headers.get('retry-after') === null ? ' without Retry-After' : ''}` +
      `${body?.outcome === 'unknown' ? ' (outcome unknown)' : ''}`;
    load.others[key] = (load.others[key] ?? 0) + 1;
  }
  if (reference === undefined) return;
  load.answered.set(reference, { status, code: body?.code, id: body?.id, outcomeUnknown: status === 503 && body?.outcome === 'unknown' });
  if (status === 201) {
    assert.equal(typeof body?.id, 'string', `a 201 carries the movement: ${JSON.stringify(body)}`);
    load.created.add(body.id);
  }
}

/** Records a request that got no answer; rethrows a failed assertion. */
export function recordNoAnswer(load: Load, reference: string, error: unknown) {
  if (error instanceof assert.AssertionError) throw error;
  const cause = (error as Error).cause as Error | undefined;
  load.unanswered.set(reference, `${(error as Error).name}: ${(error as Error).message} (${cause?.message ?? cause ?? ''})`);
}

export const count201 = (load: Load) => load.created.size;

/** Fails unless every answer other than 2xx is one of `allowed` ("status code"); says what came. */
export function assertOnlyAnswers(load: Load, allowed: string[], context = '') {
  const unexpected = Object.keys(load.others).filter((key) => !allowed.includes(key));
  assert.deepEqual(unexpected, [], `unexpected answers among ${JSON.stringify(load.others)}\n${context}`);
}

export interface LoadOptions {
  perWorker: number;
  stop?: () => boolean;
  /** The body of the next movement; a random one by default. */
  movement?: (fixture: Fixture, reference: string) => unknown;
  hangMs?: number;
}

let referenceCounter = 0;

/**
 * WORKERS concurrent request loops of at most `perWorker` movements each, spread over the servers
 * at `bases` in turn. A worker stops at its first request without an answer (the server is gone)
 * or when `stop()` says so.
 */
export async function runLoad(bases: string | string[], fixture: Fixture, load: Load, options: LoadOptions) {
  const servers = typeof bases === 'string' ? [bases] : bases;
  const movement = options.movement ?? randomMovement;
  const prefix = unique('R');
  const worker = async (_: unknown, index: number) => {
    for (let i = 0; i < options.perWorker && !(options.stop?.() ?? false); i += 1) {
      const reference = `${prefix}-${(referenceCounter += 1)}`;
      const base = servers[(index + i) % servers.length]!;
      try {
        recordAnswer(
          load,
          reference,
          await request(base, '/api/v1/movements', { body: movement(fixture, reference), hangMs: options.hangMs }),
        );
      } catch (error) {
        recordNoAnswer(load, reference, error);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

/** Writes a movement that must be answered 201 (set-up, or proof of recovery); it joins the load's record. */
export async function writeMovement(base: string, load: Load, movement: { reference: string; [field: string]: unknown }) {
  const answer = await request(base, '/api/v1/movements', { body: movement });
  assert.equal(answer.status, 201, `the movement ${movement.reference}: ${JSON.stringify(answer.body)}`);
  recordAnswer(load, movement.reference, answer);
}

/** After a fault, one more movement must be written: the service recovered. */
export function writeOneMore(base: string, fixture: Fixture, load: Load, reference: string) {
  const movement = {
    type: 'inbound',
    locationId: fixture.locationIds[0],
    reference,
    lines: [{ productId: fixture.productIds[0], quantity: 1 }],
  };
  return writeMovement(base, load, movement);
}

// ---------------------------------------------------------------------------------------------
// The invariants, checked in the database.

export async function checkInvariants(db: Queryable, load: Load, options: { unansweredMayHaveWritten: boolean }) {
  assert.deepEqual(await levelsDisagreeingWithLedger(db), [], 'every level equals the sum of its ledger');

  const negative = await db.query(
    `SELECT s.product_id, s.location_id, s.on_hand, s.reserved, s.allow_negative, l.allow_negative AS location_allows
     FROM stock_levels s JOIN locations l ON l.id = s.location_id
     WHERE (NOT l.allow_negative OR NOT s.allow_negative) AND s.on_hand - s.reserved < 0`,
  );
  assert.deepEqual(negative, [], 'no level is negative where its location forbids it');

  const rows = await db.query<{ id: string; reference: string | null }>('SELECT id, reference FROM movements');
  const inDatabase = new Map(rows.map((row) => [row.id, row.reference]));
  const missing = [...load.created].filter((id) => !inDatabase.has(id));
  assert.deepEqual(missing, [], `every movement answered 201 is in the database (${missing.length} of ${load.created.size} missing)`);

  const writtenButRefused: string[] = [];
  const unexplained: string[] = [];
  for (const [id, reference] of inDatabase) {
    if (load.created.has(id)) continue;
    const answer = reference === null ? undefined : load.answered.get(reference);
    if (answer?.outcomeUnknown) continue; // its client was told it may have been written
    if (answer !== undefined) writtenButRefused.push(`${id} (${reference}) answered ${answer.status} ${answer.code}`);
    else if (!(options.unansweredMayHaveWritten && reference !== null && load.unanswered.has(reference))) {
      unexplained.push(`${id} (${reference})`);
    }
  }
  assert.deepEqual(writtenButRefused, [], 'no movement answered 4xx/5xx is in the database');
  assert.deepEqual(unexplained, [], 'every other movement in the database was one whose request got no answer');
  return { movements: rows.length };
}
