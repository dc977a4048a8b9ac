import { randomUUID, webcrypto } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileTypeFromBuffer } from 'file-type';
import sharp, { type OutputInfo } from 'sharp';
import type { EncodedPicture } from '../db/images.ts';
import { AppError, validationFailed } from '../domain/errors.ts';

// An uploaded image goes to a temporary file as it arrives (never whole in memory), its type
// told by its first bytes, then is decoded and re-encoded by sharp, whose work runs on libvips's
// threads, off the event loop. Re-encoding keeps the pixels and nothing else: EXIF (GPS, camera,
// orientation, applied first), XMP, comments and whatever a crafted file hid after its image.

/** The types an upload may be, by what its bytes are, and the sharp format each is re-encoded as. */
export const IMAGE_FORMATS = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/webp': 'webp' } as const;
export type ImageContentType = keyof typeof IMAGE_FORMATS;

/** Larger images are refused before they are decoded (a small file can declare a huge image). */
export const IMAGE_PIXELS_MAX = 40_000_000;
/** A thumbnail fits in a square of this side. */
export const THUMBNAIL_SIDE_PX = 256;
/** How much of an upload file-type sees: enough for any format it knows, far more than these three need. */
const SNIFF_BYTES = 4100;
/** The name temporary upload files start with, in the upload directory. */
export const UPLOAD_FILE_PREFIX = 'upload-';

// Each temporary file is read once, under a name never used again: sharp's cache would only keep
// descriptors of deleted files open (and their disk space taken).
sharp.cache(false);

const isImageContentType = (mime: string | undefined): mime is ImageContentType => mime !== undefined && mime in IMAGE_FORMATS;

/** Passes the bytes through once their first SNIFF_BYTES (or all, if fewer) are PNG, JPEG or WebP; fails with 415 otherwise. */
class TypeSniffer extends Transform {
  #head: Buffer[] = [];
  #headBytes = 0;
  #decided = false;
  contentType: ImageContentType | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    if (this.#decided) {
      done(null, chunk);
      return;
    }
    this.#head.push(chunk);
    this.#headBytes += chunk.length;
    if (this.#headBytes < SNIFF_BYTES) {
      done();
      return;
    }
    this.#decide(done);
  }

  override _flush(done: TransformCallback) {
    if (this.#decided) done();
    else this.#decide(done);
  }

  #decide(done: TransformCallback) {
    this.#decided = true;
    const head = Buffer.concat(this.#head);
    this.#head = [];
    if (head.length === 0) {
      done(validationFailed([{ path: '/file', message: 'is empty' }]));
      return;
    }
    fileTypeFromBuffer(head.subarray(0, SNIFF_BYTES)).then(
      (found) => {
        if (!isImageContentType(found?.mime)) {
          done(
            new AppError(
              'unsupported_media_type',
              `the file is ${found === undefined ? 'of no image type known here' : found.mime}; upload a PNG, JPEG or WebP image`,
            ),
          );
          return;
        }
        this.contentType = found.mime;
        done(null, head);
      },
      (error: unknown) => done(error as Error),
    );
  }
}

export interface Upload {
  /** The file's bytes as they arrive. */
  stream: Readable;
  /** Whether the stream was cut at the size limit (it then ends as if the file had). */
  truncated(): boolean;
}

export interface SpoolOptions {
  /** Where temporary files go (created if missing). */
  dir: string;
  /** The size limit the upload's stream enforces, for the answer past it. */
  maxBytes: number;
  signal?: AbortSignal | undefined;
}

/**
 * Writes the upload to a new file in `dir` as it arrives and answers where, and what type of
 * image it is. Refuses (and leaves no file) as soon as the first bytes show it is not PNG, JPEG or
 * WebP (415) or it passes the size limit (413); the caller removes the file it is given.
 */
export async function spoolUpload(upload: Upload, options: SpoolOptions): Promise<{ path: string; contentType: ImageContentType }> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const path = join(options.dir, `${UPLOAD_FILE_PREFIX}${randomUUID()}`);
  const sniffer = new TypeSniffer();
  try {
    await pipeline(upload.stream, sniffer, createWriteStream(path, { flags: 'wx', mode: 0o600 }), { signal: options.signal });
    if (upload.truncated()) throw new AppError('payload_too_large', `the file is larger than ${options.maxBytes} bytes (UPLOAD_MAX_BYTES)`);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  // A stream that ended has gone through the sniffer's flush, which decided or failed.
  if (sniffer.contentType === undefined) throw new Error('an upload that was spooled has a type');
  return { path, contentType: sniffer.contentType };
}

async function sha256(bytes: Buffer): Promise<string> {
  // WebCrypto digests on a worker thread; createHash would hash 5 MiB on the event loop.
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', bytes)).toString('base64url');
}

async function picture(output: Promise<{ data: Buffer; info: OutputInfo }>, contentType: ImageContentType): Promise<EncodedPicture> {
  const { data, info } = await output;
  return { contentType, bytes: data, width: info.width, height: info.height, sha256: await sha256(data) };
}

const damaged = () => validationFailed([{ path: '/file', message: 'is a damaged or truncated image' }], 'the image could not be decoded');

/**
 * The image in the file re-encoded in its own format, upright, without metadata, and a WebP
 * thumbnail that fits in THUMBNAIL_SIDE_PX × THUMBNAIL_SIDE_PX: WebP is the smallest of the three
 * at a thumbnail's size and keeps a PNG's transparency, and every current browser shows it.
 */
export async function encodeImage(
  path: string,
  contentType: ImageContentType,
): Promise<{ image: EncodedPicture; thumbnail: EncodedPicture }> {
  // failOn 'error' (not sharp's default 'warning'): a truncated or corrupt image fails, a
  // camera's harmless quirk does not.
  const input = { limitInputPixels: IMAGE_PIXELS_MAX, failOn: 'error' } as const;
  // The header alone, without the limit (which sharp would apply here too, as a failure this
  // could not tell from a damaged file): a huge image is refused before a pixel of it is decoded.
  const metadata = await sharp(path, { ...input, limitInputPixels: false })
    .metadata()
    .catch(() => {
      throw damaged();
    });
  if (metadata.format !== IMAGE_FORMATS[contentType]) throw damaged();
  const pixels = metadata.width * metadata.height;
  if (pixels > IMAGE_PIXELS_MAX) {
    throw validationFailed(
      [{ path: '/file', message: `is ${metadata.width}×${metadata.height} pixels, more than ${IMAGE_PIXELS_MAX / 1_000_000} megapixels` }],
      `the image is ${metadata.width}×${metadata.height} pixels; at most ${IMAGE_PIXELS_MAX / 1_000_000} megapixels are accepted`,
    );
  }
  const upright = sharp(path, input).rotate();
  try {
    const [image, thumbnail] = await Promise.all([
      picture(upright.clone().toFormat(IMAGE_FORMATS[contentType]).toBuffer({ resolveWithObject: true }), contentType),
      picture(
        upright
          .clone()
          .resize(THUMBNAIL_SIDE_PX, THUMBNAIL_SIDE_PX, { fit: 'inside', withoutEnlargement: true })
          .webp()
          .toBuffer({ resolveWithObject: true }),
        'image/webp',
      ),
    ]);
    return { image, thumbnail };
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw damaged();
  }
}
