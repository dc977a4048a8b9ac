import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { UPLOAD_FILE_PREFIX } from '../../src/services/image-files.ts';
import type { TestApp } from './helpers.ts';

// Images made for the tests, and product image uploads through app.inject.

export type Format = 'png' | 'jpeg' | 'webp';

/** A plain image of one colour, `width` × `height`, in `format`. */
export function solidImage(format: Format, width: number, height: number, options: { alpha?: boolean } = {}): Promise<Buffer> {
  const channels = options.alpha === true ? 4 : 3;
  const background = options.alpha === true ? { r: 200, g: 40, b: 40, alpha: 0.5 } : { r: 200, g: 40, b: 40 };
  return sharp({ create: { width, height, channels, background } }).toFormat(format).toBuffer();
}

/**
 * An image of random pixels of about `bytes` once encoded (noise does not compress): a large
 * upload that is a real image. PNG without filtering or compression, JPEG and WebP at full quality.
 */
export function noisyImage(format: Format, bytes: number): Promise<Buffer> {
  // Bytes per pixel once encoded, measured: PNG stores the raw 3, JPEG and WebP of noise less.
  const perPixel = { png: 3, jpeg: 1.4, webp: 1.1 }[format];
  const side = Math.floor(Math.sqrt(bytes / perPixel));
  const image = sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } });
  if (format === 'png') return image.png({ compressionLevel: 0, adaptiveFiltering: false }).toBuffer();
  return image.toFormat(format, { quality: 100 }).toBuffer();
}

export interface Form {
  payload: Buffer;
  headers: Record<string, string>;
}

/** A multipart/form-data body with one file part (and any text fields before it). */
export function multipartForm(
  file: Buffer,
  options: { field?: string; filename?: string; type?: string; fields?: Record<string, string> } = {},
): Form {
  const boundary = `stockroom-${randomBytes(8).toString('hex')}`;
  const fields = Object.entries(options.fields ?? {}).map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  const head =
    `${fields.join('')}--${boundary}\r\nContent-Disposition: form-data; name="${options.field ?? 'file'}"; ` +
    `filename="${options.filename ?? 'picture.png'}"\r\nContent-Type: ${options.type ?? 'image/png'}\r\n\r\n`;
  return {
    payload: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/**
 * PUT /products/{id}/image through app.inject, with the JSON answer parsed. `credentials` are sent
 * as given (an undefined one is left out): a bearer token, or a session cookie and its CSRF token.
 */
export async function uploadImage(app: TestApp, productId: string, form: Form, credentials: Record<string, string | undefined>) {
  const headers = Object.fromEntries(Object.entries(credentials).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await app.inject({
    method: 'PUT',
    url: `/api/v1/products/${productId}/image`,
    headers: { ...headers, ...form.headers },
    payload: form.payload,
  });
  return { status: response.statusCode, headers: response.headers, body: response.body === '' ? undefined : JSON.parse(response.body) };
}

/** The upload files left in `dir` (none, once every request has ended). */
export async function uploadFilesIn(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return names.filter((name) => name.startsWith(UPLOAD_FILE_PREFIX));
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/**
 * A decompression bomb: a valid PNG of `width` × `height` black pixels (1-bit grayscale), a few
 * dozen KiB that decode to width × height pixels. Written by hand: sharp takes a minute to make one.
 */
export function pngBomb(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([1, 0, 0, 0, 0], 8); // bit depth 1, grayscale, deflate, no filter method, no interlace
  // Each row: filter type 0 and width bits of zeros.
  const raw = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
