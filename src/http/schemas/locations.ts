import { Type } from 'typebox';
import { Name, PageQuery, Timestamp, Uuid, WORD_PATTERN } from './common.ts';

const Code = Type.String({ minLength: 1, maxLength: 32, pattern: WORD_PATTERN, description: 'Unique, case-insensitively' });

export const LocationSchema = Type.Object(
  {
    id: Uuid,
    code: Type.String(),
    name: Type.String(),
    allowNegative: Type.Boolean(),
    archived: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Location' },
);
export const CreateLocationSchema = Type.Object(
  { code: Code, name: Name, allowNegative: Type.Optional(Type.Boolean({ default: false })) },
  { additionalProperties: false },
);
export const UpdateLocationSchema = Type.Object(
  {
    code: Type.Optional(Code),
    name: Type.Optional(Name),
    allowNegative: Type.Optional(Type.Boolean()),
    archived: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const LocationQuerySchema = Type.Object({ ...PageQuery, archived: Type.Optional(Type.Boolean()) });

/** The schemas routes refer to by $id (Type.Ref('Location')), added where they can see them (src/http/routes/index.ts). */
export const locationSchemas = [LocationSchema];
