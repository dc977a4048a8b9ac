import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

// An answer sent before the request's body has all arrived — 413 past the body limit, 401 from
// the authentication hook (which runs before the body is read), 400 for a content type that is
// not parsed — must still reach a client that is busy sending. Closing the connection at once,
// as Fastify asks after a refused body, makes the kernel answer the client's next bytes with a
// reset, and the reset throws away the answer it has not read yet: the client sees EPIPE or
// ECONNRESET instead of the 413 (DESIGN.md, known pitfalls). So the connection is kept, and the
// rest of the body is read and thrown away, as nginx's lingering_close does, within bounds: at
// most EARLY_ANSWER_DISCARD_MAX_BYTES more, and no longer than the request's deadline to arrive
// (REQUEST_TIMEOUT_MS, which the HTTP server enforces: src/http/server-options.ts). Past either
// the connection is destroyed. Once the body has ended, the connection serves the next request.

/**
 * How much of a body answered before it arrived (413, 401, …) is read and thrown away, so that
 * the answer reaches a client still sending it, before the connection is cut instead.
 */
export const EARLY_ANSWER_DISCARD_MAX_BYTES = 64 * 1024 * 1024;

const discarding = new WeakSet<Socket>();

/** Whether this connection's current request was answered and the rest of its body is being thrown away. */
export function isDiscardingBody(socket: Socket): boolean {
  return discarding.has(socket);
}

export const earlyAnswers = fp(
  async (app: FastifyInstance) => {
    app.addHook('onSend', (request, reply, payload, done) => {
      const incoming = request.raw;
      if (!incoming.complete && !incoming.destroyed) {
        // Registered before the graceful-close plugin, whose own onSend asks to close again
        // while the server shuts down.
        reply.removeHeader('connection');
        const socket = incoming.socket;
        discarding.add(socket);
        let discarded = 0;
        const onData = (chunk: Buffer) => {
          discarded += chunk.length;
          if (discarded > EARLY_ANSWER_DISCARD_MAX_BYTES) socket.destroy();
        };
        const stop = () => {
          incoming.off('data', onData);
          discarding.delete(socket);
        };
        // Reading now, rather than when the answer has been written, also keeps Node from
        // "dumping" the body, which discards it without counting.
        incoming.on('data', onData);
        incoming.once('end', stop);
        incoming.once('close', stop);
        incoming.resume();
      }
      done(null, payload);
    });
  },
  { name: 'early-answers' },
);
