import { Type } from 'typebox';
import { PageQuery, Uuid } from './common.ts';
import { dateOrTimestamp } from './dates.ts';

export const StockLevelSchema = Type.Object(
  {
    productId: Uuid,
    sku: Type.String(),
    productName: Type.String(),
    locationId: Uuid,
    locationCode: Type.String(),
    onHand: Type.Integer(),
    reserved: Type.Integer(),
    available: Type.Integer(),
    reorderPoint: Type.Integer(),
  },
  { $id: 'StockLevel' },
);

export const StockQuerySchema = Type.Object({
  ...PageQuery,
  locationId: Type.Optional(Uuid),
  productId: Type.Optional(Uuid),
  belowReorder: Type.Optional(Type.Boolean({ description: 'Only levels whose available is at or below the reorder point' })),
  asOf: Type.Optional(
    dateOrTimestamp({
      description:
        'onHand as the ledger had it at this time, movements at that instant included (reserved is 0); ' +
        'a date means the end of that UTC day: its closing stock',
    }),
  ),
});

const Totals = Type.Object({ onHand: Type.Integer(), reserved: Type.Integer(), available: Type.Integer() });

export const ProductStockSchema = Type.Object(
  {
    productId: Uuid,
    sku: Type.String(),
    productName: Type.String(),
    reorderPoint: Type.Integer(),
    levels: Type.Array(
      Type.Object({
        locationId: Uuid,
        locationCode: Type.String(),
        locationName: Type.String(),
        onHand: Type.Integer(),
        reserved: Type.Integer(),
        available: Type.Integer(),
      }),
    ),
    total: Totals,
  },
  { $id: 'ProductStock' },
);

/** The schemas routes refer to by $id (Type.Ref('StockLevel')), added where they can see them (src/http/routes/index.ts). */
export const stockSchemas = [StockLevelSchema, ProductStockSchema];
