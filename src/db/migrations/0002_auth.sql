-- Users, their credentials (login sessions and API tokens), and failed-login throttling.
-- Secrets are never stored: a credential row keeps the SHA-256 of its 256-bit random secret
-- (a fast hash is enough for a secret that can't be guessed), a user row the Argon2id hash of
-- its password.

CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role text NOT NULL CHECK (role IN ('admin', 'manager', 'clerk', 'viewer')),
  password_hash text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- The locations a clerk works at (other roles are not scoped by location).
CREATE TABLE user_locations (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  location_id uuid NOT NULL REFERENCES locations (id),
  PRIMARY KEY (user_id, location_id)
);

-- One table for both kinds of credential, so that authenticating a request is one indexed
-- lookup whichever it presents. A session acts with its user's role; an API token with its own
-- role, capped at request time by its creator's current one.
CREATE TABLE credentials (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('session', 'token')),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 200),
  role text CHECK (role IN ('admin', 'manager', 'clerk', 'viewer')),
  secret_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  CHECK ((kind = 'token') = (role IS NOT NULL AND name IS NOT NULL))
);
CREATE UNIQUE INDEX credentials_secret_key ON credentials (secret_hash);
CREATE INDEX credentials_user_idx ON credentials (user_id, kind);

-- Who recorded a movement. Users are disabled, never deleted, so the ledger keeps its authors.
ALTER TABLE movements ADD CONSTRAINT movements_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id);
CREATE INDEX movements_created_by_idx ON movements (created_by);

-- Login attempts in the current window, per subject ('email:<address>' or 'ip:<address>'). In
-- the database, not in memory, so that every instance behind a load balancer counts together.
CREATE TABLE login_attempts (
  subject text PRIMARY KEY,
  attempts integer NOT NULL,
  window_started_at timestamptz NOT NULL
);
