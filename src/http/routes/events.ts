import { Type } from 'typebox';
import { assertLocations, holds } from '../../domain/access.ts';
import { reauthenticate } from '../authentication.ts';
import { AppError } from '../../domain/errors.ts';
import { EVENT_TYPES, streamLocations, type EventType } from '../../domain/events.ts';
import type { EventSink } from '../../services/event-feed.ts';
import { responseSink } from '../sse.ts';
import { problems } from '../schemas/common.ts';
import { EventStreamHeaders, EventStreamQuerySchema } from '../schemas/events.ts';
import type { App, RouteOptions } from '../types.ts';

// GET /api/v1/events: the event log as server-sent events (API.md, Events). The socket is taken
// from Fastify (reply.hijack) and written to directly: a stream lives as long as its client, past
// the request deadline, and ends when the client leaves, when it reads too slowly (what waits to
// be sent is bounded: it is disconnected and can resume), or at shutdown (preClose below: an open
// stream would otherwise hold the drain to its deadline), or when its credential no longer holds.

/** EventSource waits this long before reconnecting. */
const RECONNECT_MS = 2000;

function sameLocations(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((id) => b.includes(id));
}

export async function eventRoutes(app: App, { events, streams }: Pick<RouteOptions, 'events' | 'streams'>) {
  const open = new Set<EventSink>();
  app.addHook('preClose', () => {
    for (const sink of open) sink.end();
  });

  app.get(
    '/events',
    {
      config: { access: 'read' },
      schema: {
        operationId: 'streamEvents',
        tags: ['events'],
        summary: 'Follow the events (server-sent events)',
        description:
          'A text/event-stream of every change, in commit order, from every instance: each message has id:, event: (the type: ' +
          `${EVENT_TYPES.join(', ')}) and data: (JSON). Resume with the Last-Event-ID header (EventSource sends it) or ` +
          '?lastEventId=: no event is missed or repeated while it is retained (EVENTS_RETENTION_HOURS); from an older id the stream ' +
          'starts with event: reset (refetch, then follow). A comment line every EVENTS_HEARTBEAT_S keeps proxies from closing it. ' +
          'A client that reads too slowly is disconnected and can resume. A clerk sees only its locations. The session cookie ' +
          'authenticates it too, as EventSource sends no headers.',
        querystring: EventStreamQuerySchema,
        headers: EventStreamHeaders,
        response: {
          200: { description: 'The stream', content: { 'text/event-stream': { schema: Type.String() } } },
          ...problems(401, 403, 422, 503),
        },
      },
    },
    async (request, reply) => {
      if (events === undefined) throw new AppError('unavailable', 'this instance serves no event stream', {}, 1);
      const { actor } = request.ctx;
      const { types, locationId } = request.query;
      if (locationId !== undefined) assertLocations(actor, [locationId]);
      const filter = {
        types: types === undefined ? null : [...new Set(types.split(','))].map((type) => type as EventType),
        locationIds: streamLocations(actor, locationId),
      };
      const start = await events.start(request.headers['last-event-id'] ?? request.query.lastEventId, request.ctx.signal);

      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-accel-buffering': 'no', // nginx: pass each event on at once
      });
      const sink = responseSink(response, streams.bufferBytes);
      open.add(sink);
      // Each heartbeat also asks whether the credential still holds, and as what: a stream whose
      // token was revoked, whose user was disabled or whose locations changed ends (a client
      // still allowed reconnects and resumes, with what it may now see).
      const heartbeat = setInterval(() => {
        reauthenticate(request).then(
          (now) => {
            if (now === null || !holds(now.role, 'read') || !sameLocations(now.locationIds, actor?.locationIds ?? null)) sink.end();
            else sink.write(': keep-alive\n\n');
          },
          () => sink.write(': keep-alive\n\n'), // the database is out of reach: asked again at the next beat
        );
      }, streams.heartbeatS * 1000);
      response.once('close', () => {
        clearInterval(heartbeat);
        open.delete(sink);
        events.unfollow(sink);
      });
      sink.write(`retry: ${RECONNECT_MS}\n\n`);
      if (start.reset) sink.write(`id: ${start.after}\nevent: reset\ndata: ${JSON.stringify({ lastEventId: start.after.toString() })}\n\n`);
      await events.follow(filter, start.after, sink).catch((error: unknown) => {
        request.log.warn({ err: error }, 'an event stream ended: reading the events it had missed failed');
      });
    },
  );
}
