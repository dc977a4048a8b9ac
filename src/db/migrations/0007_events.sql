-- Events (API.md, Events): every change writes its events in its own transaction. A sequence
-- number (`seq`) is taken when a row is inserted, not when its transaction commits, so readers
-- can't follow it: a reader that has seen seq 11 may later find a 10 that committed after it.
-- Each event therefore stores its transaction's id (`xid`), and the publisher (one at a time,
-- under an advisory lock) gives the public `id` — 1, 2, 3, … with no gap — to the events whose
-- transactions every snapshot has passed (xid below the horizon), in (xid, seq) order. Readers
-- read published events by `id`: a stream resumes after the last id it saw and misses nothing.
CREATE TABLE events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  id bigint UNIQUE,
  type text NOT NULL,
  -- Where the change happened, for the clerk's scope and the location filter: a transfer's
  -- movement.recorded is at both of its ends.
  location_id uuid,
  to_location_id uuid,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  -- Set with `id` by the publisher, by the database's clock: retention deletes by it, and it
  -- grows with `id` (one publisher at a time, on one clock).
  published_at timestamptz,
  CHECK ((id IS NULL) = (published_at IS NULL))
);
-- The publisher's work: the unpublished events, in the order it numbers them.
CREATE INDEX events_unpublished_idx ON events (xid, seq) WHERE id IS NULL;
-- Retention finds the newest event published before its cutoff.
CREATE INDEX events_published_at_idx ON events (published_at) WHERE published_at IS NOT NULL;

-- The last id the publisher gave, kept even when retention has deleted every event: a stream
-- resuming from an id older than what is retained is told to reset.
CREATE TABLE event_counter (
  single boolean PRIMARY KEY DEFAULT true CHECK (single),
  last_id bigint NOT NULL DEFAULT 0
);
INSERT INTO event_counter DEFAULT VALUES;

-- Webhooks (API.md, Events): a subscription of a URL to event types, signed with its secret
-- (Standard Webhooks: `whsec_` and the base64 of the key's bytes).
CREATE TABLE webhooks (
  id uuid PRIMARY KEY,
  url text NOT NULL,
  events text[] NOT NULL CHECK (cardinality(events) > 0),
  description text,
  secret text NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX webhooks_created_idx ON webhooks (created_at, id);

-- The outbox: one delivery per event and subscribed webhook, written in the transaction that
-- writes the event. A sender claims due deliveries with FOR UPDATE SKIP LOCKED and moves
-- `next_attempt_at` past the attempt's timeout before sending, so that two senders never send
-- one delivery at once and a delivery whose sender died is claimed again once that time passes.
-- It is sent once its event is published, with the event's public id as `webhook-id`.
CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_seq bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at, id);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_seq);

-- The delivery log: one row per attempt that reached an outcome.
CREATE TABLE webhook_attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempted_at timestamptz NOT NULL,
  status_code integer,
  duration_ms integer NOT NULL CHECK (duration_ms >= 0),
  error text,
  next_attempt_at timestamptz
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
