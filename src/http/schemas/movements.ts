import { Type } from 'typebox';
import { MOVEMENT_TYPES } from '../../domain/movements.ts';
import { Nullable, oneOf, PageQuery, PRINTABLE_ASCII_PATTERN, QUANTITY_MAX, Timestamp, Uuid, uuid } from './common.ts';
import { dateOrTimestamp } from './dates.ts';

export const MovementType = oneOf(MOVEMENT_TYPES);
/** Free text of at most `max` characters (a reference, a note). */
export const Text = (max: number) => Type.String({ maxLength: max });

export const CreateMovementSchema = Type.Object(
  {
    type: MovementType,
    locationId: uuid({ description: 'inbound/adjustment: where; outbound/transfer: from' }),
    toLocationId: Type.Optional(uuid({ description: 'transfer only' })),
    lines: Type.Array(
      Type.Object(
        {
          productId: Uuid,
          quantity: Type.Optional(
            Type.Integer({
              minimum: -QUANTITY_MAX,
              maximum: QUANTITY_MAX,
              description: 'Positive; for an adjustment a non-zero signed delta',
            }),
          ),
          countedQuantity: Type.Optional(
            Type.Integer({ minimum: 0, maximum: QUANTITY_MAX, description: 'Adjustment only: the counted on-hand' }),
          ),
          expectedOnHand: Type.Optional(
            Type.Integer({
              minimum: -1_000_000_000_000,
              maximum: 1_000_000_000_000,
              description: 'Compare-and-set: refuse the movement unless the on-hand at locationId is this',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    reference: Type.Optional(Text(200)),
    note: Type.Optional(Text(2000)),
    reason: Type.Optional(Text(200)),
  },
  { additionalProperties: false },
);

const MovementLine = Type.Object({
  productId: Uuid,
  quantity: Type.Integer(),
  countedQuantity: Type.Optional(Type.Integer()),
});

/** A level as a write left it (a movement's, a reservation's). */
export const BalanceSchema = Type.Object({
  productId: Uuid,
  locationId: Uuid,
  onHand: Type.Integer(),
  reserved: Type.Integer(),
  available: Type.Integer(),
});

const movementFields = {
  id: Uuid,
  type: MovementType,
  locationId: Uuid,
  toLocationId: Nullable(Uuid),
  reference: Nullable(Type.String()),
  note: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  createdAt: Timestamp,
  createdBy: Nullable(Type.Object({ id: Uuid, name: Type.String() })),
  lines: Type.Array(MovementLine),
};

export const MovementSchema = Type.Object(movementFields, { $id: 'Movement' });
export const RecordedMovementSchema = Type.Object(
  { ...movementFields, balances: Type.Array(BalanceSchema, { description: 'The levels after the movement' }) },
  { $id: 'RecordedMovement' },
);

export const MovementQuerySchema = Type.Object({
  ...PageQuery,
  productId: Type.Optional(Uuid),
  locationId: Type.Optional(Uuid),
  type: Type.Optional(MovementType),
  from: Type.Optional(dateOrTimestamp({ description: 'Movements at or after this; a date means from the start of that UTC day' })),
  to: Type.Optional(
    dateOrTimestamp({
      description:
        'Movements before this timestamp (exclusive); a date means up to the end of that UTC day (the whole day included). Not before from',
    }),
  ),
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, pattern: PRINTABLE_ASCII_PATTERN, description: 'Makes the write exactly-once' }),
  ),
});

/** The schemas routes refer to by $id (Type.Ref('Movement')), added where they can see them (src/http/routes/index.ts). */
export const movementSchemas = [MovementSchema, RecordedMovementSchema];
