-- A scan looks a product up by its barcode (GET /api/v1/products/lookup, and q in the product
-- list): an index, so that it costs one index probe whatever the size of the catalog. The SKU
-- side of a lookup is served by products_sku_key (lower(sku)). Not unique: a barcode may be
-- shared (an archived product's GTIN given to its successor, variants labelled alike, data
-- imported as it was), and the lookup decides between such products itself.
CREATE INDEX products_barcode_idx ON products (barcode);
