-- The locations an API token is limited to. A token without rows here is not limited beyond its
-- creator's own scope; a limited one has at least one row (an empty limit is refused before it
-- gets here, since it would read back as "not limited"). Its effective scope is these locations
-- intersected with its creator's current ones when the creator is a clerk (src/domain/access.ts).
-- A table, not an array column, so that the database checks every location exists; locations are
-- archived, never deleted, so a limit can't silently lose a row and widen.
CREATE TABLE credential_locations (
  credential_id uuid NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
  location_id uuid NOT NULL REFERENCES locations (id),
  PRIMARY KEY (credential_id, location_id)
);
