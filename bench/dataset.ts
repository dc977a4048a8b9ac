import type pg from 'pg';

// The benchmark's data set, generated in SQL (millions of rows would take hours through the API):
// categories, products, locations, levels for the first `stockedProducts` products at every
// location, and a ledger of single-line inbound movements spread over 90 days whose deltas sum to
// each level exactly, so the ledger invariant holds as it would in production.

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

export async function loadDataset(client: pg.ClientBase, size: DatasetSize) {
  const levels = size.stockedProducts * size.locations;
  const linesPerLevel = Math.max(1, Math.ceil(size.ledgerLines / levels));
  await client.query('BEGIN');
  await client.query(
    `INSERT INTO categories (id, name) SELECT gen_random_uuid(), 'Category ' || n FROM generate_series(1, $1) n`,
    [size.categories],
  );
  await client.query(
    `INSERT INTO products (id, sku, name, category_id, reorder_point)
     SELECT gen_random_uuid(), 'SKU-' || lpad(n::text, 6, '0'), 'Product ' || n, c.id, 10
     FROM generate_series(1, $1) n
     JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM categories) c ON c.k = n % $2`,
    [size.products, size.categories],
  );
  await client.query(
    `INSERT INTO locations (id, code, name) SELECT gen_random_uuid(), 'LOC-' || lpad(n::text, 3, '0'), 'Location ' || n
     FROM generate_series(1, $1) n`,
    [size.locations],
  );
  // Every stocked level receives `linesPerLevel` inbounds of 1,000 units over the last 90 days.
  await client.query(
    `CREATE TEMPORARY TABLE bench_levels ON COMMIT DROP AS
     SELECT p.id AS product_id, l.id AS location_id
     FROM (SELECT id FROM products ORDER BY sku LIMIT $1) p CROSS JOIN locations l`,
    [size.stockedProducts],
  );
  await client.query(
    `CREATE TEMPORARY TABLE bench_ledger ON COMMIT DROP AS
     SELECT gen_random_uuid() AS movement_id, b.product_id, b.location_id,
            date_trunc('milliseconds', now() - interval '90 days' + random() * interval '90 days') AS created_at
     FROM bench_levels b CROSS JOIN generate_series(1, $1)`,
    [linesPerLevel],
  );
  await client.query(
    `INSERT INTO movements (id, type, location_id, reference, created_at)
     SELECT movement_id, 'inbound', location_id, 'BENCH', created_at FROM bench_ledger`,
  );
  await client.query(
    `INSERT INTO movement_lines (movement_id, line_no, product_id, location_id, delta, created_at)
     SELECT movement_id, 0, product_id, location_id, 1000, created_at FROM bench_ledger`,
  );
  await client.query(
    `INSERT INTO stock_levels (product_id, location_id, on_hand, allow_negative)
     SELECT product_id, location_id, 1000 * $1::bigint, false FROM bench_levels`,
    [linesPerLevel],
  );
  await client.query('COMMIT');
  await client.query('ANALYZE');
  return { levels, ledgerLines: levels * linesPerLevel };
}
