import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, usingPostgres, type TestDatabase } from './helpers.ts';

// The process around the app (DESIGN.md pattern 2, API.md "Running it"), tested as an operator
// meets it: `node bin/stockroom.mjs serve` as a child process, stopped with SIGTERM.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHUTDOWN_TIMEOUT_MS = 4000;
const START_TIMEOUT_MS = 30_000;

/** A port that was free a moment ago: listen on port 0, read the number, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Server {
  child: ChildProcess;
  base: string;
  /** Resolves when the process logs that it serves; rejects if it exits first. */
  started: Promise<void>;
  exited: Promise<Exit>;
  hasExited(): boolean;
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit and how long it took. */
  stop(): Promise<Exit & { elapsedMs: number }>;
}

const running = new Set<ChildProcess>();

function startServer(database: TestDatabase, port: number): Server {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !['DATABASE_URL', 'STOCKROOM_DATA_DIR', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS'].includes(name)) env[name] = value;
  }
  Object.assign(env, database.env, {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  });
  const child = spawn(process.execPath, ['bin/stockroom.mjs', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  let exited = false;
  const exit = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not started within ${START_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`)), START_TIMEOUT_MS).unref();
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('Stockroom is serving')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}, signal ${signal}) before serving:\n${stderr}`));
    });
  });
  started.catch(() => undefined); // a test that expects the process to fail awaits `exited` instead
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return {
    child,
    base: `http://127.0.0.1:${port}`,
    started,
    exited: exit,
    hasExited: () => exited,
    stderr: () => stderr,
    async stop() {
      const sent = Date.now();
      if (!exited) child.kill('SIGTERM');
      const result = await Promise.race([
        exit,
        sleep(SHUTDOWN_TIMEOUT_MS + 5000, undefined, { ref: false }).then(() => {
          child.kill('SIGKILL');
          return exit;
        }),
      ]);
      return { ...result, elapsedMs: Date.now() - sent };
    },
  };
}

async function json(response: Response): Promise<any> {
  const text = await response.text();
  return text === '' ? undefined : JSON.parse(text);
}

async function create(base: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(response.status, 201, `POST ${path}`);
  return json(response);
}

/** Every movement of a product, following the cursor to the end. */
async function movementIds(base: string, productId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const response = await fetch(`${base}/api/v1/movements?productId=${productId}&limit=500${cursor === null ? '' : `&cursor=${cursor}`}`);
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
    for (const child of running) child.kill('SIGKILL');
    await database.destroy();
  });

  it('answers /readyz with 200 as soon as it says it is serving, and exits 0 on SIGTERM', async () => {
    const server = startServer(database, await freePort());
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
    const server = startServer(database, await freePort());
    await server.started;
    const location = await create(server.base, '/api/v1/locations', { code: `DRAIN-${Date.now()}`, name: 'Drain test' });
    const product = await create(server.base, '/api/v1/products', { sku: `DRAIN-${Date.now()}`, name: 'Drain test' });

    const answered201: string[] = [];
    const otherAnswers: string[] = [];
    const failures: string[] = [];
    let sent = 0;
    const worker = async () => {
      // Each worker stops at its first failed request (the server is gone), or at a bound.
      while (!server.hasExited() && sent < 5000) {
        sent += 1;
        try {
          const response = await fetch(`${server.base}/api/v1/movements`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
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
    const restarted = startServer(database, await freePort());
    await restarted.started;
    const ledger = await movementIds(restarted.base, product.id);
    assert.deepEqual([...ledger].sort(), [...answered201].sort());
    const stock = await json(await fetch(`${restarted.base}/api/v1/products/${product.id}/stock`));
    assert.equal(stock.total.onHand, answered201.length, 'the level is the sum of the movements answered 201');
    const stoppedAgain = await restarted.stop();
    assert.equal(stoppedAgain.code, 0);
  });

  it('exits 0 within SHUTDOWN_TIMEOUT_MS even while a client holds a connection open without sending a request', async () => {
    // Browsers and load balancers open connections ahead of need; one that never sends a request
    // is idle, and must not keep a SIGTERM from finishing.
    const server = startServer(database, await freePort());
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

  it(
    usingPostgres
      ? 'lets two servers share one PostgreSQL database'
      : 'refuses a second server on the same embedded data directory with one clear line, and keeps the first serving',
    async () => {
      const first = startServer(database, await freePort());
      await first.started;
      const second = startServer(database, await freePort());
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
      const refused = await Promise.race([second.exited, sleep(START_TIMEOUT_MS, undefined, { ref: false }).then(() => 'still running' as const)]);
      assert.notEqual(refused, 'still running');
      assert.notEqual((refused as Exit).code, 0);
      assert.equal((refused as Exit).code !== null, true, 'it exited by itself, not by a signal');
      const lines = second.stderr().split('\n').filter((line) => line.trim() !== '');
      assert.equal(lines.length, 1, `one line on stderr: ${second.stderr()}`);
      assert.match(lines[0]!, /data directory .* is in use/);
      // The first is untouched by the attempt.
      assert.equal((await fetch(`${first.base}/readyz`)).status, 200);
      const stopped = await first.stop();
      assert.equal(stopped.code, 0);
    },
  );
});
