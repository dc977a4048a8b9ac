import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { insertEvent, publishAll, publishEvents } from '../support/events.ts';
import { killServers, startServer, type ServerProcess } from '../support/server-process.ts';
import { startReceiver, verified, type Receiver } from '../support/webhook-receiver.ts';

// Webhook deliveries under faults (API.md, Events): the outbox loses nothing when a server is
// killed with deliveries in flight, and several servers drain one outbox without sending one
// delivery twice at once. The events are written on the database by this process while the
// servers run, as the changes' transactions will write them (test/support/events.ts).
//
// It needs PostgreSQL in both runs of test:faults: the embedded database admits one process, and
// here the servers and this test write to it at once. Without DATABASE_URL it takes a schema on
// the local server that CI runs; helpers.ts reads DATABASE_URL once, as it loads, hence the
// import after the assignment.
const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
process.env.DATABASE_URL ||= LOCAL_POSTGRES_URL;
const { createTestDatabase } = await import('../support/helpers.ts');

after(killServers);

/** Short waits, so that retries and leases run out within the test; private networks, for the receiver on 127.0.0.1. */
const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_TIMEOUT_MS: '3000',
  WEBHOOK_RETRY_BASE_MS: '100',
  WEBHOOK_RETRY_MAX_MS: '400',
  WEBHOOK_MAX_ATTEMPTS: '100',
  WEBHOOK_CONCURRENCY: '4',
};

async function database() {
  return createTestDatabase().catch((error: Error) => {
    throw new Error(
      `this test needs the PostgreSQL server at ${process.env.DATABASE_URL} (start it, or set DATABASE_URL): ${error.message}`,
    );
  });
}

async function createWebhook(server: ServerProcess, receiver: Receiver): Promise<{ id: string; secret: string }> {
  const response = await fetch(`${server.base}/api/v1/webhooks`, {
    method: 'POST',
    headers: { ...(await server.auth()), 'content-type': 'application/json' },
    body: JSON.stringify({ url: `${receiver.base}/hook`, events: ['stock.changed'] }),
  });
  const body = (await response.json()) as { id: string; secret: string };
  assert.equal(response.status, 201, JSON.stringify(body));
  return body;
}

/**
 * Events written one by one while the servers run, and published (by the servers' publishers or
 * by this one, whichever takes the lock); answers their ids.
 */
async function produce(db: Awaited<ReturnType<typeof database>>['db'], count: number): Promise<string[]> {
  const lastId = async () =>
    BigInt((await db.connection((c) => c.query<{ last: string }>('SELECT last_id::text AS last FROM event_counter')))[0]!.last);
  const before = await lastId();
  for (let index = 0; index < count; index += 1) {
    await insertEvent(db, { type: 'stock.changed', data: { index } });
    if (index % 5 === 4) await publishEvents(db);
  }
  await publishAll(db);
  const ids = Array.from({ length: Number((await lastId()) - before) }, (_, index) => String(before + 1n + BigInt(index)));
  assert.equal(ids.length, count);
  return ids;
}

/** Every request the receiver got verifies with the webhook's secret. */
function assertAllVerified(receiver: Receiver, secret: string) {
  for (const request of receiver.requests) verified(secret, request);
}

async function deliveryStatuses(db: Awaited<ReturnType<typeof database>>['db']) {
  const rows = await db.connection((c) =>
    c.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status ORDER BY status'),
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

describe('webhook deliveries under faults', () => {
  it('kill -9 of the server with deliveries in flight and pending, restart: every event is delivered (at least once)', async () => {
    const db = await database();
    const receiver = await startReceiver();
    try {
      // Slow answers keep attempts in flight at the kill; the first attempt of every event fails.
      receiver.reply = (request) => (request.seenBefore === 0 ? { status: 500, delayMs: 50 } : { status: 200, delayMs: 150 });
      const env = { env: { ...db.env, ...WEBHOOK_ENV } };
      const server = await startServer(env);
      await server.started;
      const webhook = await createWebhook(server, receiver);
      const ids = await produce(db.db, 60);

      await receiver.until(() => receiver.deliveredIds().size >= 5, 20_000, 'some deliveries before the kill');
      assert.ok(receiver.deliveredIds().size < ids.length, 'deliveries still pending at the kill');
      const killed = await server.kill9();
      assert.equal(killed.signal, 'SIGKILL');
      const beforeRestart = receiver.deliveredIds().size;

      const restarted = await startServer(env);
      await restarted.started;
      // Attempts that were in flight at the kill wait for their leases (timeout + 10 s) to end.
      await receiver.until(() => ids.every((id) => receiver.deliveredIds().has(id)), 45_000, 'every event delivered after the restart');
      assertAllVerified(receiver, webhook.secret);
      const repeats = [...receiver.deliveredIds().values()].filter((times) => times > 1).length;
      if (process.env.FAULTS_VERBOSE) console.log(JSON.stringify({ beforeRestart, requests: receiver.requests.length, repeats }));
      assert.equal(receiver.maxInFlightPerId(), 1, 'no delivery was in flight twice at once');

      // The outbox agrees: every delivery is recorded delivered once its answer is recorded.
      const deadline = Date.now() + 10_000;
      while ((await deliveryStatuses(db.db)).delivered !== ids.length) {
        assert.ok(Date.now() < deadline, `every delivery recorded delivered: ${JSON.stringify(await deliveryStatuses(db.db))}`);
        await sleep(50);
      }
      assert.deepEqual(await deliveryStatuses(db.db), { delivered: ids.length });
      const stopped = await restarted.stop();
      assert.equal(stopped.code, 0, restarted.output());
    } finally {
      killServers();
      await receiver.close();
      await db.destroy();
    }
  });

  it('two server processes on one PostgreSQL database drain one outbox: every delivery sent, none sent twice at once', async () => {
    const db = await database();
    const receiver = await startReceiver();
    try {
      let calls = 0;
      // Slow answers keep attempts in flight; one in five fails, so retries mix in.
      receiver.reply = () => ((calls += 1) % 5 === 0 ? { status: 502, delayMs: 30 } : { status: 204, delayMs: 30 });
      const env = { env: { ...db.env, ...WEBHOOK_ENV } };
      const servers = [await startServer(env), await startServer(env)];
      await Promise.all(servers.map((server) => server.started));
      const webhook = await createWebhook(servers[0]!, receiver);
      const ids = await produce(db.db, 80);

      await receiver.until(() => ids.every((id) => receiver.deliveredIds().has(id)), 30_000, 'every event delivered');
      assertAllVerified(receiver, webhook.secret);
      assert.equal(receiver.maxInFlightPerId(), 1, 'no delivery was in flight twice at once');
      const delivered = receiver.deliveredIds();
      assert.deepEqual([...delivered.keys()].sort(), [...ids].sort());
      // Nobody died, so no lease ran out: each was delivered exactly once.
      assert.ok(
        [...delivered.values()].every((times) => times === 1),
        'each delivered once',
      );
      const deadline = Date.now() + 10_000;
      while ((await deliveryStatuses(db.db)).delivered !== ids.length) {
        assert.ok(Date.now() < deadline, `every delivery recorded delivered: ${JSON.stringify(await deliveryStatuses(db.db))}`);
        await sleep(50);
      }
      for (const server of servers) assert.equal((await server.stop()).code, 0, server.output());
    } finally {
      killServers();
      await receiver.close();
      await db.destroy();
    }
  });
});
