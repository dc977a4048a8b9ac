import multipart from '@fastify/multipart';
import type { FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { Type } from 'typebox';
import { AppError, validationFailed } from '../../domain/errors.ts';
import { IMAGE_FORMATS } from '../../services/image-files.ts';
import * as service from '../../services/images.ts';
import { ImageParams, PictureResponse, UploadImageBody } from '../schemas/images.ts';
import { IdParams, problems } from '../schemas/common.ts';
import type { App, RouteOptions } from '../types.ts';
import { validatorCompiler } from '../validator.ts';

// A product's image (API.md, Catalog): the upload, its removal, and the two URLs that serve it.
//
// The upload's body is read by the handler, as a stream, after authentication and authorisation
// (onRequest, before any byte of it) and after the product is found. Refusals come while the
// client may still be sending (415 from the first bytes, 413 at the limit): the early-answers
// plugin (src/http/plugins/early-answers.ts) reads and throws away the rest, so the client reads
// the answer instead of a reset. For that the request must be left flowing: see `detachParser`.

const Product = Type.Ref('Product');

/** The immutable URLs' caching (API.md): a URL names one image, whose bytes never change. */
const CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Multipart limits besides the file's size: one file, and the few small fields a form may add. */
const MULTIPART_LIMITS = { files: 1, fields: 10, parts: 12, fieldSize: 1024, headerPairs: 100 };

// The upload's body is never validated by a schema: its schema is there for the documentation.
const defaultValidator = validatorCompiler();
const uploadValidator: FastifySchemaCompiler<unknown> = (route) =>
  route.httpPart === 'body' ? () => true : defaultValidator(route as { schema: object; httpPart?: string });

/**
 * Stops the multipart parser reading the request. Unpiping a stream's last destination pauses it,
 * and @fastify/multipart unpipes when its parse ends (which, for an upload answered early, is
 * after the answer): the pause would stop the early-answers plugin's drain, and the client would
 * hang until the deadline. Unpiped now, before the answer, the later unpipe finds nothing to do.
 */
function detachParser(request: FastifyRequest) {
  if (!request.raw.complete) request.raw.unpipe();
}

export async function imageRoutes(app: App, { uploads }: Pick<RouteOptions, 'uploads'>) {
  // The upload in a scope of its own: multipart/form-data is accepted here and nowhere else, and
  // any other body is left unread, for the handler to refuse with a 400 that says what to send.
  await app.register(async (upload: App) => {
    upload.removeAllContentTypeParsers();
    await upload.register(multipart, { limits: { ...MULTIPART_LIMITS, fileSize: uploads.maxBytes }, throwFileSizeLimit: false });
    upload.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    upload.put(
      '/products/:id/image',
      {
        config: { access: 'catalog:write' },
        validatorCompiler: uploadValidator,
        schema: {
          operationId: 'uploadProductImage',
          tags: ['catalog'],
          summary: "Set or replace a product's image",
          description:
            'multipart/form-data with the image in the field `file`: PNG, JPEG or WebP, recognised by its bytes whatever its name or ' +
            'declared type (anything else → 415), at most UPLOAD_MAX_BYTES (→ 413, answered as soon as the limit is passed), at most ' +
            '40 megapixels (→ 422). It is re-encoded in its own format, upright, without metadata (EXIF, GPS), with a WebP ' +
            'thumbnail within 256×256, and replaces the previous image. A body that is not multipart/form-data → 400.',
          params: IdParams,
          body: UploadImageBody,
          response: { 200: Product, ...problems(400, 401, 403, 404, 413, 415, 422) },
        },
      },
      async (request) => {
        if (!request.isMultipart()) {
          throw new AppError(
            'bad_request',
            `Content-Type ${request.headers['content-type'] ?? '(none)'} is not accepted here; send multipart/form-data with the image in the field "file"`,
          );
        }
        try {
          const part = await request.file({ limits: { ...MULTIPART_LIMITS, fileSize: uploads.maxBytes } }).catch((error: unknown) => {
            throw multipartProblem(error);
          });
          if (part === undefined)
            throw validationFailed([{ path: '/file', message: 'is required' }], 'the form has no file: send it in the field "file"');
          if (part.fieldname !== 'file') {
            throw validationFailed(
              [{ path: '/file', message: 'is required' }],
              `the form's file is in the field "${part.fieldname}"; send it in "file"`,
            );
          }
          const file = part.file;
          // The parser says when the limit is passed, but ends the file only when its part ends (at
          // the end of the body): the upload fails at once instead, while the client is still sending.
          file.once('limit', () =>
            file.destroy(new AppError('payload_too_large', `the file is larger than ${uploads.maxBytes} bytes (UPLOAD_MAX_BYTES)`)),
          );
          return await service.uploadProductImage(
            request.ctx,
            request.params.id,
            { stream: file, truncated: () => file.truncated },
            { dir: uploads.tmpDir, maxBytes: uploads.maxBytes, signal: request.ctx.signal },
          );
        } catch (error) {
          // A client that left, or a deadline that passed, is told as such (not as the stream's error).
          if (request.abortSignal.aborted) throw request.abortSignal.reason;
          throw error;
        } finally {
          detachParser(request);
        }
      },
    );
  });

  app.delete(
    '/products/:id/image',
    {
      config: { access: 'catalog:write' },
      schema: {
        operationId: 'deleteProductImage',
        tags: ['catalog'],
        summary: "Remove a product's image",
        description: 'Removes the image and its thumbnail, and frees their storage; a product without an image is answered 204 too.',
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await service.deleteProductImage(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );

  const contentTypes = Object.keys(IMAGE_FORMATS);
  for (const [variant, path, operationId, summary, types] of [
    ['image', 'image', 'getProductImage', "A product's image", contentTypes],
    ['thumbnail', 'thumbnail', 'getProductThumbnail', "A product's thumbnail (WebP, within 256×256)", ['image/webp']],
  ] as const) {
    app.get(
      `/products/:id/${path}/:imageId`,
      {
        config: { access: 'read' },
        schema: {
          operationId,
          tags: ['catalog'],
          summary,
          description:
            "The URL is the product's imageUrl or thumbnailUrl; it changes with the image, so the answer may be cached for good " +
            '(Cache-Control: immutable). An ETag, and 304 for an If-None-Match that names it. A replaced or unknown image → 404.',
          params: ImageParams,
          response: {
            200: PictureResponse(summary, types),
            304: { description: 'The client holds this image already (If-None-Match)', type: 'null' },
            ...problems(401, 403, 404),
          },
        },
      },
      async (request, reply) => {
        const served = await service.getProductImage(
          request.ctx,
          request.params.id,
          request.params.imageId,
          variant,
          request.headers['if-none-match'],
        );
        reply.header('etag', served.etag).header('cache-control', CACHE_CONTROL).header('x-content-type-options', 'nosniff');
        if (served.notModified) return reply.code(304).send(null);
        // The bytes go as they are; the schema's binary string only documents them.
        return reply.type(served.contentType).send(served.bytes as unknown as string);
      },
    );
  }
}

/** What the multipart parser's own refusals (a body that is not a well-formed form) are told. */
function multipartProblem(error: unknown): unknown {
  if (error instanceof AppError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new AppError('payload_too_large', 'the form has more parts than an image upload needs: send one file, in the field "file"');
  }
  return new AppError('bad_request', 'the multipart/form-data body is malformed');
}
