import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { assertProblem } from '../support/assertions.ts';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../support/helpers.ts';
import { killServers, startServer, type ServerProcess } from '../support/server-process.ts';

// The edge of the HTTP server over real sockets (issue "Harden the edge", findings 7 and 8): an
// answer given before the body has arrived reaches a client that is still sending it, and the
// answers no hook sees carry the security headers too. Deadlines for slow clients need timing
// and are in test/faults/slow-clients.test.ts. The server runs as a process of its own, as in
// production: with client and server on one event loop, the race these tests are about (the
// server closing while the client still sends) is hidden.

let database: TestDatabase;
let server: ServerProcess;
let base: URL;
let auth: { authorization: string };
before(async () => {
  database = await createTestDatabase();
  if (!usingPostgres) await database.db.close(); // the embedded database takes one process
  server = await startServer(database);
  await server.started;
  base = new URL(server.base);
  auth = await server.auth();
});
after(async () => {
  await server?.stop();
  killServers();
  await database?.destroy();
});

// Eight times BODY_LIMIT_BYTES' default: more than loopback's socket buffers hold, so that the
// client is still sending when the answer comes.
const BODY_BYTES = 8_000_000;

interface RawAnswer {
  /** What the client read before the connection ended or went quiet. */
  text: string;
  /** The socket error the client met, if any (EPIPE, ECONNRESET). */
  error: string | undefined;
}

function openSocket(): Promise<Socket> {
  const socket = connect(Number(base.port), base.hostname);
  return once(socket, 'connect').then(() => socket);
}

/**
 * Writes `head`, then `body` in one go (the kernel takes what fits and Node queues the rest), and
 * only starts reading after `readAfterMs`: a client busy sending. Resolves once a whole answer
 * has been read (or the connection failed).
 */
async function sendRaw(head: string, body: Buffer, readAfterMs: number): Promise<RawAnswer> {
  const socket = await openSocket();
  return new Promise((resolve) => {
    let text = '';
    let settled = false;
    const settle = (error?: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ text, error });
    };
    socket.on('error', (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
    socket.on('close', () => settle());
    socket.write(head);
    socket.write(body);
    socket.pause();
    setTimeout(() => {
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
        if (end >= 0 && length !== null && text.length >= end + 4 + Number(length[1])) settle();
      });
      socket.resume();
    }, readAfterMs);
  });
}

function statusOf(answer: RawAnswer): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(answer.text);
  return match === null ? undefined : Number(match[1]);
}

describe('an answer given before the body has arrived', () => {
  const cases = () => [
    {
      name: '413 past BODY_LIMIT_BYTES, by Content-Length',
      status: 413,
      head: `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`,
      body: Buffer.alloc(BODY_BYTES, ' '),
    },
    {
      name: '413 past BODY_LIMIT_BYTES, chunked',
      status: 413,
      head: `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      body: Buffer.concat([Buffer.from(`${BODY_BYTES.toString(16)}\r\n`), Buffer.alloc(BODY_BYTES, ' '), Buffer.from('\r\n0\r\n\r\n')]),
    },
    {
      name: '401 without credentials',
      status: 401,
      head: `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`,
      body: Buffer.alloc(BODY_BYTES, ' '),
    },
    {
      name: '400 for a content type the API does not take',
      status: 400,
      head: `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: text/csv\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`,
      body: Buffer.alloc(BODY_BYTES, 'x'),
    },
  ];

  it('reaches a raw client that reads only after sending, every time', async () => {
    for (const { name, status, head, body } of cases()) {
      for (let run = 0; run < 8; run += 1) {
        const answer = await sendRaw(head, body, run % 2 === 0 ? 0 : 200);
        assert.equal(answer.error, undefined, `${name}, run ${run}: ${answer.error} before the answer (read ${answer.text.length} bytes)`);
        assert.equal(statusOf(answer), status, `${name}, run ${run}: ${answer.text.slice(0, 80)}`);
        assert.match(answer.text, /\r\ncontent-type: application\/problem\+json/i, name);
        assert.match(answer.text, /\r\nx-content-type-options: nosniff/i, name);
      }
    }
  });

  it('reaches fetch sending an 8 MB body, every time', async () => {
    const body = JSON.stringify({ type: 'inbound', padding: 'x'.repeat(BODY_BYTES) });
    const sends = [
      { status: 413, headers: { ...auth, 'content-type': 'application/json' } },
      { status: 401, headers: { 'content-type': 'application/json' } },
      { status: 400, headers: { ...auth, 'content-type': 'text/csv' } },
    ];
    for (const { status, headers } of sends) {
      for (let run = 0; run < 10; run += 1) {
        const response = await fetch(new URL('/api/v1/movements', base), { method: 'POST', headers, body });
        assert.equal(response.status, status);
        assert.equal(((await response.json()) as { status: number }).status, status);
      }
    }
  });

  it('leaves the connection serving the next request once the rest of the body is thrown away', async () => {
    const socket = await openSocket();
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.write(
      `POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(BODY_BYTES, '{'));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const deadline = Date.now() + 10_000;
    while (!text.includes('{"status":"ok"}') && Date.now() < deadline && !socket.destroyed) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
    assert.deepEqual(statuses, [413, 200], text.slice(0, 300));
    assert.ok(!/\r\nconnection: close/i.test(text), 'the early answer keeps the connection');
  });

  it('cuts a client that goes on sending far past the body it was refused', async () => {
    const socket = await openSocket();
    let failed: string | undefined;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failed = error.code;
    });
    socket.on('data', () => undefined);
    socket.write(`POST /api/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, ' ');
    const drainedOrClosed = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    let sent = 0;
    // The server throws away at most 64 MiB after its answer; 256 MiB must not all go through.
    while (sent < 256 * 1024 * 1024 && failed === undefined && !socket.destroyed) {
      if (!socket.write(chunk)) await drainedOrClosed();
      sent += chunk.length;
    }
    socket.destroy();
    assert.ok(failed !== undefined, `the connection was still open after ${sent} bytes`);
    assert.ok(sent < 128 * 1024 * 1024, `cut after ${sent} bytes`);
  });
});

describe('answers no hook sees', () => {
  it('a request Node cannot parse gets a 400 problem document with the security headers', async () => {
    const answer = await sendRaw('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n', Buffer.alloc(0), 0);
    assert.equal(statusOf(answer), 400, answer.text);
    assert.match(answer.text, /\r\ncontent-type: application\/problem\+json/i);
    assert.match(answer.text, /\r\nx-content-type-options: nosniff/i);
    assert.match(answer.text, /\r\ncontent-security-policy: default-src 'self'/i);
    assert.match(answer.text, /"code":"bad_request"/);
  });

  it('a URL the router cannot decode gets a 400 problem document with the security headers', async () => {
    for (const url of ['/api/v1/products/%E0%A4%A', `/api/v1/products/${'a'.repeat(200)}`]) {
      const response = await fetch(new URL(url, base), { headers: auth });
      const headers = Object.fromEntries(response.headers);
      assertProblem({ status: response.status, headers, body: await response.json() }, 400, 'bad_request');
      assert.equal(headers['x-content-type-options'], 'nosniff', url);
      assert.equal(headers['x-frame-options'], 'SAMEORIGIN', url);
      assert.match(String(headers['content-security-policy']), /default-src 'self'/, url);
      assert.ok(headers['strict-transport-security'] !== undefined, url);
    }
  });
});
