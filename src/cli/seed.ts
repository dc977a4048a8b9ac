import type { Database } from '../db/database.ts';
import { AppError } from '../domain/errors.ts';
import { seededRandom } from '../domain/random.ts';
import { createCategory } from '../services/categories.ts';
import type { UseCaseContext } from '../services/context.ts';
import { createLocation, listLocations } from '../services/locations.ts';
import { recordMovement } from '../services/movements.ts';
import { createProduct } from '../services/products.ts';

// A realistic demo data set for a small chain: a warehouse and four stores, ~200 products in
// categories, and 90 days of purchasing, replenishment, sales and stocktakes. It goes through the
// same use cases as the API (so every rule and invariant holds), with a fixed random seed.

const DAYS = 90;
const MOVEMENTS_PER_DAY = 36;

const CATALOG: Record<string, { unit: string; items: string[] }> = {
  Beverages: {
    unit: 'pcs',
    items: [
      'Sparkling Water 1L',
      'Still Water 1.5L',
      'Cola 330ml',
      'Orange Juice 1L',
      'Apple Juice 1L',
      'Iced Tea 500ml',
      'Cold Brew Coffee 250ml',
      'Ginger Beer 330ml',
      'Lemonade 750ml',
      'Oat Milk 1L',
    ],
  },
  Coffee: {
    unit: 'pcs',
    items: [
      'Espresso Beans 1kg',
      'Filter Coffee 500g',
      'Decaf Beans 250g',
      'Single Origin Ethiopia 250g',
      'House Blend 1kg',
      'Instant Coffee 200g',
      'Coffee Pods x10',
      'Cold Brew Grind 500g',
    ],
  },
  Bakery: {
    unit: 'pcs',
    items: ['Sourdough Loaf', 'Baguette', 'Croissant', 'Rye Bread', 'Cinnamon Roll', 'Bagel', 'Focaccia', 'Brioche Bun'],
  },
  Pantry: {
    unit: 'pcs',
    items: [
      'Olive Oil 500ml',
      'Basmati Rice 1kg',
      'Spaghetti 500g',
      'Tomato Passata 700g',
      'Chickpeas 400g',
      'Rolled Oats 1kg',
      'Honey 350g',
      'Sea Salt 250g',
      'Black Pepper 100g',
      'Peanut Butter 340g',
    ],
  },
  Bulk: { unit: 'g', items: ['Almonds', 'Cashews', 'Dried Apricots', 'Granola', 'Lentils', 'Brown Rice'] },
  Household: {
    unit: 'pcs',
    items: [
      'Dish Soap 500ml',
      'Paper Towels x6',
      'Trash Bags x30',
      'Sponges x3',
      'Laundry Liquid 2L',
      'Glass Cleaner 750ml',
      'Hand Soap 300ml',
      'Toilet Paper x9',
    ],
  },
  'Personal Care': {
    unit: 'pcs',
    items: ['Toothpaste 75ml', 'Shampoo 250ml', 'Conditioner 250ml', 'Body Wash 400ml', 'Deodorant 50ml', 'Sunscreen SPF50'],
  },
};
const VARIANTS = ['', ' Organic', ' Value', ' Family Pack'];

export async function seedDemo(db: Database): Promise<string> {
  const ctx: UseCaseContext = { db, actor: null };
  const existing = await listLocations(ctx, { limit: 500 });
  if (existing.items.some((location) => location.code === 'WH-CENTRAL')) {
    return 'the demo data set is already loaded (location WH-CENTRAL exists)';
  }
  const next = seededRandom(42);
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  const between = (low: number, high: number) => low + Math.floor(next() * (high - low + 1));

  const warehouse = await createLocation(ctx, { code: 'WH-CENTRAL', name: 'Central Warehouse' });
  const stores = [
    await createLocation(ctx, { code: 'ST-NORTH', name: 'Northside Store' }),
    await createLocation(ctx, { code: 'ST-HARBOR', name: 'Harbor Street Store' }),
    await createLocation(ctx, { code: 'ST-MARKET', name: 'Market Square Store' }),
    await createLocation(ctx, { code: 'ST-AIRPORT', name: 'Airport Kiosk', allowNegative: true }),
  ];

  const products: { id: string; unit: string }[] = [];
  let skuNumber = 1000;
  for (const [categoryName, { unit, items }] of Object.entries(CATALOG)) {
    const category = await createCategory(ctx, { name: categoryName });
    for (const item of items) {
      for (const variant of VARIANTS) {
        if (products.length >= 200) break;
        skuNumber += 1;
        const product = await createProduct(ctx, {
          sku: `${categoryName.slice(0, 3).toUpperCase()}-${skuNumber}`,
          name: `${item}${variant}`,
          categoryId: category.id,
          unit,
          barcode: `40${String(skuNumber).padStart(11, '0')}`,
          reorderPoint: unit === 'g' ? 5000 : between(5, 40),
          description: variant === '' ? null : `${item}, ${variant.trim().toLowerCase()} range`,
        });
        products.push({ id: product.id, unit });
      }
    }
  }

  const scale = (unit: string) => (unit === 'g' ? 250 : 1);
  // What each location has received, so that sales and transfers mostly pick stocked products.
  const stocked = new Map<string, Map<string, { id: string; unit: string }>>();
  const received = (locationId: string, lines: { id: string; unit: string }[]) => {
    const shelf = stocked.get(locationId) ?? new Map<string, { id: string; unit: string }>();
    for (const line of lines) shelf.set(line.id, line);
    stocked.set(locationId, shelf);
  };
  const some = (from: { id: string; unit: string }[], most: number) => [
    ...new Map(Array.from({ length: between(1, most) }, () => pick(from)).map((p) => [p.id, p])).values(),
  ];

  const start = Date.now() - DAYS * 86_400_000;
  let written = 0;
  let refused = 0;
  for (let day = 0; day < DAYS; day += 1) {
    for (let n = 0; n < MOVEMENTS_PER_DAY; n += 1) {
      const occurredAt = new Date(start + day * 86_400_000 + Math.floor((n / MOVEMENTS_PER_DAY) * 86_400_000));
      const store = pick(stores);
      const inWarehouse = [...(stocked.get(warehouse.id)?.values() ?? [])];
      const onShelf = [...(stocked.get(store.id)?.values() ?? [])];
      const roll = next();
      let input;
      let receiver: string | undefined;
      let lines: { id: string; unit: string }[];
      if (roll < 0.12 || inWarehouse.length < 20) {
        lines = some(products, 8);
        receiver = warehouse.id;
        input = {
          type: 'inbound' as const,
          locationId: warehouse.id,
          reference: `PO-${10_000 + day * 100 + n}`,
          lines: lines.map((p) => ({ productId: p.id, quantity: between(40, 200) * scale(p.unit) })),
        };
      } else if (roll < 0.3 || onShelf.length < 10) {
        lines = some(inWarehouse, 6);
        receiver = store.id;
        input = {
          type: 'transfer' as const,
          locationId: warehouse.id,
          toLocationId: store.id,
          reference: `TR-${day}-${n}`,
          lines: lines.map((p) => ({ productId: p.id, quantity: between(10, 40) * scale(p.unit) })),
        };
      } else if (roll < 0.96) {
        lines = some(onShelf, 4);
        input = {
          type: 'outbound' as const,
          locationId: store.id,
          reference: `SALE-${day}-${n}`,
          lines: lines.map((p) => ({ productId: p.id, quantity: between(1, 5) * scale(p.unit) })),
        };
      } else {
        lines = some(onShelf, 1);
        input = {
          type: 'adjustment' as const,
          locationId: store.id,
          reason: pick(['damaged', 'expired', 'found in back room']),
          lines: lines.map((p) => ({ productId: p.id, quantity: pick([-2, -1, 1]) * scale(p.unit) })),
        };
      }
      try {
        await recordMovement(ctx, input, undefined, { occurredAt });
        if (receiver !== undefined) received(receiver, lines);
        written += 1;
      } catch (error) {
        // A sale or transfer larger than the shelf is refused, as it would be in the shop.
        if (!(error instanceof AppError && error.code === 'insufficient_stock')) throw error;
        refused += 1;
      }
    }
  }
  return `loaded the demo data set: ${1 + stores.length} locations, ${Object.keys(CATALOG).length} categories, ${products.length} products, ${written} movements over ${DAYS} days (${refused} more were refused for lack of stock, as a shop's would be)`;
}
