import { Type } from 'typebox';
import { ROLES } from '../../domain/access.ts';
import { EMAIL_PATTERN, Name, Nullable, oneOf, PageQuery, Timestamp, Uuid, dateTime } from './common.ts';

const Email = Type.String({ minLength: 3, maxLength: 254, pattern: EMAIL_PATTERN, description: 'Unique, case-insensitively' });
// Bounded above: Argon2 hashes whatever it is given, and a megabyte "password" is a cheap attack.
const Password = Type.String({ minLength: 8, maxLength: 256, description: '8 to 256 characters' });
const Role = oneOf(ROLES, {
  description: ROLES.join(', '),
});
const LOCATION_IDS_MAX = 1000;
const LocationIds = Type.Array(Uuid, { maxItems: LOCATION_IDS_MAX, uniqueItems: true, description: "A clerk's locations" });
const TOKEN_LOCATIONS_DESCRIPTION =
  "The only locations where the token reads and moves stock, within its creator's current scope (a clerk's locations); " +
  'null when it is not limited beyond that scope. The role alone governs the catalog, users and tokens.';

export const UserSchema = Type.Object(
  {
    id: Uuid,
    email: Type.String(),
    name: Type.String(),
    role: Role,
    locationIds: Type.Array(Uuid),
    disabled: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'User' },
);

export const LoginSchema = Type.Object(
  // The login form takes any password up to the bound: rules for new passwords don't apply to old ones.
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);
export const LoginResultSchema = Type.Object({
  token: Type.String({ description: 'Bearer token for this session (the same secret as the session cookie)' }),
  csrfToken: Type.String({ description: 'Send it as X-CSRF-Token with unsafe requests authenticated by the cookie' }),
  expiresAt: Timestamp,
  user: Type.Ref('User'),
});

export const CreateUserSchema = Type.Object(
  {
    email: Email,
    name: Name,
    role: Role,
    locationIds: Type.Optional(LocationIds),
    password: Password,
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const UpdateMeSchema = Type.Object(
  {
    name: Type.Optional(Name),
    password: Type.Optional(Password),
    // Like the login form's: any password up to the bound, since the rules for new ones don't apply to it.
    currentPassword: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Your password now: required with password, and only with it' }),
    ),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    description:
      'Your own name, or a new password with your current one. Email, role, locations and disabled are changed by an admin (PATCH /users/{id}).',
  },
);

export const UpdateUserSchema = Type.Object(
  {
    email: Type.Optional(Email),
    name: Type.Optional(Name),
    role: Type.Optional(Role),
    locationIds: Type.Optional(LocationIds),
    password: Type.Optional(Password),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const UserQuerySchema = Type.Object({ ...PageQuery, role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()) });

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
