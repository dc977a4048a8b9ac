import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { assertProblem, assertValidationError, UNKNOWN_ID, UUID } from '../../support/assertions.ts';
import { createProduct, createUser } from '../../support/factories.ts';
import { api, createHarness, type Harness } from '../../support/helpers.ts';
import { multipartForm, noisyImage, pngBomb, solidImage, uploadFilesIn, uploadImage, type Format } from '../../support/images.ts';

// The specification of product images (API.md, Catalog): the upload (recognised by its bytes,
// re-encoded without metadata, a thumbnail), its limits and refusals — each of which changes
// nothing and leaves no temporary file — the atomic swap, the removal, and the two URLs with
// their caching headers. Early answers over real sockets, aborted uploads and the event loop
// under load are test/http/uploads-edge.test.ts's.

/** Small, so that an upload past it is quick to make and send. */
const UPLOAD_MAX_BYTES = 1024 * 1024;
const CONTENT_TYPES: Record<Format, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

let h: Harness;
let uploadDir: string;
const sql = <Row = any>(text: string, params: unknown[] = []) => h.db.connection((db) => db.query<Row>(text, params));

before(async () => {
  uploadDir = await mkdtemp(join(tmpdir(), 'stockroom-uploads-test-'));
  h = await createHarness({ uploadMaxBytes: UPLOAD_MAX_BYTES, uploadTmpDir: uploadDir }, { jobs: false });
});
after(async () => {
  await h.close();
  await rm(uploadDir, { recursive: true, force: true });
});

const upload = (productId: string, file: Buffer, options: Parameters<typeof multipartForm>[1] = {}, authorization = h.auth.authorization) =>
  uploadImage(h.app, productId, multipartForm(file, options), { authorization });

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await h.app.inject({ method: 'GET', url, headers: { ...h.auth, ...headers } });
  return { status: response.statusCode, headers: response.headers, bytes: response.rawPayload };
}

/** The images stored for a product, and the parts stored for images no product points at (none, ever). */
async function storage(productId: string) {
  const images = await sql<{ id: string }>('SELECT id FROM product_images WHERE product_id = $1 ORDER BY id', [productId]);
  const [product] = await sql<{ imageId: string | null }>('SELECT image_id AS "imageId" FROM products WHERE id = $1', [productId]);
  const [orphans] = await sql<{ images: number; parts: number }>(
    `SELECT (SELECT count(*)::int FROM product_images i WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.image_id = i.id)) AS images,
            (SELECT count(*)::int FROM product_image_parts x WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.image_id = x.image_id)) AS parts`,
  );
  return { imageIds: images.map((row) => row.id), current: product!.imageId, orphans: orphans! };
}

/** The product with an image, and what was stored. */
async function productWithImage(format: Format = 'png') {
  const product = await createProduct(h.app);
  const answer = await upload(product.id, await solidImage(format, 64, 48), { filename: `a.${format}`, type: CONTENT_TYPES[format] });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** The refusal changed nothing: the product's image is what it was, nothing is orphaned, no file is left. */
async function assertNothingChanged(before: { id: string; imageUrl: string | null; thumbnailUrl: string | null; updatedAt: string }) {
  const now = await api(h.app, 'GET', `/api/v1/products/${before.id}`);
  assert.equal(now.body.imageUrl, before.imageUrl);
  assert.equal(now.body.thumbnailUrl, before.thumbnailUrl);
  assert.equal(now.body.updatedAt, before.updatedAt);
  const stored = await storage(before.id);
  assert.equal(stored.imageIds.length, before.imageUrl === null ? 0 : 1);
  assert.deepEqual(stored.orphans, { images: 0, parts: 0 });
  if (before.imageUrl !== null) assert.equal((await get(before.imageUrl)).status, 200);
  assert.deepEqual(await uploadFilesIn(uploadDir), []);
}

describe('PUT /api/v1/products/{id}/image', () => {
  for (const format of ['png', 'jpeg', 'webp'] as const) {
    it(`stores a ${format.toUpperCase()} re-encoded as ${format.toUpperCase()}, with a WebP thumbnail within 256×256`, async () => {
      const product = await createProduct(h.app);
      const original = await solidImage(format, 600, 300, { alpha: format !== 'jpeg' });
      const answer = await upload(product.id, original, { filename: `photo.${format}`, type: CONTENT_TYPES[format] });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const imageId = /\/image\/([0-9a-f-]{36})$/.exec(answer.body.imageUrl)?.[1];
      assert.match(imageId ?? '', UUID);
      assert.equal(answer.body.imageUrl, `/api/v1/products/${product.id}/image/${imageId}`);
      assert.equal(answer.body.thumbnailUrl, `/api/v1/products/${product.id}/thumbnail/${imageId}`);
      assert.equal(answer.body.sku, product.sku);

      const image = await get(answer.body.imageUrl);
      assert.equal(image.status, 200);
      assert.equal(image.headers['content-type'], CONTENT_TYPES[format]);
      const imageMetadata = await sharp(image.bytes).metadata();
      assert.deepEqual([imageMetadata.format, imageMetadata.width, imageMetadata.height], [format, 600, 300]);
      if (format !== 'jpeg') assert.equal(imageMetadata.hasAlpha, true, 'transparency is kept');

      const thumbnail = await get(answer.body.thumbnailUrl);
      assert.equal(thumbnail.status, 200);
      assert.equal(thumbnail.headers['content-type'], 'image/webp');
      const thumbnailMetadata = await sharp(thumbnail.bytes).metadata();
      assert.deepEqual([thumbnailMetadata.format, thumbnailMetadata.width, thumbnailMetadata.height], ['webp', 256, 128]);

      // Every place the product is presented carries the URLs, from the same query.
      const read = await api(h.app, 'GET', `/api/v1/products/${product.id}`);
      assert.deepEqual(read.body, answer.body);
      const listed = await api(h.app, 'GET', `/api/v1/products?q=${encodeURIComponent(product.sku)}`);
      assert.deepEqual(listed.body.items, [answer.body]);
      assert.deepEqual(await uploadFilesIn(uploadDir), []);
    });
  }

  it('does not enlarge a small image for its thumbnail', async () => {
    const product = await createProduct(h.app);
    const answer = await upload(product.id, await solidImage('png', 40, 30));
    const thumbnail = await sharp((await get(answer.body.thumbnailUrl)).bytes).metadata();
    assert.deepEqual([thumbnail.width, thumbnail.height], [40, 30]);
  });

  it('turns a JPEG upright by its EXIF orientation, then drops every metadata, GPS included', async () => {
    const product = await createProduct(h.app);
    const exif = {
      IFD0: { Make: 'StockroomCam', Model: 'Tracker 3000' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
    };
    const original = await sharp({ create: { width: 80, height: 40, channels: 3, background: '#36c' } })
      .withExif(exif)
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const sent = await sharp(original).metadata();
    assert.equal(sent.orientation, 6);
    assert.ok(sent.exif?.includes(Buffer.from([0x25, 0x88])), 'the upload carries a GPS directory (tag 0x8825)');
    assert.ok(original.includes('StockroomCam'));

    const answer = await upload(product.id, original, { filename: 'photo.jpg', type: 'image/jpeg' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    for (const url of [answer.body.imageUrl, answer.body.thumbnailUrl]) {
      const { bytes } = await get(url);
      const stored = await sharp(bytes).metadata();
      assert.deepEqual([stored.width, stored.height], [40, 80], 'turned upright');
      assert.equal(stored.exif, undefined, 'no EXIF');
      assert.equal(stored.xmp, undefined, 'no XMP');
      assert.equal(stored.orientation, undefined);
      assert.ok(!bytes.includes('Exif\u0000\u0000'), 'no EXIF segment at all');
      assert.ok(!bytes.includes('StockroomCam') && !bytes.includes('Tracker 3000'));
    }
  });

  it('replaces the image: new URLs, the old image and its storage gone', async () => {
    const first = await productWithImage('png');
    const [firstStored] = (await storage(first.id)).imageIds;
    const second = await upload(first.id, await solidImage('webp', 30, 30), { filename: 'b.webp', type: 'image/webp' });
    assert.equal(second.status, 200);
    assert.notEqual(second.body.imageUrl, first.imageUrl);
    assert.notEqual(second.body.thumbnailUrl, first.thumbnailUrl);
    const stored = await storage(first.id);
    assert.equal(stored.imageIds.length, 1);
    assert.notEqual(stored.imageIds[0], firstStored);
    assert.equal(stored.current, stored.imageIds[0]);
    assert.deepEqual(stored.orphans, { images: 0, parts: 0 });
    const [parts] = await sql<{ n: number }>('SELECT count(*)::int AS n FROM product_image_parts WHERE image_id = $1', [firstStored]);
    assert.equal(parts!.n, 0);
    assertProblem({ ...(await api(h.app, 'GET', first.imageUrl)) }, 404, 'not_found');
    assertProblem({ ...(await api(h.app, 'GET', first.thumbnailUrl)) }, 404, 'not_found');
    assert.equal((await get(second.body.imageUrl)).headers['content-type'], 'image/webp');
  });

  it('stores an image of several parts whole', async () => {
    const product = await createProduct(h.app);
    const original = await noisyImage('png', 900 * 1024);
    assert.ok(original.length > 800 * 1024 && original.length <= UPLOAD_MAX_BYTES, `${original.length} bytes`);
    const answer = await upload(product.id, original);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const served = await get(answer.body.imageUrl);
    assert.ok(served.bytes.length > 512 * 1024, 'more than two parts of 256 KiB');
    const [decodedSent, decodedServed] = await Promise.all([sharp(original).raw().toBuffer(), sharp(served.bytes).raw().toBuffer()]);
    assert.ok(decodedSent.equals(decodedServed), 'PNG re-encoding is lossless: the same pixels');
  });

  it('takes two uploads for one product at once: both answered, exactly one image kept, nothing orphaned', async () => {
    const product = await createProduct(h.app);
    const [a, b] = await Promise.all([
      upload(product.id, await solidImage('png', 50, 50)),
      upload(product.id, await solidImage('jpeg', 70, 20), { type: 'image/jpeg' }),
    ]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    const stored = await storage(product.id);
    assert.equal(stored.imageIds.length, 1);
    assert.equal(stored.current, stored.imageIds[0]);
    assert.deepEqual(stored.orphans, { images: 0, parts: 0 });
    const now = await api(h.app, 'GET', `/api/v1/products/${product.id}`);
    assert.ok([a.body.imageUrl, b.body.imageUrl].includes(now.body.imageUrl));
    assert.equal((await get(now.body.imageUrl)).status, 200);
    assert.deepEqual(await uploadFilesIn(uploadDir), []);
  });

  it('keeps the image of a product that is archived', async () => {
    const product = await productWithImage();
    const archived = await api(h.app, 'DELETE', `/api/v1/products/${product.id}`);
    assert.equal(archived.body.archived, true);
    assert.equal(archived.body.imageUrl, product.imageUrl);
    assert.equal((await get(product.imageUrl)).status, 200);
  });

  describe('refusals change nothing and leave no file', () => {
    it('a text file named .png and declared image/png: 415', async () => {
      const product = await productWithImage();
      const answer = await upload(product.id, Buffer.from('just some text, not a picture\n'.repeat(300)), { filename: 'photo.png' });
      assertProblem(answer, 415, 'unsupported_media_type');
      await assertNothingChanged(product);
    });

    it('an SVG, whatever its declared type: 415', async () => {
      const product = await productWithImage();
      const svg = Buffer.from(
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>',
      );
      for (const type of ['image/svg+xml', 'image/png']) {
        assertProblem(await upload(product.id, svg, { filename: 'logo.svg', type }), 415, 'unsupported_media_type');
      }
      await assertNothingChanged(product);
    });

    it('an image of another type (GIF, TIFF): 415', async () => {
      const product = await createProduct(h.app);
      for (const format of ['gif', 'tiff'] as const) {
        const other = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
          .toFormat(format)
          .toBuffer();
        assertProblem(await upload(product.id, other, { filename: 'x.png' }), 415, 'unsupported_media_type');
      }
      await assertNothingChanged(product);
    });

    it('a truncated image: 422', async () => {
      const product = await productWithImage();
      for (const format of ['png', 'jpeg', 'webp'] as const) {
        const whole = await noisyImage(format, 64 * 1024);
        const answer = await upload(product.id, whole.subarray(0, Math.floor(whole.length / 2)), { type: CONTENT_TYPES[format] });
        assertValidationError(answer, '/file');
      }
      await assertNothingChanged(product);
    });

    it('a file past UPLOAD_MAX_BYTES: 413', async () => {
      const product = await productWithImage();
      const large = await noisyImage('png', UPLOAD_MAX_BYTES + 64 * 1024);
      assert.ok(large.length > UPLOAD_MAX_BYTES);
      const answer = await upload(product.id, large);
      assertProblem(answer, 413, 'payload_too_large');
      assert.match(answer.body.detail, new RegExp(`${UPLOAD_MAX_BYTES} bytes`));
      await assertNothingChanged(product);
    });

    it('a decompression bomb (20000×20000 pixels in a few KiB): 422 from its header, without decoding it', async () => {
      const product = await productWithImage();
      const bomb = pngBomb(20_000, 20_000);
      assert.ok(bomb.length < 100 * 1024);
      const rssBefore = process.memoryUsage().rss;
      const started = performance.now();
      const answer = await upload(product.id, bomb);
      const elapsedMs = performance.now() - started;
      assertValidationError(answer, '/file');
      assert.match(answer.body.detail, /20000×20000/);
      // Decoding it would take 400 megapixels (1.2 GB as RGB) and seconds.
      assert.ok(elapsedMs < 2000, `answered in ${Math.round(elapsedMs)} ms`);
      assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'memory did not grow by hundreds of MB');
      await assertNothingChanged(product);
    });

    it('an image just over 40 megapixels: 422', async () => {
      const product = await createProduct(h.app);
      assertValidationError(await upload(product.id, pngBomb(8000, 5001)), '/file');
      await assertNothingChanged(product);
    });

    it('an empty file, a form without a file, or the file in another field: 422', async () => {
      const product = await productWithImage();
      assertValidationError(await upload(product.id, Buffer.alloc(0)), '/file');
      assertValidationError(await upload(product.id, await solidImage('png', 4, 4), { field: 'picture' }), '/file');
      const noFile = Buffer.from('--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b--\r\n');
      const answer = await h.app.inject({
        method: 'PUT',
        url: `/api/v1/products/${product.id}/image`,
        headers: { ...h.auth, 'content-type': 'multipart/form-data; boundary=b' },
        payload: noFile,
      });
      assertValidationError({ status: answer.statusCode, headers: answer.headers, body: answer.json() }, '/file');
      await assertNothingChanged(product);
    });

    it('a body that is not multipart/form-data: 400, saying what to send', async () => {
      const product = await productWithImage();
      const asJson = await api(h.app, 'PUT', `/api/v1/products/${product.id}/image`, { file: 'aGVsbG8=' });
      assertProblem(asJson, 400, 'bad_request');
      assert.match(asJson.body.detail, /multipart\/form-data/);
      const raw = await h.app.inject({
        method: 'PUT',
        url: `/api/v1/products/${product.id}/image`,
        headers: { ...h.auth, 'content-type': 'image/png' },
        payload: await solidImage('png', 4, 4),
      });
      assertProblem({ status: raw.statusCode, headers: raw.headers, body: raw.json() }, 400, 'bad_request');
      const none = await h.app.inject({ method: 'PUT', url: `/api/v1/products/${product.id}/image`, headers: h.auth });
      assertProblem({ status: none.statusCode, headers: none.headers, body: none.json() }, 400, 'bad_request');
      await assertNothingChanged(product);
    });

    it('a malformed multipart body: 400', async () => {
      const product = await productWithImage();
      for (const contentType of ['multipart/form-data', 'multipart/form-data; boundary=b']) {
        const answer = await h.app.inject({
          method: 'PUT',
          url: `/api/v1/products/${product.id}/image`,
          headers: { ...h.auth, 'content-type': contentType },
          payload: 'this is not a form at all',
        });
        assert.ok([400, 422].includes(answer.statusCode), `${contentType}: ${answer.statusCode} ${answer.body}`);
        assert.equal(answer.json().code, answer.statusCode === 400 ? 'bad_request' : 'validation_failed');
      }
      await assertNothingChanged(product);
    });

    it('an unknown product: 404', async () => {
      assertProblem(await upload(UNKNOWN_ID, await solidImage('png', 4, 4)), 404, 'not_found');
      assert.deepEqual(await uploadFilesIn(uploadDir), []);
    });

    it('a clerk or a viewer: 403, before the body is looked at', async () => {
      const product = await productWithImage();
      for (const role of ['clerk', 'viewer']) {
        const user = await createUser(h.app, { role });
        assertProblem(await upload(product.id, await solidImage('png', 4, 4), {}, user.auth.authorization), 403, 'forbidden');
        // Not 415: authorisation comes before the body.
        assertProblem(await upload(product.id, Buffer.from('text'), {}, user.auth.authorization), 403, 'forbidden');
      }
      assertProblem(await upload(product.id, Buffer.from('text'), {}, 'Bearer nonsense'), 401, 'unauthenticated');
      await assertNothingChanged(product);
    });
  });
});

describe('DELETE /api/v1/products/{id}/image', () => {
  it('removes the image and its storage; the URLs are null and answer 404', async () => {
    const product = await productWithImage();
    const removed = await api(h.app, 'DELETE', `/api/v1/products/${product.id}/image`);
    assert.equal(removed.status, 204);
    const read = await api(h.app, 'GET', `/api/v1/products/${product.id}`);
    assert.equal(read.body.imageUrl, null);
    assert.equal(read.body.thumbnailUrl, null);
    const stored = await storage(product.id);
    assert.deepEqual(stored, { imageIds: [], current: null, orphans: { images: 0, parts: 0 } });
    assertProblem(await api(h.app, 'GET', product.imageUrl), 404, 'not_found');
    assertProblem(await api(h.app, 'GET', product.thumbnailUrl), 404, 'not_found');
  });

  it('answers 204 for a product without an image, 404 for an unknown product, 403 to a clerk', async () => {
    const product = await createProduct(h.app);
    assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${product.id}/image`)).status, 204);
    assertProblem(await api(h.app, 'DELETE', `/api/v1/products/${UNKNOWN_ID}/image`), 404, 'not_found');
    const clerk = await createUser(h.app, { role: 'clerk' });
    const withImage = await productWithImage();
    assertProblem(await api(h.app, 'DELETE', `/api/v1/products/${withImage.id}/image`, undefined, clerk.auth), 403, 'forbidden');
    assert.equal((await get(withImage.imageUrl)).status, 200);
  });
});

describe('GET the image and thumbnail URLs', () => {
  it('serves them with their type, an ETag, immutable caching and nosniff; 304 for a matching If-None-Match', async () => {
    const product = await productWithImage('jpeg');
    for (const [url, type] of [
      [product.imageUrl, 'image/jpeg'],
      [product.thumbnailUrl, 'image/webp'],
    ] as const) {
      const first = await get(url);
      assert.equal(first.status, 200);
      assert.equal(first.headers['content-type'], type);
      assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(first.headers['x-content-type-options'], 'nosniff');
      const etag = String(first.headers.etag);
      assert.match(etag, /^"[A-Za-z0-9_-]{43}"$/);
      assert.equal(Number(first.headers['content-length']), first.bytes.length);

      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const again = await get(url, { 'if-none-match': ifNoneMatch });
        assert.equal(again.status, 304, ifNoneMatch);
        assert.equal(again.headers.etag, etag);
        assert.equal(again.bytes.length, 0);
      }
      assert.equal((await get(url, { 'if-none-match': '"other"' })).status, 200);
    }
  });

  it('serves them to every role that reads the catalog', async () => {
    const product = await productWithImage();
    for (const role of ['viewer', 'clerk']) {
      const user = await createUser(h.app, { role });
      const response = await h.app.inject({ method: 'GET', url: product.thumbnailUrl, headers: user.auth });
      assert.equal(response.statusCode, 200, role);
    }
    const anonymous = await h.app.inject({ method: 'GET', url: product.imageUrl });
    assert.equal(anonymous.statusCode, 401);
  });

  it('answers 404 for an unknown image id, or another product’s', async () => {
    const product = await productWithImage();
    const other = await productWithImage();
    const otherImageId = other.imageUrl.split('/').pop();
    for (const url of [
      `/api/v1/products/${product.id}/image/${UNKNOWN_ID}`,
      `/api/v1/products/${product.id}/thumbnail/${UNKNOWN_ID}`,
      `/api/v1/products/${product.id}/image/${otherImageId}`,
      `/api/v1/products/${UNKNOWN_ID}/image/${otherImageId}`,
    ]) {
      assertProblem(await api(h.app, 'GET', url), 404, 'not_found');
    }
    assertValidationError(await api(h.app, 'GET', `/api/v1/products/${product.id}/image/not-a-uuid`), '/imageId');
  });
});
