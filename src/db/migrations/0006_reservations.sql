-- Reservations: stock held for an order. A reservation raises its levels' `reserved` (so that
-- `available` drops) without touching `on_hand`; it is not a ledger movement. On every level at
-- every moment, `stock_levels.reserved` is the sum of the lines of that level's active
-- reservations: a reservation's status leaves 'active' in the transaction that releases its hold.
-- Fulfilling writes an outbound movement in that transaction (`movement_id`).
CREATE TABLE reservations (
  id uuid PRIMARY KEY,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'fulfilled', 'cancelled', 'expired')),
  location_id uuid NOT NULL REFERENCES locations (id),
  reference text,
  note text,
  expires_at timestamptz,
  movement_id uuid REFERENCES movements (id),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  CHECK ((status = 'fulfilled') = (movement_id IS NOT NULL))
);
-- The list is newest first (by the database's clock, ties broken by id), paged by keyset; each
-- filter has an index that serves it in that order.
CREATE INDEX reservations_created_idx ON reservations (created_at, id);
CREATE INDEX reservations_location_created_idx ON reservations (location_id, created_at, id);
CREATE INDEX reservations_status_created_idx ON reservations (status, created_at, id);
CREATE INDEX reservations_reference_created_idx ON reservations (reference, created_at, id) WHERE reference IS NOT NULL;
-- The expiry sweep reads the active reservations whose time has passed, soonest first: a range
-- of this small partial index, whatever the number of reservations that ever were.
CREATE INDEX reservations_expiry_idx ON reservations (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;

-- One row per product a reservation holds, at the reservation's location. Written with the
-- reservation and never changed.
CREATE TABLE reservation_lines (
  reservation_id uuid NOT NULL REFERENCES reservations (id),
  line_no integer NOT NULL,
  product_id uuid NOT NULL REFERENCES products (id),
  quantity bigint NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (reservation_id, line_no)
);
-- The list filtered by product.
CREATE INDEX reservation_lines_product_idx ON reservation_lines (product_id, reservation_id);
