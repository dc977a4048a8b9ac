import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from '../problems.ts';

// Shutting down (DESIGN.md pattern 2): once closing starts, requests that still arrive on open
// connections are refused with 503, answers close their connection, and connections with no
// request in flight are closed at once. Node counts a connection that has not yet sent a request
// as busy, so neither server.close() nor Fastify's 'idle' option ends it, and the drain would
// wait for it until the shutdown deadline (browsers and load balancers open such connections).

export const gracefulClose = fp(
  async (app: FastifyInstance) => {
    let closing = false;
    const inFlight = new Map<Socket, number>();

    app.server.on('connection', (socket: Socket) => {
      inFlight.set(socket, 0);
      socket.once('close', () => inFlight.delete(socket));
    });
    app.server.on('request', (request, response) => {
      const socket = request.socket;
      inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
      response.once('close', () => {
        const left = (inFlight.get(socket) ?? 1) - 1;
        inFlight.set(socket, left);
        if (closing && left === 0) socket.end();
      });
    });

    app.addHook('preClose', async () => {
      closing = true;
      for (const [socket, requests] of inFlight) if (requests === 0) socket.destroy();
    });
    app.addHook('onRequest', async (_request, reply) => {
      if (closing) return sendProblem(reply, 503, 'unavailable', 'the server is shutting down; retry on another instance', {}, 1);
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close');
    });
  },
  { name: 'graceful-close' },
);
