-- Stockroom core schema: catalog, locations, stock levels and the movement ledger.
-- Runs unchanged on PostgreSQL 15+ and on PGlite. Ids are UUIDv7 made by the application.

CREATE TABLE categories (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  parent_id uuid REFERENCES categories (id),
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  CHECK (parent_id IS DISTINCT FROM id)
);
-- Sibling names are unique, case-insensitively; top-level categories are siblings of each other.
CREATE UNIQUE INDEX categories_parent_name_key
  ON categories (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE products (
  id uuid PRIMARY KEY,
  sku text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text,
  category_id uuid REFERENCES categories (id),
  unit text NOT NULL DEFAULT 'pcs',
  barcode text,
  reorder_point bigint NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
  image_url text,
  archived boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku));
CREATE INDEX products_category_idx ON products (category_id);

CREATE TABLE locations (
  id uuid PRIMARY KEY,
  code text NOT NULL CHECK (length(code) BETWEEN 1 AND 32),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  allow_negative boolean NOT NULL DEFAULT false,
  archived boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE UNIQUE INDEX locations_code_key ON locations (lower(code));

-- One row per product and location that has ever had a movement. `allow_negative` repeats the
-- location's flag so that a CHECK constraint (which can't read another table) can enforce it:
-- the last line of defence behind the movement service's locked, conditional update.
CREATE TABLE stock_levels (
  product_id uuid NOT NULL REFERENCES products (id),
  location_id uuid NOT NULL REFERENCES locations (id),
  on_hand bigint NOT NULL DEFAULT 0,
  reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  allow_negative boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (product_id, location_id),
  CONSTRAINT stock_levels_available_check CHECK (allow_negative OR on_hand - reserved >= 0)
);
CREATE INDEX stock_levels_location_idx ON stock_levels (location_id, product_id);

-- The ledger: append-only. Nothing in the code updates or deletes these rows.
CREATE TABLE movements (
  id uuid PRIMARY KEY,
  type text NOT NULL CHECK (type IN ('inbound', 'outbound', 'transfer', 'adjustment')),
  location_id uuid NOT NULL REFERENCES locations (id),
  to_location_id uuid REFERENCES locations (id),
  reference text,
  note text,
  reason text,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  CHECK ((type = 'transfer') = (to_location_id IS NOT NULL)),
  CHECK (to_location_id IS DISTINCT FROM location_id)
);
-- History is newest first by the database's clock, the one clock every instance shares.
CREATE INDEX movements_created_idx ON movements (created_at, id);
CREATE INDEX movements_type_idx ON movements (type, id);

-- One entry per product and location a movement changed: a line of the request is one entry,
-- except a transfer line, which is two with the same line_no (-q at the source, +q at the
-- destination). A level is the sum of its entries' deltas.
CREATE TABLE movement_lines (
  movement_id uuid NOT NULL REFERENCES movements (id),
  line_no integer NOT NULL,
  product_id uuid NOT NULL REFERENCES products (id),
  location_id uuid NOT NULL REFERENCES locations (id),
  delta bigint NOT NULL,
  counted_quantity bigint,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (movement_id, line_no, location_id)
);
-- asOf: the sum of one level's deltas up to a time is an index-only range scan.
CREATE INDEX movement_lines_level_idx ON movement_lines (product_id, location_id, created_at) INCLUDE (delta);
CREATE INDEX movement_lines_location_idx ON movement_lines (location_id, movement_id);
CREATE INDEX movement_lines_product_idx ON movement_lines (product_id, movement_id);

-- Idempotency-Key records, written in the same transaction as the movement they answer for.
CREATE TABLE idempotency_keys (
  key text PRIMARY KEY,
  request_hash text NOT NULL,
  status_code integer NOT NULL,
  response_body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
