import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { responseSink } from '../../src/http/sse.ts';

// The bound on what an event stream may have waiting (src/http/sse.ts), over real sockets: a
// client that stops reading is disconnected once the bound is passed, whatever the kernel's
// buffers hold first; one that reads, and is waited for, never is.

// Above a response's high-water mark (16 KiB on Node.js 20, 64 KiB from 22) and a round of writes.
const BOUND = 256 * 1024;
const CHUNK = `data: ${'x'.repeat(16 * 1024 - 8)}\n\n`;

let server: Server;
let port: number;
let respond: (response: ServerResponse) => void;
before(async () => {
  server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    respond(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.closeAllConnections(); // a stream a failed test left open would hold close() for ever
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('an event stream response as a sink', () => {
  it('disconnects a client that stops reading once more than the bound waits for it', { timeout: 30_000 }, async () => {
    let written = 0;
    let refused = false;
    const closed = new Promise<void>((resolve) => {
      respond = (response) => {
        response.once('close', () => resolve());
        const sink = responseSink(response, BOUND);
        const pump = () => {
          // A little at a time, as events come: the kernel's buffers fill, then the response's.
          for (let index = 0; index < 16 && !refused; index += 1) {
            if (sink.write(CHUNK)) written += CHUNK.length;
            else refused = true;
          }
          if (!refused && written < 256 * 1024 * 1024) setTimeout(pump, 1);
        };
        pump();
      };
    });
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    socket.pause(); // and never read
    await closed;
    assert.ok(refused, `the sink refused more after ${written} bytes`);
    socket.destroy();
  });

  it('keeps a client that reads, when the writer waits for it to drain', { timeout: 30_000 }, async () => {
    const total = 8 * 1024 * 1024;
    let written = 0;
    let refused = false;
    const done = new Promise<void>((resolve) => {
      respond = (response) => {
        const sink = responseSink(response, BOUND);
        void (async () => {
          while (written < total) {
            for (let index = 0; index < 3; index += 1) {
              if (sink.write(CHUNK)) written += CHUNK.length;
              else refused = true;
            }
            await sink.drained();
            if (refused || sink.ended) break;
          }
          sink.end();
          resolve();
        })();
      };
    });
    let received = 0;
    const socket = connect(port, '127.0.0.1');
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // A slow reader: a pause now and then.
      if (Math.random() < 0.05) {
        socket.pause();
        void sleep(5).then(() => socket.resume());
      }
    });
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await done;
    await new Promise<void>((resolve) => socket.once('close', () => resolve()).end());
    assert.equal(refused, false);
    assert.ok(received >= total, `received ${received}`);
  });
});
