import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openEventStream } from '../support/event-stream.ts';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';
import {
  killServers,
  SHUTDOWN_TIMEOUT_MS,
  START_TIMEOUT_MS,
  startServer,
  type Exit,
  type ServerProcess,
} from '../support/server-process.ts';

// The process around the app (DESIGN.md pattern 2, API.md "Running it"), tested as an operator
// meets it: `node bin/stockroom.mjs serve` as a child process, stopped with SIGTERM.

async function json(response: Response): Promise<any> {
  const text = await response.text();
  return text === '' ? undefined : JSON.parse(text);
}

async function create(server: ServerProcess, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await server.auth()) },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 201, `POST ${path}`);
  return json(response);
}

/** Every movement of a product, following the cursor to the end. */
async function movementIds(server: ServerProcess, productId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const response = await fetch(
      `${server.base}/api/v1/movements?productId=${productId}&limit=500${cursor === null ? '' : `&cursor=${cursor}`}`,
      {
        headers: await server.auth(),
      },
    );
    assert.equal(response.status, 200);
    const page = await json(response);
    ids.push(...page.items.map((item: { id: string }) => item.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return ids;
}

describe('the server process', () => {
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
    // The embedded database allows one process in its data directory: this one lets go of it.
    if (!usingPostgres) await database.db.close();
  });
  after(async () => {
    killServers();
    await database.destroy();
  });

  it('answers /readyz with 200 as soon as it says it is serving, and exits 0 on SIGTERM', async () => {
    const server = await startServer(database);
    await server.started;
    const ready = await fetch(`${server.base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await json(ready), { status: 'ready' });
    const health = await fetch(`${server.base}/healthz`);
    assert.equal(health.status, 200);

    const stopped = await server.stop();
    assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null });
    assert.ok(stopped.elapsedMs < SHUTDOWN_TIMEOUT_MS, `stopped in ${stopped.elapsedMs} ms`);
  });

  it('drains on SIGTERM under write load: exits 0 in time, and exactly the movements answered 201 are in the ledger', async () => {
    const server = await startServer(database);
    await server.started;
    const location = await create(server, '/api/v1/locations', { code: `DRAIN-${Date.now()}`, name: 'Drain test' });
    const product = await create(server, '/api/v1/products', { sku: `DRAIN-${Date.now()}`, name: 'Drain test' });

    const answered201: string[] = [];
    const otherAnswers: string[] = [];
    const failures: string[] = [];
    let sent = 0;
    const auth = await server.auth();
    const worker = async () => {
      // Each worker stops at its first failed request (the server is gone), or at a bound.
      while (!server.hasExited() && sent < 5000) {
        sent += 1;
        try {
          const response = await fetch(`${server.base}/api/v1/movements`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...auth },
            body: JSON.stringify({ type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
          });
          const body = await json(response);
          if (response.status === 201) answered201.push(body.id);
          else otherAnswers.push(`${response.status} ${body?.code}`);
        } catch (error) {
          failures.push(String((error as Error).cause ?? error));
          return;
        }
      }
    };
    const load = Promise.all(Array.from({ length: 20 }, worker));
    const enough = Date.now() + 10_000;
    while (answered201.length < 100 && Date.now() < enough) await sleep(10);
    assert.ok(answered201.length >= 100, 'the load is running');

    const stopped = await server.stop();
    await load;

    assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null }, server.stderr());
    assert.ok(stopped.elapsedMs < SHUTDOWN_TIMEOUT_MS, `stopped in ${stopped.elapsedMs} ms`);
    // While draining, a request may be refused with 503 or find the port closed; none fails with a 500.
    assert.deepEqual(
      otherAnswers.filter((answer) => answer !== '503 unavailable'),
      [],
      'every answer other than 201 is 503 unavailable',
    );
    for (const failure of failures) assert.match(failure, /ECONNREFUSED|ECONNRESET|other side closed|SocketError/);

    // Restarted on the same database: every movement answered 201 is there, and no other.
    const restarted = await startServer(database);
    await restarted.started;
    const ledger = await movementIds(restarted, product.id);
    assert.deepEqual([...ledger].sort(), [...answered201].sort());
    const stock = await json(await fetch(`${restarted.base}/api/v1/products/${product.id}/stock`, { headers: await restarted.auth() }));
    assert.equal(stock.total.onHand, answered201.length, 'the level is the sum of the movements answered 201');
    const stoppedAgain = await restarted.stop();
    assert.equal(stoppedAgain.code, 0);
  });

  it('exits 0 within SHUTDOWN_TIMEOUT_MS even while a client holds a connection open without sending a request', async () => {
    // Browsers and load balancers open connections ahead of need; one that never sends a request
    // is idle, and must not keep a SIGTERM from finishing.
    const server = await startServer(database);
    await server.started;
    const socket = connect(Number(new URL(server.base).port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await sleep(200); // accepted by the server, not just by the kernel
    try {
      const stopped = await server.stop();
      assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null }, server.stderr());
      assert.ok(stopped.elapsedMs < SHUTDOWN_TIMEOUT_MS, `stopped in ${stopped.elapsedMs} ms`);
    } finally {
      socket.destroy();
    }
  });

  it('ends open event streams on SIGTERM instead of waiting for them: exits 0 well before SHUTDOWN_TIMEOUT_MS', async () => {
    const server = await startServer(database);
    await server.started;
    const streams = await Promise.all([1, 2, 3].map(async () => openEventStream(`${server.base}/api/v1/events`, await server.auth())));
    assert.deepEqual(
      streams.map((stream) => stream.status),
      [200, 200, 200],
    );
    const stopped = await server.stop();
    assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null }, server.stderr());
    // The drain would otherwise have waited for the streams until its deadline.
    assert.ok(stopped.elapsedMs < SHUTDOWN_TIMEOUT_MS / 2, `stopped in ${stopped.elapsedMs} ms`);
    await Promise.all(streams.map((stream) => stream.ended));
  });

  it(
    usingPostgres
      ? 'lets two servers share one PostgreSQL database'
      : 'refuses a second server on the same embedded data directory with one clear line, and keeps the first serving',
    async () => {
      const first = await startServer(database);
      await first.started;
      const second = await startServer(database);
      if (usingPostgres) {
        // A PostgreSQL server is shared by design: instances are stateless.
        await second.started;
        for (const server of [first, second]) {
          assert.equal((await fetch(`${server.base}/readyz`)).status, 200);
        }
        const [a, b] = await Promise.all([first.stop(), second.stop()]);
        assert.equal(a.code, 0);
        assert.equal(b.code, 0);
        return;
      }
      const refused = await Promise.race([
        second.exited,
        sleep(START_TIMEOUT_MS, undefined, { ref: false }).then(() => 'still running' as const),
      ]);
      assert.notEqual(refused, 'still running');
      assert.notEqual((refused as Exit).code, 0);
      assert.equal((refused as Exit).code !== null, true, 'it exited by itself, not by a signal');
      const lines = second
        .stderr()
        .split('\n')
        .filter((line) => line.trim() !== '');
      assert.equal(lines.length, 1, `one line on stderr: ${second.stderr()}`);
      assert.match(lines[0]!, /data directory .* is in use/);
      // The first is untouched by the attempt.
      assert.equal((await fetch(`${first.base}/readyz`)).status, 200);
      const stopped = await first.stop();
      assert.equal(stopped.code, 0);
    },
  );
});
