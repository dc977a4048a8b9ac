import { Type } from 'typebox';
import { Name, Nullable, PageQuery, Timestamp, Uuid, dateTime } from './common.ts';
import { LOCATION_IDS_MAX, Role } from './users.ts';

const TOKEN_LOCATIONS_DESCRIPTION =
  "The only locations where the token reads and moves stock, within its creator's current scope (a clerk's locations); " +
  'null when it is not limited beyond that scope. The role alone governs the catalog, users and tokens.';

export const TokenSchema = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    role: Role,
    userId: Uuid,
    createdAt: Timestamp,
    expiresAt: Nullable(Timestamp),
    lastUsedAt: Nullable(Timestamp),
    locationIds: Type.Union([Type.Array(Uuid), Type.Null()], { description: TOKEN_LOCATIONS_DESCRIPTION }),
  },
  { $id: 'Token' },
);
export const CreatedTokenSchema = Type.Object({
  ...TokenSchema.properties,
  token: Type.String({ description: 'The secret: shown this once, stored only as a hash' }),
});
export const CreateTokenSchema = Type.Object(
  {
    name: Name,
    role: Type.Optional(Role),
    expiresAt: Type.Optional(dateTime({ description: 'No expiry when absent' })),
    locationIds: Type.Optional(
      Type.Union([Type.Array(Uuid, { minItems: 1, maxItems: LOCATION_IDS_MAX, uniqueItems: true }), Type.Null()], {
        description:
          `${TOKEN_LOCATIONS_DESCRIPTION} Absent or null: not limited (but a token made by a location-limited token takes its limit). ` +
          'Never empty. Outside your own scope: 403; a location that does not exist: 404.',
      }),
    ),
  },
  { additionalProperties: false },
);
export const TokenQuerySchema = Type.Object({ ...PageQuery, userId: Type.Optional(Uuid) });

/** The schemas routes refer to by $id (Type.Ref('Token')), added where they can see them (src/http/routes/index.ts). */
export const tokenSchemas = [TokenSchema];
