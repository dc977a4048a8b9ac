import { Type } from 'typebox';
import { Name, Nullable, PageQuery, Timestamp, Uuid } from './common.ts';

export const CategorySchema = Type.Object(
  { id: Uuid, name: Type.String(), parentId: Nullable(Uuid), createdAt: Timestamp, updatedAt: Timestamp },
  { $id: 'Category' },
);
export const CreateCategorySchema = Type.Object({ name: Name, parentId: Type.Optional(Nullable(Uuid)) }, { additionalProperties: false });
export const UpdateCategorySchema = Type.Object(
  { name: Type.Optional(Name), parentId: Type.Optional(Nullable(Uuid)) },
  { additionalProperties: false, minProperties: 1 },
);
export const CategoryQuerySchema = Type.Object({ ...PageQuery, parentId: Type.Optional(Uuid) });

/** The schemas routes refer to by $id (Type.Ref('Category')), added where they can see them (src/http/routes/index.ts). */
export const categorySchemas = [CategorySchema];
