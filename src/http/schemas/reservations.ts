import { Type } from 'typebox';
import { RESERVATION_STATUSES } from '../../domain/reservations.ts';
import { dateTime, Nullable, oneOf, PageQuery, QUANTITY_MAX, Timestamp, Uuid } from './common.ts';
import { BalanceSchema, Text } from './movements.ts';

export const ReservationStatus = oneOf(RESERVATION_STATUSES);

export const CreateReservationSchema = Type.Object(
  {
    locationId: Uuid,
    lines: Type.Array(
      Type.Object(
        {
          productId: Uuid,
          quantity: Type.Integer({ minimum: 1, maximum: QUANTITY_MAX, description: "How much to hold, in the product's unit" }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000, description: 'A product may appear once' },
    ),
    reference: Type.Optional(Text(200)),
    note: Type.Optional(Text(2000)),
    expiresAt: Type.Optional(
      dateTime({ description: 'When the hold is released unless fulfilled first; in the future. None when absent' }),
    ),
  },
  { additionalProperties: false },
);

const reservationFields = {
  id: Uuid,
  status: ReservationStatus,
  locationId: Uuid,
  reference: Nullable(Type.String()),
  note: Nullable(Type.String()),
  expiresAt: Nullable(Timestamp),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  createdBy: Nullable(Type.Object({ id: Uuid, name: Type.String() })),
  movementId: Nullable(Uuid),
  lines: Type.Array(Type.Object({ productId: Uuid, quantity: Type.Integer() })),
};

export const ReservationSchema = Type.Object(reservationFields, {
  $id: 'Reservation',
  description: 'movementId is the outbound movement of a fulfilled reservation, null otherwise',
});
export const ChangedReservationSchema = Type.Object(
  { ...reservationFields, balances: Type.Array(BalanceSchema, { description: 'The levels after the change' }) },
  { $id: 'ChangedReservation' },
);

export const ReservationQuerySchema = Type.Object({
  ...PageQuery,
  status: Type.Optional(ReservationStatus),
  locationId: Type.Optional(Uuid),
  productId: Type.Optional(Uuid),
  reference: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Exactly this reference' })),
});

/** The schemas routes refer to by $id (Type.Ref('Reservation')), added where they can see them (src/http/routes/index.ts). */
export const reservationSchemas = [ReservationSchema, ChangedReservationSchema];
