import { Type } from 'typebox';
import { Name, NOT_BLANK_PATTERN, Nullable, PageQuery, Timestamp, TRIMMED_PATTERN, Uuid } from './common.ts';

const Sku = Type.String({ minLength: 1, maxLength: 64, pattern: TRIMMED_PATTERN, description: 'Unique, case-insensitively' });
const Unit = Type.String({ minLength: 1, maxLength: 16, description: 'Base unit of quantities, e.g. pcs, g, ml' });
const Description = Nullable(Type.String({ maxLength: 4000 }));
const Barcode = Nullable(Type.String({ minLength: 1, maxLength: 64 }));
const ReorderPoint = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });

export const ProductSchema = Type.Object(
  {
    id: Uuid,
    sku: Type.String(),
    name: Type.String(),
    description: Nullable(Type.String()),
    categoryId: Nullable(Uuid),
    category: Nullable(Type.Object({ id: Uuid, name: Type.String() })),
    unit: Type.String(),
    barcode: Nullable(Type.String()),
    reorderPoint: Type.Integer(),
    imageUrl: Nullable(Type.String({ description: 'Where the product image is served; changes with the image (null: none)' })),
    thumbnailUrl: Nullable(Type.String({ description: 'Where its thumbnail (WebP, within 256×256) is served; null: no image' })),
    archived: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Product' },
);
export const CreateProductSchema = Type.Object(
  {
    sku: Sku,
    name: Name,
    description: Type.Optional(Description),
    categoryId: Type.Optional(Nullable(Uuid)),
    unit: Type.Optional(Unit),
    barcode: Type.Optional(Barcode),
    reorderPoint: Type.Optional(ReorderPoint),
  },
  { additionalProperties: false },
);
export const UpdateProductSchema = Type.Object(
  {
    sku: Type.Optional(Sku),
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    categoryId: Type.Optional(Nullable(Uuid)),
    unit: Type.Optional(Unit),
    barcode: Type.Optional(Barcode),
    reorderPoint: Type.Optional(ReorderPoint),
    archived: Type.Optional(Type.Boolean({ description: 'false restores an archived product' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ProductQuerySchema = Type.Object({
  ...PageQuery,
  q: Type.Optional(
    Type.String({
      maxLength: 200,
      description:
        'Search text, without its surrounding white space: matches a part of the SKU or name, case-insensitively, ' +
        'or the whole barcode exactly (a fragment of a barcode does not match)',
    }),
  ),
  categoryId: Type.Optional(Uuid),
  archived: Type.Optional(Type.Boolean()),
});

/** The longest code a lookup takes: a barcode or SKU (64 characters) with white space a scanner added around it. */
const LOOKUP_CODE_LENGTH_MAX = 128;

export const ProductLookupQuerySchema = Type.Object({
  // No minLength: the pattern refuses an empty code too, with one message.
  code: Type.String({
    maxLength: LOOKUP_CODE_LENGTH_MAX,
    pattern: NOT_BLANK_PATTERN,
    description:
      'A scanned or typed code, without its surrounding white space (a scanner may add a newline or tab): ' +
      'matches the barcode exactly, or else the SKU case-insensitively (the whole SKU)',
  }),
});

/** The schemas routes refer to by $id (Type.Ref('Product')), added where they can see them (src/http/routes/index.ts). */
export const productSchemas = [ProductSchema];
