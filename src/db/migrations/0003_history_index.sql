-- A movement-history page by product, or by product and location, walks that product's (or
-- level's) ledger entries newest first and stops after a page, so it costs the same whatever
-- the length of the history. The level index keeps serving asOf (its leading columns).
CREATE INDEX movement_lines_product_time_idx ON movement_lines (product_id, created_at, movement_id);
DROP INDEX movement_lines_product_idx;
CREATE INDEX movement_lines_level_time_idx ON movement_lines (product_id, location_id, created_at, movement_id) INCLUDE (delta);
DROP INDEX movement_lines_level_idx;
