import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// The webhook sender's rate: a backlog of deliveries (written while their webhook was disabled)
// drained by the server once the webhook is enabled, timed at a receiver in this process that
// answers 204 at once. Beside it, the limit it is measured against: this process POSTing the same
// bodies to the same receiver, at the same concurrency and, as the sender does, on a new
// connection each time (no keep-alive), with nothing else to do.

export interface Receiver {
  url: string;
  /** Distinct webhook-ids received, with the time of the first and the last. */
  received(): { unique: number; firstMs: number; lastMs: number };
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const ids = new Set<string>();
  let firstMs = 0;
  let lastMs = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const now = performance.now();
      if (ids.size === 0) firstMs = now;
      ids.add(String(req.headers['webhook-id']));
      lastMs = now;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => ({ unique: ids.size, firstMs, lastMs }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** POSTs `body` to `url` from `concurrency` loops for `seconds`, a new connection each time; answers POSTs per second. */
export async function directPostRate(url: string, body: string, concurrency: number, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'webhook-id': String(done) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await post();
        done += 1;
      }
    }),
  );
  return done / seconds;
}
