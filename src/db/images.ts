import assert from 'node:assert/strict';
import type { Queryable, Transaction } from './database.ts';

// Product images (migration 0008). Their bytes are written and read in parts of at most
// IMAGE_PART_BYTES_MAX, one statement each: the embedded database runs every statement on the
// event loop, and a 5 MiB value in one statement held it for 0.4–1 s, where 256 KiB parts take a
// few milliseconds each and let other requests run between them. PostgreSQL is indifferent.

export const IMAGE_PART_BYTES_MAX = 256 * 1024;

export type ImageVariant = 'image' | 'thumbnail';

export interface EncodedPicture {
  contentType: string;
  bytes: Buffer;
  width: number;
  height: number;
  sha256: string;
}

export interface NewImage {
  id: string;
  productId: string;
  image: EncodedPicture;
  thumbnail: EncodedPicture;
}

/** What serving one variant of an image needs before its bytes. */
export interface StoredPicture {
  contentType: string;
  byteSize: number;
  sha256: string;
}

/** The product's current image id, its row locked until the transaction ends; undefined when there is no such product. */
export async function lockProductImage(tx: Transaction, productId: string): Promise<{ imageId: string | null } | undefined> {
  const rows = await tx.query<{ imageId: string | null }>(`SELECT image_id AS "imageId" FROM products WHERE id = $1 FOR UPDATE`, [
    productId,
  ]);
  return rows[0];
}

export async function insertImage(tx: Transaction, image: NewImage): Promise<void> {
  await tx.query(
    `INSERT INTO product_images (id, product_id, content_type, byte_size, width, height, sha256,
       thumbnail_content_type, thumbnail_byte_size, thumbnail_width, thumbnail_height, thumbnail_sha256)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      image.id,
      image.productId,
      image.image.contentType,
      image.image.bytes.length,
      image.image.width,
      image.image.height,
      image.image.sha256,
      image.thumbnail.contentType,
      image.thumbnail.bytes.length,
      image.thumbnail.width,
      image.thumbnail.height,
      image.thumbnail.sha256,
    ],
  );
  for (const variant of ['image', 'thumbnail'] as const) {
    const bytes = image[variant].bytes;
    for (let seq = 0; seq * IMAGE_PART_BYTES_MAX < bytes.length; seq += 1) {
      await tx.query(`INSERT INTO product_image_parts (image_id, variant, seq, bytes) VALUES ($1, $2, $3, $4)`, [
        image.id,
        variant,
        seq,
        bytes.subarray(seq * IMAGE_PART_BYTES_MAX, (seq + 1) * IMAGE_PART_BYTES_MAX),
      ]);
    }
  }
}

/** Points the product at an image (or none), touching its updated_at. */
export async function setProductImage(tx: Transaction, productId: string, imageId: string | null): Promise<void> {
  const rows = await tx.query(
    `UPDATE products SET image_id = $2, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 RETURNING id`,
    [productId, imageId],
  );
  assert.equal(rows.length, 1, 'the product whose row is locked is updated');
}

/** Deletes an image no product points at any more; its parts go with it. */
export async function deleteImage(tx: Transaction, imageId: string): Promise<void> {
  const rows = await tx.query(`DELETE FROM product_images WHERE id = $1 RETURNING id`, [imageId]);
  assert.equal(rows.length, 1, 'the image the product pointed at exists');
}

/** One variant of the product's current image, if `imageId` is it. */
export async function findCurrentPicture(
  db: Queryable,
  productId: string,
  imageId: string,
  variant: ImageVariant,
): Promise<StoredPicture | undefined> {
  const prefix = variant === 'image' ? '' : 'thumbnail_';
  const rows = await db.query<StoredPicture>(
    `SELECT i.${prefix}content_type AS "contentType", i.${prefix}byte_size AS "byteSize", i.${prefix}sha256 AS sha256
     FROM products p JOIN product_images i ON i.id = p.image_id
     WHERE p.id = $1 AND p.image_id = $2`,
    [productId, imageId],
  );
  return rows[0];
}

/**
 * The bytes of one variant of an image, part by part (see IMAGE_PART_BYTES_MAX); undefined when
 * the image was deleted (replaced) while its parts were being read, each in a statement of its own.
 */
export async function readPictureBytes(
  db: Queryable,
  imageId: string,
  variant: ImageVariant,
  byteSize: number,
): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  for (let seq = 0; seq * IMAGE_PART_BYTES_MAX < byteSize; seq += 1) {
    const rows = await db.query<{ bytes: Uint8Array }>(
      `SELECT bytes FROM product_image_parts WHERE image_id = $1 AND variant = $2 AND seq = $3`,
      [imageId, variant, seq],
    );
    const part = rows[0];
    if (part === undefined) return undefined;
    parts.push(Buffer.from(part.bytes.buffer, part.bytes.byteOffset, part.bytes.byteLength));
  }
  const bytes = Buffer.concat(parts);
  assert.equal(bytes.length, byteSize, 'the parts of a picture add up to its size');
  return bytes;
}
