import { Type } from 'typebox';
import { EVENT_TYPES } from '../../domain/events.ts';
import { describedPattern, uuid } from './common.ts';

const TYPE = `(${EVENT_TYPES.map((type) => type.replace('.', '\\.')).join('|')})`;
const EVENT_ID = describedPattern('^[0-9]{1,19}$', 'must be an event id (a decimal number)');

export const EventStreamQuerySchema = Type.Object(
  {
    types: Type.Optional(
      Type.String({
        pattern: describedPattern(`^${TYPE}(,${TYPE})*$`, `must be a comma-separated list of event types (${EVENT_TYPES.join(', ')})`),
        description: `Only these types, comma-separated (${EVENT_TYPES.join(', ')}); every type when absent`,
      }),
    ),
    locationId: Type.Optional(uuid({ description: "Only this location's events (a transfer's movement.recorded is at both ends)" })),
    lastEventId: Type.Optional(
      Type.String({ pattern: EVENT_ID, description: 'Resume after this event id, as the Last-Event-ID header does (the header wins)' }),
    ),
  },
  { additionalProperties: false },
);

export const EventStreamHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({ pattern: EVENT_ID, description: 'Sent by EventSource when it reconnects: resume after this event id' }),
  ),
});
