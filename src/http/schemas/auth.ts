import { Type } from 'typebox';
import { ROLES } from '../../domain/access.ts';
import { Nullable, PageQuery, Timestamp, Uuid, dateTime } from './common.ts';

const Email = Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$', description: 'Unique, case-insensitively' });
// Bounded above: Argon2 hashes whatever it is given, and a megabyte "password" is a cheap attack.
const Password = Type.String({ minLength: 8, maxLength: 256, description: '8 to 256 characters' });
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Role = Type.Union([Type.Literal('admin'), Type.Literal('manager'), Type.Literal('clerk'), Type.Literal('viewer')], {
  description: ROLES.join(', '),
});
const LocationIds = Type.Array(Uuid, { maxItems: 1000, uniqueItems: true, description: "A clerk's locations" });

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
  },
  { additionalProperties: false },
);
export const TokenQuerySchema = Type.Object({ ...PageQuery, userId: Type.Optional(Uuid) });
