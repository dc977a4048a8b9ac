import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';

// A webhook receiver on 127.0.0.1 for the sender's tests: it records every request it gets, and
// answers as the test programs it (succeed, fail, hang, redirect, answer slowly). It also counts
// the requests in flight for each webhook-id, so that a test can tell whether one delivery was
// ever sent twice at once.

export interface ReceivedRequest {
  /** The path it was sent to. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  webhookId: string;
  /** How many requests this receiver had already seen with this webhook-id. */
  seenBefore: number;
  /** The status it was answered with; undefined while in flight or if the client gave up first. */
  answered?: number;
}

/** How to answer a request: a status (after a delay), a redirect, or never (hold it open). */
export type Reply = { status: number; delayMs?: number; location?: string } | 'hang';

export interface Receiver {
  /** The base URL, `http://127.0.0.1:<port>`. */
  base: string;
  port: number;
  requests: ReceivedRequest[];
  /** How each request is answered; 204 at once unless set. */
  reply: (request: ReceivedRequest) => Reply;
  /** The most requests with one webhook-id that were ever in flight at once. */
  maxInFlightPerId(): number;
  /** Requests of a webhook-id answered 2xx. */
  deliveredIds(): Map<string, number>;
  /** Waits until `done()` or fails after `timeoutMs`. */
  until(done: () => boolean, timeoutMs: number, what: string): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const inFlight = new Map<string, number>();
  let maxInFlight = 0;
  const seen = new Map<string, number>();
  const receiver: Receiver = {
    base: '',
    port: 0,
    requests: [],
    reply: () => ({ status: 204 }),
    maxInFlightPerId: () => maxInFlight,
    deliveredIds() {
      const delivered = new Map<string, number>();
      for (const request of receiver.requests) {
        if (request.answered !== undefined && request.answered >= 200 && request.answered < 300) {
          delivered.set(request.webhookId, (delivered.get(request.webhookId) ?? 0) + 1);
        }
      }
      return delivered;
    },
    async until(done, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        assert.ok(Date.now() < deadline, `not within ${timeoutMs} ms: ${what} (received ${receiver.requests.length})`);
        await sleep(20);
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer((request, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const webhookId = String(request.headers['webhook-id'] ?? '');
      const received: ReceivedRequest = {
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        webhookId,
        seenBefore: seen.get(webhookId) ?? 0,
      };
      seen.set(webhookId, received.seenBefore + 1);
      receiver.requests.push(received);
      const now = (inFlight.get(webhookId) ?? 0) + 1;
      inFlight.set(webhookId, now);
      maxInFlight = Math.max(maxInFlight, now);
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        inFlight.set(webhookId, (inFlight.get(webhookId) ?? 1) - 1);
      };
      response.on('close', finish);
      const reply = receiver.reply(received);
      if (reply === 'hang') return; // held open until the client gives up
      const answer = () => {
        if (response.destroyed) return;
        received.answered = reply.status;
        response.writeHead(reply.status, reply.location === undefined ? {} : { location: reply.location });
        response.end();
      };
      if (reply.delayMs === undefined) answer();
      else setTimeout(answer, reply.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.base = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}

/** Verifies a request as a receiver would, with the published Standard Webhooks verifier; answers the payload. */
export function verified(secret: string, request: ReceivedRequest): unknown {
  const headers = {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
  return new Webhook(secret).verify(request.body, headers);
}
