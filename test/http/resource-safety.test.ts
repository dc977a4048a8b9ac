import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Queryable } from '../../src/db/database.ts';
import { levelsDisagreeingWithLedger } from '../support/ledger.ts';
import { uuidv7 } from '../../src/domain/ids.ts';
import { seededRandom } from '../../src/domain/random.ts';
import { createLocation, createProduct, stockUp } from '../support/factories.ts';
import { createHarness, listen, usingPostgres, type Harness } from '../support/helpers.ts';

// DESIGN.md patterns 1, 3 and 8, proven from the outside: whatever happens to a request (it
// succeeds, fails validation, is refused, runs past its deadline, loses its client), its
// connection goes back exactly once, no transaction stays open, a request answered 504 wrote
// nothing, and a request that can't get a connection in time is told 503 instead of waiting.

const REQUEST_TIMEOUT_MS = 2000;
/**
 * The tests count what waits for a connection while they hold it, and the reservation sweep, a
 * job that takes a connection every RESERVATION_SWEEP_S, would be counted with the requests. Set
 * to an hour, its first run comes after these tests; it is tested on its own
 * (test/jobs/reservation-expiry.test.ts).
 */
const NO_SWEEP_DURING_TESTS = { reservationSweepS: 3600 };

/** A movement request body, as loose as the tests need (some are invalid on purpose). */
type Movement = Record<string, unknown> & { reference?: string };

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** The harness admin's Authorization header, for every request over real HTTP. */
let auth: Record<string, string> = {};

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

function postMovement(base: string, movement: Movement, signal?: AbortSignal): Promise<Answer> {
  return fetch(`${base}/api/v1/movements`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...auth,
      ...(movement.reference === undefined ? {} : { 'x-test-reference': movement.reference }),
    },
    body: JSON.stringify(movement),
    ...(signal === undefined ? {} : { signal }),
  }).then(answerOf);
}

/**
 * Sends the first half of the body at once, and the rest `delayMs` after the server has seen the
 * request (its deadline starts then; under load a request may reach the server late).
 */
function postMovementSlowly(
  base: string,
  movement: Movement & { reference: string },
  serverSaw: Promise<void>,
  delayMs: number,
  signal?: AbortSignal,
): Promise<Answer> {
  const text = JSON.stringify(movement);
  const halves = [text.slice(0, text.length / 2), text.slice(text.length / 2)];
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === 1) {
        await serverSaw;
        await sleep(delayMs);
      }
      controller.enqueue(new TextEncoder().encode(halves[sent]));
      sent += 1;
      if (sent === 2) controller.close();
    },
  });
  return fetch(`${base}/api/v1/movements`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-test-reference': movement.reference, ...auth },
    body,
    duplex: 'half',
    ...(signal === undefined ? {} : { signal }),
  }).then(answerOf);
}

/**
 * Watches the server's requests: `serverSaw(reference)` resolves when the headers of the request
 * carrying `x-test-reference` have arrived; `unfinished()` counts responses whose connection
 * closed before they were written (clients that went away mid-request).
 */
function watchRequests(h: Harness) {
  const waiting = new Map<string, () => void>();
  let unfinished = 0;
  h.app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const reference = request.headers['x-test-reference'];
    if (typeof reference === 'string') waiting.get(reference)?.();
    response.once('close', () => {
      if (!response.writableFinished) unfinished += 1;
    });
  });
  return {
    serverSaw: (reference: string) =>
      new Promise<void>((resolve) => {
        waiting.set(reference, () => {
          waiting.delete(reference);
          resolve();
        });
      }),
    forget: (reference: string) => waiting.delete(reference),
    unfinished: () => unfinished,
  };
}

/** Runs `tasks` with at most `limit` of them in flight at once. */
async function withConcurrency(limit: number, tasks: Array<() => Promise<void>>) {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next]!;
      next += 1;
      await task();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

async function eventually(condition: () => boolean | Promise<boolean>, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= until) return false;
    await sleep(20);
  }
}

/** The schema the harness made for this file: the pool's application_name on PostgreSQL. */
function schemaOf(h: Harness): string {
  const options = new URL(h.config.databaseUrl!).searchParams.get('options') ?? '';
  const schema = /search_path=(\w+)/.exec(options)?.[1];
  assert.ok(schema !== undefined, 'the test database URL names its schema');
  return schema;
}

/** A separate session that holds a row lock on levels of one product until `release()`. */
async function lockLevelsOf(h: Harness, productId: string) {
  const client = new pg.Client({ connectionString: h.config.databaseUrl, application_name: 'resource-safety-blocker' });
  await client.connect();
  await client.query('BEGIN');
  const locked = await client.query('SELECT 1 FROM stock_levels WHERE product_id = $1 FOR UPDATE', [productId]);
  assert.ok(locked.rowCount! > 0, 'the blocker holds a level');
  return {
    async release() {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Keeps the database's (one) connection in an open transaction until `release()`. */
function holdTheConnection(h: Harness) {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const holding = h.db.transaction(() => released);
  return {
    async release() {
      release();
      await holding;
    },
  };
}

/** Sessions of this harness's pool that are running a statement or sitting in a transaction. */
async function busySessions(h: Harness) {
  const probe = new pg.Client({ connectionString: process.env.DATABASE_URL, application_name: 'resource-safety-probe' });
  await probe.connect();
  try {
    const { rows } = await probe.query(
      `SELECT pid, state, wait_event_type AS "waitEventType", query FROM pg_stat_activity
       WHERE application_name = $1 AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')`,
      [schemaOf(h)],
    );
    return rows;
  } finally {
    await probe.end();
  }
}

async function movementsWithReferences(h: Harness, references: string[]) {
  return h.db.connection((db) =>
    db.query<{ id: string; reference: string }>('SELECT id, reference FROM movements WHERE reference = ANY($1::text[])', [references]),
  );
}

function isAbortError(error: unknown) {
  return error instanceof Error && (error.name === 'AbortError' || (error.cause as Error | undefined)?.name === 'AbortError');
}

/**
 * Sends a request and aborts it `abortAfterMs` after `from` resolves (the request's start, or the
 * server's receiving it: then the abort lands while the server works on it). Resolves with the
 * answer when one came first, or 'aborted'.
 */
async function abortable(
  send: (signal: AbortSignal) => Promise<Answer>,
  abortAfterMs: number,
  from: Promise<void> = Promise.resolve(),
): Promise<Answer | 'aborted'> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  void from.then(() => {
    if (!controller.signal.aborted) timer = setTimeout(() => controller.abort(), abortAfterMs);
  });
  try {
    return await send(controller.signal);
  } catch (error) {
    if (!isAbortError(error)) throw error;
    return 'aborted';
  } finally {
    clearTimeout(timer);
    controller.abort(); // disarms a timer not started yet
  }
}

describe('resource safety under mixed load, deadlines and client aborts', () => {
  let h: Harness;
  let base: string;
  let requests: ReturnType<typeof watchRequests>;

  before(async () => {
    h = await createHarness({
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      dbPoolMax: 20,
      dbPoolAcquireTimeoutMs: 10_000,
      ...NO_SWEEP_DURING_TESTS,
    });
    base = await listen(h.app);
    auth = h.auth;
    requests = watchRequests(h);
  });
  // Client aborts leave connections that never sent a request; closing must not wait for them.
  after(() => h.close());

  async function assertEveryConnectionBack() {
    const back = await eventually(() => {
      const stats = h.db.stats();
      return stats.inUse === 0 && stats.waiting === 0;
    }, 1000);
    assert.ok(back, `every connection is back in the pool within a second: ${JSON.stringify(h.db.stats())}`);
  }

  it('answers a movement that waits past its deadline with 504 timeout, and one whose client leaves with nothing; neither writes', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    await stockUp(h.app, product.id, location.id, 10);
    // On PostgreSQL the movements wait on a row lock another session holds, inside a statement
    // that must be cancelled; on PGlite they wait for the one connection, which this test holds.
    const outbound = (reference: string) => ({
      type: 'outbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 1 }],
      reference,
    });
    const blocker = usingPostgres ? await lockLevelsOf(h, product.id) : holdTheConnection(h);
    const unfinishedBefore = requests.unfinished();
    try {
      const started = Date.now();
      const waitingForDeadline = Promise.all(Array.from({ length: 10 }, (_, index) => postMovement(base, outbound(`deadline-${index}`))));
      const leaving = Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          abortable(
            (signal) => postMovement(base, outbound(`leaving-${index}`), signal),
            300 + index * 50,
            requests.serverSaw(`leaving-${index}`),
          ),
        ),
      );
      const answers = await waitingForDeadline;
      const elapsed = Date.now() - started;
      assert.deepEqual(await leaving, Array(10).fill('aborted'));
      assert.equal(requests.unfinished() - unfinishedBefore, 10, 'the server saw each client leave mid-request');

      for (const answer of answers) {
        assert.equal(answer.status, 504);
        assert.equal(answer.body.code, 'timeout');
        assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
      }
      assert.ok(elapsed >= REQUEST_TIMEOUT_MS && elapsed < REQUEST_TIMEOUT_MS + 1500, `answered at the deadline, after ${elapsed} ms`);
      if (usingPostgres) {
        // The blocker still holds the lock: a statement not cancelled would still be waiting on it.
        assert.deepEqual(await busySessions(h), [], 'no statement of the pool is still running or in a transaction');
        assert.equal(h.db.stats().inUse, 0);
      } else {
        assert.equal(h.db.stats().waiting, 0, 'the requests left the queue for the connection');
      }
    } finally {
      await blocker.release();
    }
    await assertEveryConnectionBack();
    const references = Array.from({ length: 10 }, (_, index) => [`deadline-${index}`, `leaving-${index}`]).flat();
    assert.deepEqual(await movementsWithReferences(h, references), []);
    const stock: any = await (await fetch(`${base}/api/v1/stock?productId=${product.id}`, { headers: auth })).json();
    assert.equal(stock.items[0].onHand, 10);
  });

  it('rolls back and releases a transaction whose signal aborts while it holds the connection', async () => {
    // Through HTTP this can only be reached on PostgreSQL: PGlite runs a whole transaction without
    // giving the event loop a turn, so there a deadline or a disconnect is noticed only while a
    // request waits for the connection. The transaction owner is held to it directly here.
    const insertCategory = (tx: Queryable, name: string) => tx.query('INSERT INTO categories (id, name) VALUES ($1, $2)', [uuidv7(), name]);
    const categoriesNamed = (names: string[]) =>
      h.db.connection((db) => db.query('SELECT name FROM categories WHERE name = ANY($1::text[])', [names]));

    // Aborted between two statements.
    const between = new AbortController();
    await assert.rejects(
      h.db.transaction(
        async (tx) => {
          await insertCategory(tx, 'aborted-between-statements');
          setTimeout(() => between.abort(new Error('client gone')), 20);
          await sleep(100);
          await tx.query('SELECT 1');
        },
        { signal: between.signal },
      ),
      /client gone/,
    );
    // Aborted after the work finished but before COMMIT: the client is told it failed, so it must not commit.
    const beforeCommit = new AbortController();
    await assert.rejects(
      h.db.transaction(
        async (tx) => {
          await insertCategory(tx, 'aborted-before-commit');
          beforeCommit.abort(new Error('deadline'));
        },
        { signal: beforeCommit.signal },
      ),
      /deadline/,
    );
    if (usingPostgres) {
      // Aborted in the middle of a statement: the statement is cancelled on the server.
      const during = new AbortController();
      setTimeout(() => during.abort(new Error('deadline during a statement')), 100);
      const started = Date.now();
      await assert.rejects(
        h.db.transaction(
          async (tx) => {
            await insertCategory(tx, 'aborted-during-statement');
            await tx.query('SELECT pg_sleep(10)');
          },
          { signal: during.signal },
        ),
        /deadline during a statement/,
      );
      assert.ok(Date.now() - started < 2000, 'the sleeping statement was cancelled');
      assert.deepEqual(await busySessions(h), []);
    }
    await assertEveryConnectionBack();
    assert.deepEqual(await categoriesNamed(['aborted-between-statements', 'aborted-before-commit', 'aborted-during-statement']), []);
    // The connection that was given back works.
    await h.db.transaction((tx) => insertCategory(tx, 'committed-afterwards'));
    assert.equal((await categoriesNamed(['committed-afterwards'])).length, 1);
  });

  it('returns every connection after 2000 mixed requests: successes, 4xx, deadlines and client aborts', async () => {
    const location = await createLocation(h.app);
    const inboundProducts = await Promise.all(Array.from({ length: 20 }, () => createProduct(h.app)));
    const abortProducts = await Promise.all(Array.from({ length: 5 }, () => createProduct(h.app)));
    const scarce = await createProduct(h.app);
    await stockUp(h.app, scarce.id, location.id, 5);
    const locked = await createProduct(h.app);
    await stockUp(h.app, locked.id, location.id, 10);
    const touched = [...inboundProducts, ...abortProducts, scarce, locked].map((product) => product.id);

    type Kind = 'inbound' | 'insufficient' | 'invalid' | 'notFound' | 'abort' | 'slowBody' | 'slowAbort' | 'locked' | 'lockedAbort';
    // Deadlines come from bodies that arrive too slowly and, on PostgreSQL, from statements that
    // wait on a row another session has locked (PGlite has no second session to hold one).
    const common = { inbound: 1000, insufficient: 300, invalid: 300, notFound: 100, abort: 200 };
    const plan: Record<Kind, number> = usingPostgres
      ? { ...common, slowBody: 30, slowAbort: 10, locked: 40, lockedAbort: 20 }
      : { ...common, slowBody: 80, slowAbort: 20, locked: 0, lockedAbort: 0 };
    const rng = seededRandom(20_260_422);
    const kinds = (Object.entries(plan) as Array<[Kind, number]>).flatMap(([kind, count]) => Array<Kind>(count).fill(kind));
    for (let i = kinds.length - 1; i > 0; i -= 1) {
      const j = Math.floor(rng() * (i + 1));
      [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
    }
    assert.equal(kinds.length, 2000);

    const invalidBodies = [
      { type: 'inbound', locationId: location.id, lines: [{ productId: scarce.id, quantity: 0 }] },
      { type: 'inbound', locationId: location.id, lines: [] },
      { type: 'inbound', locationId: location.id, lines: [{ productId: scarce.id, quantity: '5' }] },
      // Valid for the schema, refused by a business rule before any transaction.
      {
        type: 'inbound',
        locationId: location.id,
        lines: [
          { productId: scarce.id, quantity: 1 },
          { productId: scarce.id, quantity: 2 },
        ],
      },
    ];
    const outcomes: Array<{ kind: Kind; reference: string; status: number | 'aborted'; code?: string; id?: string; detail?: string }> = [];
    const blocker = usingPostgres ? await lockLevelsOf(h, locked.id) : undefined;
    const unfinishedBefore = requests.unfinished();
    try {
      const tasks = kinds.map((kind, index) => async () => {
        const reference = `mix-${index}`;
        const inbound = (productId: string) => ({
          type: 'inbound',
          locationId: location.id,
          lines: [{ productId, quantity: 1 }],
          reference,
        });
        const record = (answer: Answer) => {
          outcomes.push({
            kind,
            reference,
            status: answer.status,
            code: answer.body?.code,
            id: answer.body?.id,
            detail: answer.body?.detail,
          });
        };
        const recordAbortable = async (outcome: Promise<Answer | 'aborted'>) => {
          const answer = await outcome;
          requests.forget(reference);
          if (answer === 'aborted') outcomes.push({ kind, reference, status: 'aborted' });
          else record(answer);
        };
        const lockedOutbound = { type: 'outbound', locationId: location.id, lines: [{ productId: locked.id, quantity: 1 }], reference };
        switch (kind) {
          case 'inbound':
            return record(await postMovement(base, inbound(inboundProducts[index % inboundProducts.length]!.id)));
          case 'insufficient':
            return record(
              await postMovement(base, {
                type: 'outbound',
                locationId: location.id,
                lines: [{ productId: scarce.id, quantity: 1_000_000 }],
                reference,
              }),
            );
          case 'invalid':
            return record(await postMovement(base, { ...invalidBodies[index % invalidBodies.length], reference }));
          case 'notFound':
            return record(await postMovement(base, inbound(uuidv7())));
          case 'abort': {
            const movement = inbound(abortProducts[index % abortProducts.length]!.id);
            return recordAbortable(
              index % 2 === 0
                ? abortable((signal) => postMovement(base, movement, signal), Math.floor(rng() * 400))
                : abortable((signal) => postMovement(base, movement, signal), Math.floor(rng() * 15), requests.serverSaw(reference)),
            );
          }
          case 'slowBody':
            return record(
              await postMovementSlowly(
                base,
                inbound(inboundProducts[index % inboundProducts.length]!.id),
                requests.serverSaw(reference),
                REQUEST_TIMEOUT_MS + 200,
              ),
            );
          case 'slowAbort': {
            // Aborted while its body is still arriving.
            const saw = requests.serverSaw(reference);
            const movement = inbound(inboundProducts[index % inboundProducts.length]!.id);
            return recordAbortable(
              abortable(
                (signal) => postMovementSlowly(base, movement, saw, REQUEST_TIMEOUT_MS + 200, signal),
                Math.floor(rng() * 500),
                saw,
              ),
            );
          }
          case 'locked':
            return record(await postMovement(base, lockedOutbound));
          case 'lockedAbort':
            // Aborted while its statement waits on the locked row.
            return recordAbortable(
              abortable((signal) => postMovement(base, lockedOutbound, signal), Math.floor(rng() * 1000), requests.serverSaw(reference)),
            );
        }
      });
      await withConcurrency(50, tasks);

      await assertEveryConnectionBack();
      if (usingPostgres) {
        // The row lock is still held: every statement that waited on it must have been cancelled.
        assert.deepEqual(await busySessions(h), [], 'no statement of the pool is still running or in a transaction');
      }
    } finally {
      await blocker?.release();
    }

    // Every request got the answer its kind calls for, and none a 500.
    const expected: Record<Kind, string[]> = {
      inbound: ['201'],
      insufficient: ['409 insufficient_stock'],
      invalid: ['422 validation_failed'],
      notFound: ['404 not_found'],
      abort: ['201', 'aborted'], // answered before the abort, or not at all
      // Past the deadline either the HTTP server cuts the body short (408) or the handler sees it (504).
      slowBody: ['504 timeout', '408 timeout'],
      slowAbort: ['aborted'],
      locked: ['504 timeout'],
      lockedAbort: ['aborted'],
    };
    const seen: Record<string, Record<string, number>> = {};
    for (const outcome of outcomes) {
      const label = outcome.status === 'aborted' || outcome.status === 201 ? String(outcome.status) : `${outcome.status} ${outcome.code}`;
      (seen[outcome.kind] ??= {})[label] = (seen[outcome.kind]![label] ?? 0) + 1;
      assert.ok(expected[outcome.kind].includes(label), `${outcome.kind} ${outcome.reference}: ${label} ${outcome.detail ?? ''}`);
    }
    assert.equal(outcomes.length, 2000);
    assert.ok((seen.abort?.aborted ?? 0) > 0, `some client aborts happened before the answer: ${JSON.stringify(seen.abort)}`);
    // The server saw those aborted mid-body and mid-statement go: their responses never finished.
    const cutOff = requests.unfinished() - unfinishedBefore;
    assert.ok(cutOff >= plan.slowAbort + plan.lockedAbort, `requests cut off while the server worked on them: ${cutOff}`);

    // What was answered 201 is in the ledger; what was answered 504 is not.
    const written = new Map(
      (
        await movementsWithReferences(
          h,
          outcomes.map((o) => o.reference),
        )
      ).map((row) => [row.reference, row.id]),
    );
    for (const outcome of outcomes) {
      if (outcome.status === 201) assert.equal(written.get(outcome.reference), outcome.id, `${outcome.reference} was answered 201`);
      if (outcome.status === 504 || outcome.status === 408) {
        assert.equal(written.has(outcome.reference), false, `${outcome.reference} was answered ${outcome.status}`);
      }
      if (outcome.kind === 'lockedAbort' || outcome.kind === 'slowAbort') {
        assert.equal(written.has(outcome.reference), false, `${outcome.reference} was aborted before it could apply`);
      }
    }
    const disagreeing = await h.db.connection((db) => levelsDisagreeingWithLedger(db, touched));
    assert.deepEqual(disagreeing, [], 'every level equals the sum of its ledger');
    const levels = await h.db.connection((db) =>
      db.query<{ productId: string; onHand: number }>(
        'SELECT product_id AS "productId", on_hand AS "onHand" FROM stock_levels WHERE product_id = ANY($1::uuid[])',
        [[scarce.id, locked.id]],
      ),
    );
    assert.deepEqual(
      Object.fromEntries(levels.map((level) => [level.productId, level.onHand])),
      { [scarce.id]: 5, [locked.id]: 10 },
      'refused and timed-out movements changed nothing',
    );
    await assertEveryConnectionBack();
    if (usingPostgres) assert.deepEqual(await busySessions(h), []);
  });
});

describe('an exhausted pool', () => {
  let h: Harness;
  let base: string;

  before(async () => {
    h = await createHarness({ dbPoolMax: 1, dbPoolAcquireTimeoutMs: 50, requestTimeoutMs: 5000, ...NO_SWEEP_DURING_TESTS });
    base = await listen(h.app);
    auth = h.auth;
  });
  after(() => h.close());

  it('answers 503 unavailable with Retry-After when no connection is free in time, and recovers', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    // Hold the one connection in a transaction until the extra requests have been answered.
    const hold = holdTheConnection(h);
    try {
      assert.ok(await eventually(() => h.db.stats().inUse === 1, 1000), 'the one connection is in use');
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          index % 2 === 0
            ? postMovement(base, { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] })
            : fetch(`${base}/api/v1/stock?productId=${product.id}`, { headers: auth, signal: AbortSignal.timeout(5000) }).then(answerOf),
        ),
      );
      const elapsed = Date.now() - started;
      for (const answer of answers) {
        assert.equal(answer.status, 503);
        assert.equal(answer.body.code, 'unavailable');
        assert.match(answer.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
      }
      assert.ok(elapsed < 1500, `answered without waiting for the connection (${elapsed} ms)`);
      assert.equal(h.db.stats().waiting, 0, 'nothing is left queued for the connection');
    } finally {
      await hold.release();
    }
    const recovered = await postMovement(base, {
      type: 'inbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 1 }],
    });
    assert.equal(recovered.status, 201);
    assert.deepEqual(
      recovered.body.balances.map((b: { onHand: number }) => b.onHand),
      [1],
      'none of the refused requests wrote',
    );
    assert.ok(await eventually(() => h.db.stats().inUse === 0, 1000));
  });
});
