import type { Queryable } from '../src/db/database.ts';

// The benchmark's data set, generated in SQL (millions of rows would take hours through the API),
// the same statements on PostgreSQL and PGlite: categories, products, locations, levels for the
// first `stockedProducts` products at every location, and a ledger of single-line inbound
// movements over the last 90 days whose deltas sum to each level exactly, so the ledger invariant
// holds as it would in production.

export interface DatasetSize {
  categories: number;
  products: number;
  locations: number;
  stockedProducts: number;
  ledgerLines: number;
}

export const DEFAULT_SIZE: DatasetSize = {
  categories: 100,
  products: 10_000,
  locations: 20,
  stockedProducts: 2_000,
  ledgerLines: 1_000_000,
};

/** What the scenarios pick from. */
export interface Fixture {
  /** Products stocked at every location. */
  productIds: string[];
  locationIds: string[];
  /** When the ledger starts (asOf requests fall between it and now). */
  ledgerFrom: string;
}

const LEDGER_DAYS = 90;

export async function loadDataset(db: Queryable, size: DatasetSize) {
  const levels = size.stockedProducts * size.locations;
  const linesPerLevel = Math.max(1, Math.ceil(size.ledgerLines / levels));
  const ledgerFrom = new Date(Date.now() - LEDGER_DAYS * 86_400_000);
  await db.query(`INSERT INTO categories (id, name) SELECT gen_random_uuid(), 'Category ' || n FROM generate_series(1, $1) n`, [
    size.categories,
  ]);
  await db.query(
    `INSERT INTO products (id, sku, name, category_id, reorder_point)
     SELECT gen_random_uuid(), 'SKU-' || lpad(n::text, 6, '0'), 'Product ' || n, c.id, 10
     FROM generate_series(1, $1) n
     JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM categories) c ON c.k = n % $2`,
    [size.products, size.categories],
  );
  await db.query(
    `INSERT INTO locations (id, code, name) SELECT gen_random_uuid(), 'LOC-' || lpad(n::text, 3, '0'), 'Location ' || n
     FROM generate_series(1, $1) n`,
    [size.locations],
  );
  // Level k's n-th inbound happens at (n + phase_k) / linesPerLevel of the way through the 90
  // days: deterministic, so the movement and its line can be generated apart, and spread evenly
  // with levels interleaved (the golden ratio scatters the phases).
  await db.query(
    `CREATE TEMPORARY TABLE bench_levels AS
     SELECT p.id AS product_id, l.id AS location_id, row_number() OVER () AS k,
            ((row_number() OVER () * 0.6180339887) % 1)::float8 AS phase
     FROM (SELECT id FROM products ORDER BY sku LIMIT $1) p CROSS JOIN locations l`,
    [size.stockedProducts],
  );
  // The ledger is bulk-loaded as PostgreSQL's manual advises ("Populating a Database"): without
  // its foreign keys and secondary indexes, each built afterwards in one pass, which takes a
  // fraction of the time of checking and inserting row by row. Their definitions come from the
  // catalog, so this follows whatever the migrations define.
  const deferred = await db.query<{ drop: string; create: string }>(
    `SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop,
            format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS create
     FROM pg_constraint WHERE conrelid IN ('movements'::regclass, 'movement_lines'::regclass) AND contype = 'f'
     UNION ALL
     SELECT format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid)
     FROM pg_index WHERE indrelid IN ('movements'::regclass, 'movement_lines'::regclass) AND NOT indisunique`,
  );
  for (const { drop } of deferred) await db.exec(drop);
  // One statement per n, oldest first: each inserts one slice of the 90 days in time order, so
  // the primary keys grow at their right edge as in production. Movement ids begin with the
  // millisecond, like the service's UUIDv7 ids.
  const stepMs = (LEDGER_DAYS * 86_400_000) / linesPerLevel;
  for (let n = 0; n < linesPerLevel; n += 1) {
    await db.query(
      `WITH ledger AS (
         SELECT (lpad(to_hex(ms), 12, '0') || lpad(to_hex(k), 8, '0') || lpad(to_hex($1::int), 12, '0'))::uuid AS id,
                product_id, location_id, to_timestamp(ms / 1000.0) AS created_at
         FROM (SELECT *, ($2::bigint + ($1 + phase) * $3::float8)::bigint AS ms FROM bench_levels) t
         ORDER BY id
       ), written AS (
         INSERT INTO movements (id, type, location_id, reference, created_at)
         SELECT id, 'inbound', location_id, 'BENCH', created_at FROM ledger
       )
       INSERT INTO movement_lines (movement_id, line_no, product_id, location_id, delta, created_at)
       SELECT id, 0, product_id, location_id, 1000, created_at FROM ledger`,
      [n, ledgerFrom.getTime(), stepMs],
    );
  }
  await db.exec(`SET maintenance_work_mem = '256MB'`);
  for (const { create } of deferred) await db.exec(create);
  await db.exec('RESET maintenance_work_mem');
  await db.query(
    `INSERT INTO stock_levels (product_id, location_id, on_hand, allow_negative)
     SELECT product_id, location_id, 1000 * $1::bigint, false FROM bench_levels`,
    [linesPerLevel],
  );
  await db.exec('DROP TABLE bench_levels');
  // What autovacuum would do soon after such a load, done now so that it doesn't run during the
  // measurements, and so that index-only scans (asOf) find the visibility map set.
  await db.exec('VACUUM ANALYZE');
  // And the load's gigabytes of WAL flushed now, not by checkpoints during the first measurements.
  // It needs superuser or pg_checkpoint on PostgreSQL; without them the run goes on regardless.
  await db.exec('CHECKPOINT').catch(() => undefined);
  return { levels, ledgerLines: levels * linesPerLevel };
}

export async function readFixture(db: Queryable): Promise<Fixture> {
  const products = await db.query<{ product_id: string }>('SELECT DISTINCT product_id FROM stock_levels ORDER BY 1');
  const locations = await db.query<{ id: string }>('SELECT id FROM locations ORDER BY code');
  const [first] = await db.query<{ at: Date }>('SELECT min(created_at) AS at FROM movement_lines');
  return { productIds: products.map((r) => r.product_id), locationIds: locations.map((r) => r.id), ledgerFrom: first!.at.toISOString() };
}
