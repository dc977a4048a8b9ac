-- Product images (API.md, Catalog), kept in the database: several instances share one PostgreSQL
-- and no disk, and the embedded database keeps them in its data directory. An image is its
-- re-encoded picture and its thumbnail; their bytes are stored in parts of at most 256 KiB
-- (src/db/images.ts says why), which go with their image (ON DELETE CASCADE). A product points
-- at its one current image; replacing or deleting it deletes the previous image in the same
-- transaction, so no image is left that no product shows.
CREATE TABLE product_images (
  id uuid PRIMARY KEY,
  product_id uuid NOT NULL REFERENCES products (id),
  content_type text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp')),
  byte_size integer NOT NULL CHECK (byte_size > 0),
  width integer NOT NULL CHECK (width > 0),
  height integer NOT NULL CHECK (height > 0),
  sha256 text NOT NULL,
  thumbnail_content_type text NOT NULL CHECK (thumbnail_content_type IN ('image/png', 'image/jpeg', 'image/webp')),
  thumbnail_byte_size integer NOT NULL CHECK (thumbnail_byte_size > 0),
  thumbnail_width integer NOT NULL CHECK (thumbnail_width BETWEEN 1 AND 256),
  thumbnail_height integer NOT NULL CHECK (thumbnail_height BETWEEN 1 AND 256),
  thumbnail_sha256 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX product_images_product_idx ON product_images (product_id);

CREATE TABLE product_image_parts (
  image_id uuid NOT NULL REFERENCES product_images (id) ON DELETE CASCADE,
  variant text NOT NULL CHECK (variant IN ('image', 'thumbnail')),
  seq integer NOT NULL CHECK (seq >= 0),
  bytes bytea NOT NULL,
  PRIMARY KEY (image_id, variant, seq)
);

-- The free-text image_url, which nothing ever set, gives way to the image the server stores.
ALTER TABLE products DROP COLUMN image_url;
ALTER TABLE products ADD COLUMN image_id uuid REFERENCES product_images (id);
-- Deleting an image checks that no product points at it: one index probe, not a scan of products.
CREATE INDEX products_image_idx ON products (image_id) WHERE image_id IS NOT NULL;
