import { rm } from 'node:fs/promises';
import * as images from '../db/images.ts';
import * as products from '../db/products.ts';
import { notFound } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';
import { encodeImage, spoolUpload, type SpoolOptions, type Upload } from './image-files.ts';
import { presentProduct } from './products.ts';

// A product's image (API.md, Catalog). An upload is checked, spooled and re-encoded before any
// transaction opens; then one transaction locks the product's row, stores the new image, points
// the product at it and deletes the one it replaces. Two uploads for one product take turns on
// the lock: each replaces what the other left, and exactly one image remains. A refused, failed
// or abandoned upload never reaches the transaction, or rolls it back: the old image stays.

export type { ImageVariant } from '../db/images.ts';

export async function uploadProductImage(ctx: UseCaseContext, productId: string, upload: Upload, spool: SpoolOptions) {
  // Before the upload is read: a wrong id is told at once, not after seconds of sending.
  if ((await reading(ctx, (db) => products.findProduct(db, productId))) === undefined) throw notFound('product', productId);
  const spooled = await spoolUpload(upload, spool);
  try {
    const encoded = await encodeImage(spooled.path, spooled.contentType);
    const row = await inTransaction(ctx, async (tx) => {
      const locked = await images.lockProductImage(tx, productId);
      if (locked === undefined) throw notFound('product', productId);
      const imageId = uuidv7();
      await images.insertImage(tx, { id: imageId, productId, ...encoded });
      await images.setProductImage(tx, productId, imageId);
      if (locked.imageId !== null) await images.deleteImage(tx, locked.imageId);
      return products.findProduct(tx, productId);
    });
    if (row === undefined) throw notFound('product', productId);
    return presentProduct(row);
  } finally {
    await rm(spooled.path, { force: true });
  }
}

/** Removes the product's image, if it has one, and its storage. */
export async function deleteProductImage(ctx: UseCaseContext, productId: string): Promise<void> {
  await inTransaction(ctx, async (tx) => {
    const locked = await images.lockProductImage(tx, productId);
    if (locked === undefined) throw notFound('product', productId);
    if (locked.imageId === null) return;
    await images.setProductImage(tx, productId, null);
    await images.deleteImage(tx, locked.imageId);
  });
}

/** The entity tag of one variant of an image: its bytes' hash, which never changes under its URL. */
const entityTag = (sha256: string) => `"${sha256}"`;

/** Whether an If-None-Match header names this entity tag (or is `*`); weak tags compare equal (RFC 9110 §13.1.2). */
function matches(ifNoneMatch: string | undefined, tag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const trimmed = candidate.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === tag;
  });
}

export type ServedPicture = { notModified: true; etag: string } | { notModified: false; etag: string; contentType: string; bytes: Buffer };

/**
 * One variant of the product's image, if `imageId` is its current one (an old or unknown id is
 * 404); only its entity tag when the client already holds it (If-None-Match).
 */
export async function getProductImage(
  ctx: UseCaseContext,
  productId: string,
  imageId: string,
  variant: images.ImageVariant,
  ifNoneMatch: string | undefined,
): Promise<ServedPicture> {
  return reading(ctx, async (db) => {
    const found = await images.findCurrentPicture(db, productId, imageId, variant);
    if (found === undefined) throw notFound(`${variant} of product ${productId}`, imageId);
    const etag = entityTag(found.sha256);
    if (matches(ifNoneMatch, etag)) return { notModified: true, etag };
    const bytes = await images.readPictureBytes(db, imageId, variant, found.byteSize);
    if (bytes === undefined) throw notFound(`${variant} of product ${productId}`, imageId);
    return { notModified: false, etag, contentType: found.contentType, bytes };
  });
}
