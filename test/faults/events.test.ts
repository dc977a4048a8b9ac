import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openEventStream, type EventStreamClient, type StreamMessage } from '../support/event-stream.ts';
import { killServers, startServer, type ServerProcess } from '../support/server-process.ts';
import { create, request, unique, waitUntil } from './load.ts';
import { createPrivateCluster } from './private-postgres.ts';

// Events across instances and through a database restart (issue 12): several server processes on
// one PostgreSQL, each serving streams, and PostgreSQL restarted under event load. A stream must
// see every event once, in one order the same on every instance, with ids that run without a gap.
//
// Both need PostgreSQL: the first takes a schema on the local server whatever DATABASE_URL says
// (as two-instances.test.ts does), the second a private cluster of its own.
const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
process.env.DATABASE_URL ||= LOCAL_POSTGRES_URL;
const { createTestDatabase } = await import('../support/helpers.ts');

after(killServers);

/**
 * A stream that reconnects as EventSource does: with Last-Event-ID, after it ends. Collects what
 * every connection received.
 */
function followAlways(base: string, auth: () => Promise<Record<string, string>>) {
  const received: StreamMessage[] = [];
  let current: EventStreamClient | undefined;
  let stopped = false;
  let reconnects = 0;
  const running = (async () => {
    while (!stopped) {
      const last = received.at(-1)?.id;
      try {
        current = await openEventStream(`${base}/api/v1/events`, {
          ...(await auth()),
          ...(last === undefined ? {} : { 'last-event-id': last }),
        });
        if (current.status === 200) {
          const messages = current.messages;
          let taken = 0;
          while (!current.isEnded() && !stopped) {
            while (taken < messages.length) received.push(messages[taken++]!);
            await sleep(10);
          }
          while (taken < messages.length) received.push(messages[taken++]!);
        }
      } catch {
        // refused while the database is down: try again, as EventSource does
      }
      if (!stopped) {
        reconnects += 1;
        await sleep(200);
      }
    }
  })();
  return {
    received,
    reconnects: () => reconnects,
    async stop() {
      stopped = true;
      current?.close();
      await running;
    },
  };
}

function assertGaplessOnce(messages: StreamMessage[], who: string) {
  assert.ok(!messages.some((message) => message.event === 'reset'), `${who}: no reset`);
  const ids = messages.map((message) => Number(message.id));
  for (let index = 1; index < ids.length; index += 1) {
    assert.equal(
      ids[index],
      ids[index - 1]! + 1,
      `${who}: ids run without a gap or repeat at ${index}: ${ids.slice(Math.max(0, index - 3), index + 3).join(',')}`,
    );
  }
}

const recordedIds = (messages: StreamMessage[]) =>
  messages.filter((message) => message.event === 'movement.recorded').map((message) => message.data.movementId as string);

async function inbound(base: string, locationId: string, productId: string) {
  return request(base, '/api/v1/movements', {
    body: { type: 'inbound', locationId, lines: [{ productId, quantity: 1 }], reference: unique('evt') },
    hangMs: 10_000,
  });
}

describe('events across instances', () => {
  it('a change through one instance reaches a stream on another within a second; both see one order, gapless', async () => {
    const database = await createTestDatabase();
    const servers: ServerProcess[] = [];
    try {
      servers.push(await startServer(database), await startServer(database));
      await Promise.all(servers.map((server) => server.started));
      const [a, b] = servers as [ServerProcess, ServerProcess];
      const location = await create(a.base, '/api/v1/locations', { code: unique('LOC'), name: 'Events' });
      const product = await create(a.base, '/api/v1/products', { sku: unique('SKU'), name: 'Evented' });

      // Latency: one movement at a time through A, seen on B.
      const onB = await openEventStream(`${b.base}/api/v1/events?types=movement.recorded`, await b.auth());
      const latencies: number[] = [];
      for (let index = 0; index < 5; index += 1) {
        const sent = Date.now();
        const answer = await inbound(a.base, location.id, product.id);
        assert.equal(answer.status, 201);
        await onB.until(() => recordedIds(onB.messages).includes(answer.body.id), 'the movement on B', 1000);
        latencies.push(Date.now() - sent);
      }
      onB.close();

      // Order: writers on both instances at once; a stream on each.
      const streams = [followAlways(a.base, () => a.auth()), followAlways(b.base, () => b.auth())];
      await sleep(300);
      const written: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, worker) => {
          for (let index = 0; index < 15; index += 1) {
            const answer = await inbound(servers[(worker + index) % 2]!.base, location.id, product.id);
            assert.equal(answer.status, 201, JSON.stringify(answer.body));
            written.push(answer.body.id);
          }
        }),
      );
      for (const stream of streams) {
        await waitUntil('every movement on the stream', () => written.every((id) => recordedIds(stream.received).includes(id)), 10_000);
      }
      await sleep(300);
      await Promise.all(streams.map((stream) => stream.stop()));
      const [onA, onBoth] = streams.map((stream) => stream.received) as [StreamMessage[], StreamMessage[]];
      assertGaplessOnce(onA, 'the stream on A');
      assertGaplessOnce(onBoth, 'the stream on B');
      const common = Math.min(onA.length, onBoth.length);
      assert.deepEqual(
        onBoth.slice(0, common).map((message) => [message.id, message.event, message.data]),
        onA.slice(0, common).map((message) => [message.id, message.event, message.data]),
        'the same events in the same order on both',
      );
      assert.deepEqual(recordedIds(onA).sort(), [...written].sort(), 'each movement once');
      assert.ok(Math.max(...latencies) < 1000, `latencies ${latencies.join(', ')} ms`);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      await database.destroy();
    }
  });
});

describe('PostgreSQL restarted under event load', () => {
  it('a stream resumes after the outage with no gap and no repeat; every movement answered 201 is in it, and nothing else', async () => {
    const cluster = await createPrivateCluster();
    try {
      const server = await startServer({
        env: { DATABASE_URL: cluster.url, DB_POOL_ACQUIRE_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '3000' },
      });
      await server.started;
      const location = await create(server.base, '/api/v1/locations', { code: unique('LOC'), name: 'Restart' });
      const product = await create(server.base, '/api/v1/products', { sku: unique('SKU'), name: 'Restarted' });
      const stream = followAlways(server.base, () => server.auth());
      await sleep(300);

      const answered: string[] = [];
      let done = false;
      const writers = Promise.all(
        Array.from({ length: 4 }, async () => {
          while (!done) {
            const answer = await inbound(server.base, location.id, product.id).catch(() => undefined);
            if (answer?.status === 201) answered.push(answer.body.id);
            else await sleep(50);
          }
        }),
      );
      try {
        await waitUntil('movements before the outage', () => answered.length >= 30, 10_000);
        await cluster.stop('immediate');
        await sleep(1500);
        await cluster.start();
        const atRecovery = answered.length;
        await waitUntil('movements after the outage', () => answered.length >= atRecovery + 30, 15_000);
      } finally {
        done = true;
        await writers;
      }
      await waitUntil(
        'every movement answered 201 on the stream',
        () => answered.every((id) => recordedIds(stream.received).includes(id)),
        15_000,
      );
      await sleep(500);
      await stream.stop();

      assertGaplessOnce(stream.received, 'the stream');
      const seen = recordedIds(stream.received);
      assert.equal(new Set(seen).size, seen.length, 'no movement twice');
      // A movement whose answer was lost with the database may be there too; none that is not in the ledger.
      const inLedger = new Set<string>();
      let cursor: string | null = null;
      do {
        const page = await request(
          server.base,
          `/api/v1/movements?productId=${product.id}&limit=500${cursor === null ? '' : `&cursor=${cursor}`}`,
        );
        for (const item of page.body.items as { id: string }[]) inLedger.add(item.id);
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(
        seen.filter((id) => !inLedger.has(id)),
        [],
        'no event for a change that is not in the ledger',
      );
      await server.stop();
    } finally {
      await cluster.destroy();
    }
  });
});
