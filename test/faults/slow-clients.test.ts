import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';
import { killServers, startServer, type ServerProcess } from '../support/server-process.ts';

// Slow clients (issue "Harden the edge", finding 6): a request must arrive whole, headers and
// body, within REQUEST_TIMEOUT_MS, or it is answered 408 and its connection closed, so that a
// client trickling bytes can't hold a socket and its buffers. Before, a body sent one byte every
// few seconds kept its connection open for minutes. Here with a deadline of 2 s.

const DEADLINE_MS = 2000;
// Node looks for late requests once a second, and the machine is shared: what "promptly" means.
const CUT_WITHIN_MS = DEADLINE_MS + 4000;

let database: TestDatabase;
let server: ServerProcess;
let auth: { authorization: string };
before(async () => {
  database = await createTestDatabase();
  if (!usingPostgres) await database.db.close(); // the embedded database takes one process
  server = await startServer({ env: { ...database.env, REQUEST_TIMEOUT_MS: String(DEADLINE_MS) } });
  await server.started;
  auth = await server.auth();
});
after(async () => {
  await server?.stop();
  killServers();
  await database?.destroy();
});

interface Trickle {
  /** Everything the server wrote. */
  text: string;
  /** How long after the first byte the server closed the connection; undefined if it never did. */
  closedAfterMs: number | undefined;
}

/**
 * Sends `head` at once, then `drip` one piece every `everyMs`, for at most `forMs`, reading all
 * the while; stops early when the server closes the connection.
 */
async function trickle(head: string, drip: string[], everyMs: number, forMs: number): Promise<Trickle> {
  const url = new URL(server.base);
  const socket: Socket = connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  const started = Date.now();
  let text = '';
  let closedAfterMs: number | undefined;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined); // a write after the server closed: what is being tested
  socket.on('close', () => {
    closedAfterMs = Date.now() - started;
  });
  socket.write(head);
  for (const piece of drip) {
    if (closedAfterMs !== undefined || Date.now() - started > forMs) break;
    await sleep(everyMs);
    if (!socket.destroyed) socket.write(piece);
  }
  while (closedAfterMs === undefined && Date.now() - started < forMs) await sleep(50);
  socket.destroy();
  return { text, closedAfterMs };
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));

describe('a request that does not arrive within REQUEST_TIMEOUT_MS', () => {
  it('a body sent a byte at a time is answered 408 and its connection closed', async () => {
    const body = JSON.stringify({ type: 'inbound', lines: [] });
    const head = `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const result = await trickle(head, [...body], 500, 15_000);
    assert.ok(result.closedAfterMs !== undefined && result.closedAfterMs < CUT_WITHIN_MS, `closed after ${result.closedAfterMs} ms`);
    assert.deepEqual(statuses(result.text), [408], result.text);
    assert.match(result.text, /\r\ncontent-type: application\/problem\+json\r\n/i);
    assert.match(result.text, /\r\nx-content-type-options: nosniff\r\n/i);
    assert.match(result.text, /"status":408/);
  });

  it('headers sent a line at a time are answered 408 and their connection closed', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => `X-Slow-${i}: ${i}\r\n`);
    const result = await trickle('GET /healthz HTTP/1.1\r\nHost: x\r\n', lines, 500, 15_000);
    assert.ok(result.closedAfterMs !== undefined && result.closedAfterMs < CUT_WITHIN_MS, `closed after ${result.closedAfterMs} ms`);
    assert.deepEqual(statuses(result.text), [408], result.text);
  });

  it('a body still trickling after an early answer is cut, without a second answer', async () => {
    const head = `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const result = await trickle(
      head,
      Array.from({ length: 100 }, () => ' '),
      300,
      15_000,
    );
    assert.ok(result.closedAfterMs !== undefined && result.closedAfterMs < CUT_WITHIN_MS, `closed after ${result.closedAfterMs} ms`);
    assert.deepEqual(statuses(result.text), [401], result.text);
  });

  it('a body that is slow but arrives in time is served as usual', async () => {
    const body = JSON.stringify({ type: 'inbound', lines: [] });
    const head = `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const third = Math.ceil(body.length / 3);
    const result = await trickle(head, [body.slice(0, third), body.slice(third, 2 * third), body.slice(2 * third)], 300, 10_000);
    assert.deepEqual(statuses(result.text), [422], result.text); // an inbound needs a location and lines
  });

  it('logs none of it as an error', () => {
    const errors = server
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors, []);
  });
});
