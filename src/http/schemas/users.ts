import { Type } from 'typebox';
import { ROLES } from '../../domain/access.ts';
import { EMAIL_PATTERN, Name, oneOf, PageQuery, Timestamp, Uuid } from './common.ts';

const Email = Type.String({ minLength: 3, maxLength: 254, pattern: EMAIL_PATTERN, description: 'Unique, case-insensitively' });
// Bounded above: Argon2 hashes whatever it is given, and a megabyte "password" is a cheap attack.
export const Password = Type.String({ minLength: 8, maxLength: 256, description: '8 to 256 characters' });
export const Role = oneOf(ROLES, {
  description: ROLES.join(', '),
});
export const LOCATION_IDS_MAX = 1000;
const LocationIds = Type.Array(Uuid, { maxItems: LOCATION_IDS_MAX, uniqueItems: true, description: "A clerk's locations" });

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

/** The schemas routes refer to by $id (Type.Ref('User')), added where they can see them (src/http/routes/index.ts). */
export const userSchemas = [UserSchema];
