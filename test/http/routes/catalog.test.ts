import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCategory, createLocation, createProduct, createUser, recordMovement, stockUp } from '../../support/factories.ts';
import { api, createHarness, type ApiResponse, type Harness } from '../../support/helpers.ts';
import { assertProblem, assertValidationError, tag, TIMESTAMP, UNKNOWN_ID, UUID } from '../../support/assertions.ts';

// The catalog of API.md: categories (a tree with unique sibling names) and products (unique
// SKUs, searched, filtered and paged; deleting one archives it, since the ledger refers to it).

let barcodeCounter = 0;

// One database and app for the whole file: tests make their own rows and never depend on others'.
let h: Harness;
before(async () => {
  h = await createHarness();
});
after(() => h.close());

describe('categories', () => {
  const get = (id: string) => api(h.app, 'GET', `/api/v1/categories/${id}`);
  const children = async (parentId: string) => {
    const response = await api(h.app, 'GET', `/api/v1/categories?parentId=${parentId}&limit=500`);
    assert.equal(response.status, 200);
    assert.equal(response.body.nextCursor, null);
    return response.body.items as { id: string; name: string; parentId: string }[];
  };

  describe('POST /api/v1/categories', () => {
    it('creates a top-level category, with parentId null, that GET then returns', async () => {
      const name = `Fasteners ${tag()}`;
      const response = await api(h.app, 'POST', '/api/v1/categories', { name });
      assert.equal(response.status, 201);
      assert.match(String(response.headers['content-type']), /^application\/json/);
      assert.match(response.body.id, UUID);
      assert.equal(response.body.name, name);
      assert.equal(response.body.parentId, null);
      assert.match(response.body.createdAt, TIMESTAMP);
      assert.match(response.body.updatedAt, TIMESTAMP);
      const fetched = await get(response.body.id);
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.body, response.body);
    });

    it('creates a subcategory under its parent, and trims the name', async () => {
      const parent = await createCategory(h.app);
      const name = `Bolts ${tag()}`;
      const response = await api(h.app, 'POST', '/api/v1/categories', { name: `  ${name}  `, parentId: parent.id });
      assert.equal(response.status, 201);
      assert.equal(response.body.name, name);
      assert.equal(response.body.parentId, parent.id);
      assert.deepEqual(await children(parent.id), [response.body]);
    });

    it('refuses a name a sibling already has, whatever its case, and creates nothing', async () => {
      const parent = await createCategory(h.app);
      const name = `Bolts ${tag()}`;
      const first = await createCategory(h.app, { name, parentId: parent.id });
      const response = await api(h.app, 'POST', '/api/v1/categories', { name: name.toUpperCase(), parentId: parent.id });
      assertProblem(response, 409, 'conflict');
      assert.deepEqual(await children(parent.id), [first]);
    });

    it('refuses a top-level name another top-level category has, whatever its case', async () => {
      const name = `Top ${tag()}`;
      const first = await createCategory(h.app, { name });
      const response = await api(h.app, 'POST', '/api/v1/categories', { name: name.toLowerCase(), parentId: null });
      assertProblem(response, 409, 'conflict');
      const all = await api(h.app, 'GET', '/api/v1/categories?limit=500');
      const named = all.body.items.filter((c: { name: string }) => c.name.toLowerCase() === name.toLowerCase());
      assert.deepEqual(named, [first]);
    });

    it('allows the same name under two different parents', async () => {
      const name = `Screws ${tag()}`;
      const left = await createCategory(h.app);
      const right = await createCategory(h.app);
      const a = await api(h.app, 'POST', '/api/v1/categories', { name, parentId: left.id });
      const b = await api(h.app, 'POST', '/api/v1/categories', { name, parentId: right.id });
      assert.equal(a.status, 201);
      assert.equal(b.status, 201);
      assert.notEqual(a.body.id, b.body.id);
    });

    it('refuses an unknown parentId with 404 and creates nothing', async () => {
      const response = await api(h.app, 'POST', '/api/v1/categories', { name: `Orphan ${tag()}`, parentId: UNKNOWN_ID });
      assertProblem(response, 404, 'not_found');
      assert.deepEqual(await children(UNKNOWN_ID), []);
    });

    it('refuses an unknown field with 422 naming its path, and creates nothing', async () => {
      const parent = await createCategory(h.app);
      const response = await api(h.app, 'POST', '/api/v1/categories', { name: `Paint ${tag()}`, parentId: parent.id, colour: 'red' });
      assertValidationError(response, '/colour');
      assert.deepEqual(await children(parent.id), []);
    });

    it('refuses a missing or blank name with 422, and creates nothing', async () => {
      const parent = await createCategory(h.app);
      assertValidationError(await api(h.app, 'POST', '/api/v1/categories', { parentId: parent.id }), '/name');
      assertValidationError(await api(h.app, 'POST', '/api/v1/categories', { name: '   ', parentId: parent.id }), '/name');
      assertValidationError(await api(h.app, 'POST', '/api/v1/categories', { name: 'x'.repeat(201), parentId: parent.id }), '/name');
      assert.deepEqual(await children(parent.id), []);
    });
  });

  describe('GET /api/v1/categories/:id', () => {
    it('answers 404 for an id that does not exist', async () => {
      assertProblem(await get(UNKNOWN_ID), 404, 'not_found');
    });

    it('answers 422 for an id that is not a UUID', async () => {
      assertValidationError(await get('not-a-uuid'), '/id');
    });
  });

  describe('GET /api/v1/categories', () => {
    it('lists only the children of parentId, ordered by name case-insensitively', async () => {
      const parent = await createCategory(h.app);
      const other = await createCategory(h.app);
      await createCategory(h.app, { parentId: other.id });
      const b = await createCategory(h.app, { name: 'banana', parentId: parent.id });
      const a = await createCategory(h.app, { name: 'Apple', parentId: parent.id });
      const c = await createCategory(h.app, { name: 'Cherry', parentId: parent.id });
      assert.deepEqual(await children(parent.id), [a, b, c]);
    });

    it('lists top-level categories with a null parentId among them', async () => {
      const top = await createCategory(h.app);
      const child = await createCategory(h.app, { parentId: top.id });
      const seen: { id: string; parentId: string | null }[] = [];
      let cursor: string | null = null;
      do {
        const response: ApiResponse = await api(h.app, 'GET', `/api/v1/categories?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(response.status, 200);
        seen.push(...response.body.items);
        cursor = response.body.nextCursor;
      } while (cursor !== null);
      assert.ok(seen.some((category) => category.id === top.id && category.parentId === null));
      assert.ok(seen.some((category) => category.id === child.id && category.parentId === top.id));
    });

    it('pages with limit and an opaque cursor, giving every category exactly once, in order', async () => {
      const parent = await createCategory(h.app);
      const made = [];
      // Mixed case on purpose: the order is by name case-insensitively, the same on every page.
      for (const name of ['delta', 'Alpha', 'echo', 'Charlie', 'bravo', 'Foxtrot', 'golf']) {
        made.push(await createCategory(h.app, { name, parentId: parent.id }));
      }
      const expected = [...made].sort((x, y) => x.name.toLowerCase().localeCompare(y.name.toLowerCase()));
      const pages: { id: string }[][] = [];
      let cursor: string | null = null;
      do {
        const query: string = `parentId=${parent.id}&limit=3${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const response: ApiResponse = await api(h.app, 'GET', `/api/v1/categories?${query}`);
        assert.equal(response.status, 200);
        assert.ok(response.body.nextCursor === null || typeof response.body.nextCursor === 'string');
        pages.push(response.body.items);
        cursor = response.body.nextCursor;
      } while (cursor !== null && pages.length < 10);
      assert.deepEqual(
        pages.map((page) => page.length),
        [3, 3, 1],
      );
      assert.deepEqual(pages.flat(), expected);
    });

    it('pages through categories of the same name under different parents without skipping or repeating one', async () => {
      const name = `Same ${tag()}`;
      const same = [];
      for (let i = 0; i < 3; i += 1) {
        const parent = await createCategory(h.app);
        same.push(await createCategory(h.app, { name, parentId: parent.id }));
      }
      const seen: { id: string; name: string }[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const response: ApiResponse = await api(h.app, 'GET', `/api/v1/categories?${query}`);
        assert.equal(response.status, 200);
        seen.push(...response.body.items);
        cursor = response.body.nextCursor;
      } while (cursor !== null && seen.length < 10_000);
      const ids = seen.map((category) => category.id);
      assert.equal(new Set(ids).size, ids.length, 'no category appears twice');
      assert.deepEqual(
        seen.filter((category) => category.name === name).map((category) => category.id),
        same.map((category) => category.id).sort(),
      );
      const everything = await api(h.app, 'GET', '/api/v1/categories?limit=500');
      assert.equal(everything.body.nextCursor, null);
      assert.deepEqual(seen, everything.body.items);
    });

    it('answers nextCursor null when the page holds exactly the last items', async () => {
      const parent = await createCategory(h.app);
      await createCategory(h.app, { parentId: parent.id });
      await createCategory(h.app, { parentId: parent.id });
      const response = await api(h.app, 'GET', `/api/v1/categories?parentId=${parent.id}&limit=2`);
      assert.equal(response.status, 200);
      assert.equal(response.body.items.length, 2);
      assert.equal(response.body.nextCursor, null);
    });

    it('refuses a limit over 500, a limit of 0, and a cursor it did not issue, with 422', async () => {
      assertValidationError(await api(h.app, 'GET', '/api/v1/categories?limit=501'), '/limit');
      assertValidationError(await api(h.app, 'GET', '/api/v1/categories?limit=0'), '/limit');
      assertValidationError(await api(h.app, 'GET', '/api/v1/categories?cursor=bm90LWEtY3Vyc29y'), '/cursor');
    });

    it('refuses a cursor that decodes but was never issued (wrong types inside) with 422, not a 500', async () => {
      const forged = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');
      assertValidationError(await api(h.app, 'GET', `/api/v1/categories?cursor=${forged(['a', 'b'])}`), '/cursor');
      assertValidationError(await api(h.app, 'GET', `/api/v1/categories?cursor=${forged([1, 2])}`), '/cursor');
    });

    it('refuses a parentId that is not a UUID with 422', async () => {
      assertValidationError(await api(h.app, 'GET', '/api/v1/categories?parentId=nope'), '/parentId');
    });
  });

  describe('PATCH /api/v1/categories/:id', () => {
    it('renames a category and keeps its parent', async () => {
      const parent = await createCategory(h.app);
      const category = await createCategory(h.app, { parentId: parent.id });
      const name = `Renamed ${tag()}`;
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { name });
      assert.equal(response.status, 200);
      assert.equal(response.body.name, name);
      assert.equal(response.body.parentId, parent.id);
      assert.equal(response.body.createdAt, category.createdAt);
      assert.ok(Date.parse(response.body.updatedAt) >= Date.parse(category.updatedAt));
      assert.deepEqual((await get(category.id)).body, response.body);
    });

    it('lets a category change the case of its own name', async () => {
      const category = await createCategory(h.app, { name: `lower ${tag()}` });
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { name: category.name.toUpperCase() });
      assert.equal(response.status, 200);
      assert.equal(response.body.name, category.name.toUpperCase());
    });

    it('moves a category under another parent', async () => {
      const from = await createCategory(h.app);
      const to = await createCategory(h.app);
      const category = await createCategory(h.app, { parentId: from.id });
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { parentId: to.id });
      assert.equal(response.status, 200);
      assert.equal(response.body.parentId, to.id);
      assert.equal(response.body.name, category.name);
      assert.deepEqual(await children(from.id), []);
      assert.deepEqual(await children(to.id), [response.body]);
    });

    it('moves a subcategory to the top level with parentId null', async () => {
      const parent = await createCategory(h.app);
      const category = await createCategory(h.app, { parentId: parent.id });
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { parentId: null });
      assert.equal(response.status, 200);
      assert.equal(response.body.parentId, null);
      assert.deepEqual(await children(parent.id), []);
    });

    it('refuses to move a category under one of its descendants (a cycle) with 422, and changes nothing', async () => {
      const root = await createCategory(h.app);
      const child = await createCategory(h.app, { parentId: root.id });
      const grandchild = await createCategory(h.app, { parentId: child.id });
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${root.id}`, { parentId: grandchild.id });
      assertValidationError(response, '/parentId');
      assert.deepEqual((await get(root.id)).body, root);
      assert.deepEqual((await get(child.id)).body, child);
      assert.deepEqual((await get(grandchild.id)).body, grandchild);
    });

    it('refuses one of two concurrent moves that together would make a cycle', async () => {
      for (let round = 0; round < 10; round += 1) {
        const a = await createCategory(h.app);
        const b = await createCategory(h.app);
        const [moveA, moveB] = await Promise.all([
          api(h.app, 'PATCH', `/api/v1/categories/${a.id}`, { parentId: b.id }),
          api(h.app, 'PATCH', `/api/v1/categories/${b.id}`, { parentId: a.id }),
        ]);
        assert.deepEqual([moveA.status, moveB.status].sort(), [200, 422], `round ${round}: both moves were accepted`);
        const [afterA, afterB] = [(await get(a.id)).body, (await get(b.id)).body];
        assert.ok(!(afterA.parentId === b.id && afterB.parentId === a.id), `round ${round}: a and b are each other's parent`);
      }
    });

    it('refuses to make a category its own parent with 422, and changes nothing', async () => {
      const category = await createCategory(h.app);
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { parentId: category.id, name: `Self ${tag()}` });
      assertValidationError(response, '/parentId');
      assert.deepEqual((await get(category.id)).body, category);
    });

    it("refuses a rename to a sibling's name, whatever its case, with 409, and changes nothing", async () => {
      const parent = await createCategory(h.app);
      const taken = await createCategory(h.app, { name: `Nuts ${tag()}`, parentId: parent.id });
      const category = await createCategory(h.app, { parentId: parent.id });
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { name: taken.name.toUpperCase() });
      assertProblem(response, 409, 'conflict');
      assert.deepEqual((await get(category.id)).body, category);
    });

    it('refuses a move under a parent that already has a child of the same name with 409, and changes nothing', async () => {
      const name = `Washers ${tag()}`;
      const from = await createCategory(h.app);
      const to = await createCategory(h.app);
      await createCategory(h.app, { name, parentId: to.id });
      const category = await createCategory(h.app, { name: name.toLowerCase(), parentId: from.id });
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { parentId: to.id });
      assertProblem(response, 409, 'conflict');
      assert.deepEqual((await get(category.id)).body, category);
    });

    it('refuses an unknown parentId with 404, and changes nothing', async () => {
      const category = await createCategory(h.app);
      const response = await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { parentId: UNKNOWN_ID });
      assertProblem(response, 404, 'not_found');
      assert.deepEqual((await get(category.id)).body, category);
    });

    it('answers 404 for a category that does not exist', async () => {
      assertProblem(await api(h.app, 'PATCH', `/api/v1/categories/${UNKNOWN_ID}`, { name: 'Ghost' }), 404, 'not_found');
    });

    it('refuses an unknown field or an empty body with 422, and changes nothing', async () => {
      const category = await createCategory(h.app);
      assertValidationError(await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { name: 'New', colour: 'red' }), '/colour');
      assertProblem(await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, {}), 422, 'validation_failed');
      assert.deepEqual((await get(category.id)).body, category);
    });
  });

  describe('DELETE /api/v1/categories/:id', () => {
    it('deletes an empty category with 204 and no body', async () => {
      const parent = await createCategory(h.app);
      const category = await createCategory(h.app, { parentId: parent.id });
      const response = await h.app.inject({ method: 'DELETE', url: `/api/v1/categories/${category.id}`, headers: h.auth });
      assert.equal(response.statusCode, 204);
      assert.equal(response.body, '');
      assertProblem(await get(category.id), 404, 'not_found');
      assert.deepEqual(await children(parent.id), []);
    });

    it('refuses to delete a category that holds a product with 409, and deletes nothing', async () => {
      const category = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: category.id });
      assertProblem(await api(h.app, 'DELETE', `/api/v1/categories/${category.id}`), 409, 'conflict');
      assert.deepEqual((await get(category.id)).body, category);
      const fetched = await api(h.app, 'GET', `/api/v1/products/${product.id}`);
      assert.deepEqual(fetched.body.category, { id: category.id, name: category.name });
    });

    it('refuses to delete a category that holds only an archived product with 409', async () => {
      const category = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: category.id });
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${product.id}`)).status, 200);
      assertProblem(await api(h.app, 'DELETE', `/api/v1/categories/${category.id}`), 409, 'conflict');
      assert.deepEqual((await get(category.id)).body, category);
    });

    it('refuses to delete a category that holds a subcategory with 409, and deletes nothing', async () => {
      const category = await createCategory(h.app);
      const child = await createCategory(h.app, { parentId: category.id });
      assertProblem(await api(h.app, 'DELETE', `/api/v1/categories/${category.id}`), 409, 'conflict');
      assert.deepEqual((await get(category.id)).body, category);
      assert.deepEqual(await children(category.id), [child]);
    });

    it('deletes a category once it has been emptied', async () => {
      const category = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: category.id });
      assert.equal((await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { categoryId: null })).status, 200);
      assert.equal((await h.app.inject({ method: 'DELETE', url: `/api/v1/categories/${category.id}`, headers: h.auth })).statusCode, 204);
    });

    it('answers 404 for a category that does not exist, and 422 for an id that is not a UUID', async () => {
      assertProblem(await api(h.app, 'DELETE', `/api/v1/categories/${UNKNOWN_ID}`), 404, 'not_found');
      assertValidationError(await api(h.app, 'DELETE', '/api/v1/categories/123'), '/id');
    });
  });
});

describe('products', () => {
  const get = (id: string) => api(h.app, 'GET', `/api/v1/products/${id}`);
  /** Every product the list answers for `query`, following nextCursor to the end. */
  const listAll = async (query: string, limit = 500) => {
    const items: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/products?${query}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response: ApiResponse = await api(h.app, 'GET', url);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      items.push(...response.body.items);
      cursor = response.body.nextCursor;
      pages += 1;
      assert.ok(pages <= 100, 'the cursor never ends');
    } while (cursor !== null);
    return items;
  };
  const skus = (items: { sku: string }[]) => items.map((item) => item.sku);
  /** A barcode no other test uses, digits only as an EAN-13 scanner reads them. */
  const barcode = () => `4${Date.now()}${String((barcodeCounter += 1) % 1000).padStart(3, '0')}`.slice(0, 20);

  describe('POST /api/v1/products', () => {
    it('creates a product with the defaults for every field not given', async () => {
      const sku = `SKU-${tag()}`;
      const response = await api(h.app, 'POST', '/api/v1/products', { sku, name: 'Hex bolt M8' });
      assert.equal(response.status, 201);
      const { id, createdAt, updatedAt, ...rest } = response.body;
      assert.match(id, UUID);
      assert.match(createdAt, TIMESTAMP);
      assert.equal(updatedAt, createdAt);
      assert.deepEqual(rest, {
        sku,
        name: 'Hex bolt M8',
        description: null,
        categoryId: null,
        category: null,
        unit: 'pcs',
        barcode: null,
        reorderPoint: 0,
        imageUrl: null,
        thumbnailUrl: null,
        archived: false,
      });
      assert.deepEqual((await get(id)).body, response.body);
    });

    it('creates a product with every field, its category embedded as {id, name}', async () => {
      const category = await createCategory(h.app);
      const fields = {
        sku: `SKU-${tag()}`,
        name: 'Wood glue',
        description: 'PVA, 500 ml bottle',
        categoryId: category.id,
        unit: 'ml',
        barcode: '4006381333931',
        reorderPoint: 12,
      };
      const response = await api(h.app, 'POST', '/api/v1/products', fields);
      assert.equal(response.status, 201);
      assert.deepEqual(
        { ...response.body, id: undefined, createdAt: undefined, updatedAt: undefined },
        {
          ...fields,
          id: undefined,
          category: { id: category.id, name: category.name },
          imageUrl: null,
          thumbnailUrl: null,
          archived: false,
          createdAt: undefined,
          updatedAt: undefined,
        },
      );
    });

    it('refuses a SKU that exists, whatever its case, with 409 conflict, and creates nothing', async () => {
      const sku = `Dup-${tag()}`;
      const first = await createProduct(h.app, { sku });
      for (const variant of [sku, sku.toUpperCase(), sku.toLowerCase()]) {
        const response = await api(h.app, 'POST', '/api/v1/products', { sku: variant, name: 'Another' });
        assertProblem(response, 409, 'conflict');
      }
      assert.deepEqual(await listAll(`q=${encodeURIComponent(sku)}`), [first]);
    });

    it('refuses an unknown categoryId with 404, and creates nothing', async () => {
      const sku = `SKU-${tag()}`;
      const response = await api(h.app, 'POST', '/api/v1/products', { sku, name: 'Orphan', categoryId: UNKNOWN_ID });
      assertProblem(response, 404, 'not_found');
      assert.deepEqual(await listAll(`q=${encodeURIComponent(sku)}`), []);
    });

    it('refuses an unknown field with 422 naming its path, and creates nothing', async () => {
      const sku = `SKU-${tag()}`;
      const response = await api(h.app, 'POST', '/api/v1/products', { sku, name: 'Paint', price: 12 });
      assertValidationError(response, '/price');
      assert.deepEqual(await listAll(`q=${encodeURIComponent(sku)}`), []);
    });

    it('refuses a missing SKU, a negative reorderPoint and a quoted number, with 422 at each path, and creates nothing', async () => {
      const sku = `SKU-${tag()}`;
      assertValidationError(await api(h.app, 'POST', '/api/v1/products', { name: 'No SKU' }), '/sku');
      assertValidationError(await api(h.app, 'POST', '/api/v1/products', { sku, name: 'N', reorderPoint: -1 }), '/reorderPoint');
      assertValidationError(await api(h.app, 'POST', '/api/v1/products', { sku, name: 'N', reorderPoint: '5' }), '/reorderPoint');
      assertValidationError(await api(h.app, 'POST', '/api/v1/products', { sku: ` ${sku}`, name: 'N' }), '/sku');
      assert.deepEqual(await listAll(`q=${encodeURIComponent(sku)}`), []);
    });

    it('refuses a NUL character in a text field with 422 at its path, and creates nothing', async () => {
      const sku = `SKU-${tag()}`;
      assertValidationError(await api(h.app, 'POST', '/api/v1/products', { sku, name: 'Bad\u0000name' }), '/name');
      assertValidationError(await api(h.app, 'POST', '/api/v1/products', { sku, name: 'N', description: 'a\u0000b' }), '/description');
      assert.deepEqual(await listAll(`q=${encodeURIComponent(sku)}`), []);
    });
  });

  describe('GET /api/v1/products/:id', () => {
    it("embeds the category's current name, not a copy made when the product was created", async () => {
      const category = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: category.id });
      const name = `Renamed ${tag()}`;
      assert.equal((await api(h.app, 'PATCH', `/api/v1/categories/${category.id}`, { name })).status, 200);
      const response = await get(product.id);
      assert.equal(response.status, 200);
      assert.equal(response.body.categoryId, category.id);
      assert.deepEqual(response.body.category, { id: category.id, name });
    });

    it('answers 404 for an id that does not exist', async () => {
      assertProblem(await get(UNKNOWN_ID), 404, 'not_found');
    });

    it('answers 422 for an id that is not a UUID', async () => {
      assertValidationError(await get('12345'), '/id');
      assertValidationError(await get('0198c3a5-ffff-7zzz-8000-000000000000'), '/id');
    });
  });

  describe('GET /api/v1/products', () => {
    it('finds by part of the SKU or of the name, case-insensitively', async () => {
      const t = tag();
      const bySku = await createProduct(h.app, { sku: `${t}-ABC-1`, name: 'Plain' });
      const byName = await createProduct(h.app, { sku: `X-${tag()}`, name: `Big ${t.toUpperCase()} Hammer` });
      await createProduct(h.app, { sku: `Y-${tag()}`, name: 'Unrelated' });
      assert.deepEqual(new Set((await listAll(`q=${t.toUpperCase()}`)).map((p) => p.id)), new Set([bySku.id, byName.id]));
      assert.deepEqual(skus(await listAll(`q=${t}-abc`)), [bySku.sku]);
      assert.deepEqual(skus(await listAll(`q=${encodeURIComponent(`${t} hammer`)}`)), [byName.sku]);
    });

    it('matches % and _ in q literally, not as LIKE wildcards', async () => {
      const t = tag();
      const percent = await createProduct(h.app, { sku: `${t}-P`, name: `${t} 100% wool` });
      await createProduct(h.app, { sku: `${t}-Q`, name: `${t} 100 pure wool` });
      const underscore = await createProduct(h.app, { sku: `${t}_1`, name: 'Underscore' });
      await createProduct(h.app, { sku: `${t}X1`, name: 'Letter' });
      const backslash = await createProduct(h.app, { sku: `${t}-B`, name: `${t} C:\\bins` });
      await createProduct(h.app, { sku: `${t}-C`, name: `${t} C:bins` });
      assert.deepEqual(skus(await listAll(`q=${encodeURIComponent(`${t} 100%`)}`)), [percent.sku]);
      assert.deepEqual(skus(await listAll(`q=${encodeURIComponent(`${t}_1`)}`)), [underscore.sku]);
      assert.deepEqual(skus(await listAll(`q=${encodeURIComponent('C:\\bins')}`)), [backslash.sku]);
      assert.deepEqual(await listAll(`q=${encodeURIComponent(`${t}%wool`)}`), []);
    });

    it('filters by categoryId, each item embedding its category', async () => {
      const category = await createCategory(h.app);
      const other = await createCategory(h.app);
      const a = await createProduct(h.app, { sku: `${tag()}-a`, categoryId: category.id });
      const b = await createProduct(h.app, { sku: `${tag()}-b`, categoryId: category.id });
      await createProduct(h.app, { categoryId: other.id });
      await createProduct(h.app);
      const items = await listAll(`categoryId=${category.id}`);
      assert.deepEqual(new Set(items.map((p) => p.id)), new Set([a.id, b.id]));
      for (const item of items) assert.deepEqual(item.category, { id: category.id, name: category.name });
    });

    it('filters by archived', async () => {
      const category = await createCategory(h.app);
      const active = await createProduct(h.app, { categoryId: category.id });
      const archived = await createProduct(h.app, { categoryId: category.id });
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${archived.id}`)).status, 200);
      assert.deepEqual(
        (await listAll(`categoryId=${category.id}&archived=true`)).map((p) => p.id),
        [archived.id],
      );
      assert.deepEqual(
        (await listAll(`categoryId=${category.id}&archived=false`)).map((p) => p.id),
        [active.id],
      );
    });

    it('pages with limit and an opaque cursor, giving every product exactly once, ordered by SKU case-insensitively', async () => {
      const category = await createCategory(h.app);
      const t = tag();
      const made = [];
      for (const suffix of ['d', 'A', 'e', 'C', 'b', 'G', 'f']) {
        made.push(await createProduct(h.app, { sku: `${t}-${suffix}`, categoryId: category.id }));
      }
      const expected = [...made].sort((x, y) => (x.sku.toLowerCase() < y.sku.toLowerCase() ? -1 : 1));
      const pages: { id: string }[][] = [];
      const cursors: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `categoryId=${category.id}&limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
        const response: ApiResponse = await api(h.app, 'GET', `/api/v1/products?${query}`);
        assert.equal(response.status, 200);
        pages.push(response.body.items);
        cursor = response.body.nextCursor;
        if (cursor !== null) {
          assert.equal(typeof cursor, 'string');
          cursors.push(cursor);
        }
      } while (cursor !== null && pages.length < 10);
      assert.deepEqual(
        pages.map((page) => page.length),
        [2, 2, 2, 1],
      );
      assert.deepEqual(pages.flat(), expected);
      assert.equal(new Set(cursors).size, cursors.length, 'every page has its own cursor');
    });

    it('pages the unfiltered list to the end without repeating or skipping a product', async () => {
      const made = [await createProduct(h.app), await createProduct(h.app), await createProduct(h.app)];
      const all = await listAll('', 7);
      const ids = all.map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, 'no product appears twice');
      for (const product of made) assert.ok(ids.includes(product.id));
      const everything = await listAll('', 500);
      assert.deepEqual(
        ids,
        everything.map((p) => p.id),
      );
    });

    it('accepts a limit of 500 and refuses 501, 0, a non-number, and a cursor it did not issue, with 422', async () => {
      assert.equal((await api(h.app, 'GET', '/api/v1/products?limit=500')).status, 200);
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?limit=501'), '/limit');
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?limit=0'), '/limit');
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?limit=ten'), '/limit');
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?cursor=%25%25%25'), '/cursor');
    });

    it('finds a product by its whole barcode, exactly, but not by a fragment of it', async () => {
      const code = barcode();
      const scanned = await createProduct(h.app, { barcode: code, name: 'Sparkling water 1 l' });
      await createProduct(h.app, { barcode: `${code}9` });
      assert.deepEqual(skus(await listAll(`q=${code}`)), [scanned.sku]);
      assert.deepEqual(await listAll(`q=${code.slice(0, -3)}`), [], 'a barcode fragment matches nothing');
      assert.deepEqual(await listAll(`q=${code.slice(3)}`), []);
      // As a scanner sends it: the newline it adds is not part of the code.
      assert.deepEqual(skus(await listAll(`q=${encodeURIComponent(`${code}\r\n`)}`)), [scanned.sku]);
      assert.deepEqual(skus(await listAll(`q=${encodeURIComponent(`\t${code} `)}`)), [scanned.sku]);
    });

    it('still matches SKU and name by part, case-insensitively, when q is also a barcode', async () => {
      const t = tag();
      const byBarcode = await createProduct(h.app, { barcode: `${t}-B` });
      const bySku = await createProduct(h.app, { sku: `${t}-B-SKU` });
      const byName = await createProduct(h.app, { name: `About ${t.toUpperCase()}-B` });
      assert.deepEqual(new Set((await listAll(`q=${t}-B`)).map((p) => p.id)), new Set([byBarcode.id, bySku.id, byName.id]));
      // The barcode is matched exactly: in another case, only the SKU and the name still match.
      assert.deepEqual(new Set((await listAll(`q=${t.toUpperCase()}-b`)).map((p) => p.id)), new Set([bySku.id, byName.id]));
    });

    it('refuses a q holding a NUL character with 422, not a 500', async () => {
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?q=a%00b'), '/q');
    });

    it('refuses a categoryId that is not a UUID and an archived that is not a boolean, with 422', async () => {
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?categoryId=abc'), '/categoryId');
      assertValidationError(await api(h.app, 'GET', '/api/v1/products?archived=maybe'), '/archived');
    });
  });

  describe('PATCH /api/v1/products/:id', () => {
    it('changes only the fields given', async () => {
      const category = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: category.id, description: 'old', barcode: '111', reorderPoint: 3 });
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { name: 'New name', reorderPoint: 7 });
      assert.equal(response.status, 200);
      assert.deepEqual({ ...response.body, updatedAt: undefined }, { ...product, name: 'New name', reorderPoint: 7, updatedAt: undefined });
      assert.ok(Date.parse(response.body.updatedAt) >= Date.parse(product.updatedAt));
      assert.deepEqual((await get(product.id)).body, response.body);
    });

    it('sets description, barcode and categoryId to null when given null', async () => {
      const category = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: category.id, description: 'text', barcode: '222' });
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { description: null, barcode: null, categoryId: null });
      assert.equal(response.status, 200);
      assert.equal(response.body.description, null);
      assert.equal(response.body.barcode, null);
      assert.equal(response.body.categoryId, null);
      assert.equal(response.body.category, null);
      assert.equal(response.body.sku, product.sku);
      assert.deepEqual((await get(product.id)).body, response.body);
    });

    it('moves a product to another category, embedding the new one', async () => {
      const from = await createCategory(h.app);
      const to = await createCategory(h.app);
      const product = await createProduct(h.app, { categoryId: from.id });
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { categoryId: to.id });
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.category, { id: to.id, name: to.name });
      assert.deepEqual(await listAll(`categoryId=${from.id}`), []);
    });

    it('refuses an unknown categoryId with 404, and changes nothing', async () => {
      const product = await createProduct(h.app);
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { categoryId: UNKNOWN_ID, name: 'Changed' });
      assertProblem(response, 404, 'not_found');
      assert.deepEqual((await get(product.id)).body, product);
    });

    it("refuses another product's SKU, whatever its case, with 409 conflict, and changes nothing", async () => {
      const taken = await createProduct(h.app, { sku: `Taken-${tag()}` });
      const product = await createProduct(h.app);
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { sku: taken.sku.toLowerCase(), name: 'Changed' });
      assertProblem(response, 409, 'conflict');
      assert.deepEqual((await get(product.id)).body, product);
      assert.deepEqual((await get(taken.id)).body, taken);
    });

    it('lets a product change the case of its own SKU', async () => {
      const product = await createProduct(h.app, { sku: `case-${tag()}` });
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { sku: product.sku.toUpperCase() });
      assert.equal(response.status, 200);
      assert.equal(response.body.sku, product.sku.toUpperCase());
    });

    it('restores an archived product with archived false', async () => {
      const product = await createProduct(h.app);
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${product.id}`)).status, 200);
      const response = await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { archived: false });
      assert.equal(response.status, 200);
      assert.equal(response.body.archived, false);
    });

    it('refuses an unknown field, a null name and an empty body with 422, and changes nothing', async () => {
      const product = await createProduct(h.app);
      assertValidationError(await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { name: 'X', price: 1 }), '/price');
      assertValidationError(await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, { name: null }), '/name');
      assertProblem(await api(h.app, 'PATCH', `/api/v1/products/${product.id}`, {}), 422, 'validation_failed');
      assert.deepEqual((await get(product.id)).body, product);
    });

    it('answers 404 for a product that does not exist, and 422 for an id that is not a UUID', async () => {
      assertProblem(await api(h.app, 'PATCH', `/api/v1/products/${UNKNOWN_ID}`, { name: 'Ghost' }), 404, 'not_found');
      assertValidationError(await api(h.app, 'PATCH', '/api/v1/products/abc', { name: 'Ghost' }), '/id');
    });
  });

  describe('DELETE /api/v1/products/:id', () => {
    it('archives the product, which GET then shows archived, and the ledger keeps it', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      const movement = await stockUp(h.app, product.id, location.id, 5);
      const response = await api(h.app, 'DELETE', `/api/v1/products/${product.id}`);
      assert.equal(response.status, 200);
      assert.equal(response.body.archived, true);
      assert.equal(response.body.sku, product.sku);
      const fetched = await get(product.id);
      assert.equal(fetched.status, 200);
      assert.equal(fetched.body.archived, true);
      assert.deepEqual(fetched.body, response.body);
      const history = await api(h.app, 'GET', `/api/v1/movements?productId=${product.id}`);
      assert.equal(history.status, 200);
      assert.deepEqual(
        history.body.items.map((m: { id: string }) => m.id),
        [movement.id],
      );
      const levels = await api(h.app, 'GET', `/api/v1/products/${product.id}/stock`);
      assert.equal(levels.status, 200);
      assert.equal(levels.body.total.onHand, 5);
    });

    it('lets an archived product be taken out of stock, but not receive any', async () => {
      const location = await createLocation(h.app);
      const product = await createProduct(h.app);
      await stockUp(h.app, product.id, location.id, 5);
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${product.id}`)).status, 200);
      const out = await recordMovement(h.app, {
        type: 'outbound',
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 2 }],
      });
      assert.equal(out.status, 201);
      assertProblem(
        await recordMovement(h.app, { type: 'inbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
        409,
        'conflict',
      );
      const levels = await api(h.app, 'GET', `/api/v1/products/${product.id}/stock`);
      assert.equal(levels.body.total.onHand, 3);
    });

    it('answers 404 for a product that does not exist, and 422 for an id that is not a UUID', async () => {
      assertProblem(await api(h.app, 'DELETE', `/api/v1/products/${UNKNOWN_ID}`), 404, 'not_found');
      assertValidationError(await api(h.app, 'DELETE', '/api/v1/products/not-a-uuid'), '/id');
    });
  });
});

describe('GET /api/v1/products/lookup', () => {
  const lookup = (code: string, headers: Record<string, string> = {}) =>
    api(h.app, 'GET', `/api/v1/products/lookup?code=${encodeURIComponent(code)}`, undefined, headers);
  const code = () => `2${Date.now()}${String((barcodeCounter += 1) % 1000).padStart(3, '0')}`;
  /** The 200 answer is the product exactly as GET /products/{id} answers it. */
  async function assertFinds(response: ApiResponse, product: { id: string }) {
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body, (await api(h.app, 'GET', `/api/v1/products/${product.id}`)).body);
  }

  it('answers the product whose barcode is the code, with its category', async () => {
    const category = await createCategory(h.app);
    const scanned = code();
    const product = await createProduct(h.app, { barcode: scanned, categoryId: category.id });
    const response = await lookup(scanned);
    await assertFinds(response, product);
    assert.deepEqual(response.body.category, { id: category.id, name: category.name });
    assert.equal(response.body.barcode, scanned);
  });

  it('answers the product whose SKU is the code, whatever its case, but not one whose SKU only contains it', async () => {
    const t = tag();
    const product = await createProduct(h.app, { sku: `Bolt-${t}-M8` });
    await assertFinds(await lookup(`BOLT-${t}-m8`), product);
    await assertFinds(await lookup(`bolt-${t}-m8`), product);
    assertProblem(await lookup(`Bolt-${t}`), 404, 'not_found');
  });

  it('matches the barcode exactly: not a fragment, not another case', async () => {
    const scanned = `ab${code()}`;
    await createProduct(h.app, { barcode: scanned });
    assertProblem(await lookup(scanned.slice(0, -1)), 404, 'not_found');
    assertProblem(await lookup(scanned.slice(1)), 404, 'not_found');
    assertProblem(await lookup(scanned.toUpperCase()), 404, 'not_found');
  });

  it('ignores the white space a scanner adds around the code', async () => {
    const scanned = code();
    const product = await createProduct(h.app, { barcode: scanned });
    for (const sent of [`${scanned}\n`, `${scanned}\r\n`, `\t${scanned}`, `  ${scanned}  `]) await assertFinds(await lookup(sent), product);
    const bySku = await createProduct(h.app);
    await assertFinds(await lookup(` ${bySku.sku.toLowerCase()}\n`), bySku);
  });

  it('answers 404 not_found naming the code when nothing matches', async () => {
    const unknown = code();
    const response = await lookup(`${unknown}\n`);
    assertProblem(response, 404, 'not_found');
    assert.match(response.body.detail, new RegExp(`"${unknown}"`));
    assert.equal(response.body.detail, `no product has the barcode or SKU "${unknown}"`);
  });

  it('refuses a missing, empty or blank code with 422 in words', async () => {
    for (const url of ['/api/v1/products/lookup', '/api/v1/products/lookup?code=', '/api/v1/products/lookup?code=%20%0A']) {
      const response = await api(h.app, 'GET', url);
      assertValidationError(response, '/code');
      assert.doesNotMatch(response.body.detail, /[\^$\\]/, 'no regular expression is shown');
    }
    assert.equal((await api(h.app, 'GET', '/api/v1/products/lookup?code=')).body.errors[0].message, 'must not be blank');
    assert.equal((await api(h.app, 'GET', '/api/v1/products/lookup')).body.errors[0].message, 'is required');
    assertValidationError(await lookup('x'.repeat(129)), '/code');
  });

  it('identifies an archived product, answered with archived: true', async () => {
    const scanned = code();
    const product = await createProduct(h.app, { barcode: scanned });
    assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${product.id}`)).status, 200);
    const response = await lookup(scanned);
    await assertFinds(response, product);
    assert.equal(response.body.archived, true);
    assert.equal((await lookup(product.sku)).body.archived, true);
  });

  describe('when several products match', () => {
    it('prefers the product whose barcode is the code to one whose SKU is', async () => {
      const shared = `${code()}-${tag()}`;
      await createProduct(h.app, { sku: shared });
      const byBarcode = await createProduct(h.app, { barcode: shared });
      await assertFinds(await lookup(shared), byBarcode);
      // Even when the barcode's product is archived: the scanner read a barcode, and it is that item.
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${byBarcode.id}`)).status, 200);
      const response = await lookup(shared);
      await assertFinds(response, byBarcode);
      assert.equal(response.body.archived, true);
    });

    it('prefers the product in use to an archived one with the same barcode, whichever is older', async () => {
      const scanned = code();
      const older = await createProduct(h.app, { barcode: scanned });
      const successor = await createProduct(h.app, { barcode: scanned });
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${older.id}`)).status, 200);
      await assertFinds(await lookup(scanned), successor);
      // And the other way round.
      assert.equal((await api(h.app, 'PATCH', `/api/v1/products/${older.id}`, { archived: false })).status, 200);
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${successor.id}`)).status, 200);
      await assertFinds(await lookup(scanned), older);
    });

    it('refuses with 409 conflict, naming them, two products in use with the same barcode', async () => {
      const scanned = code();
      const first = await createProduct(h.app, { barcode: scanned });
      const second = await createProduct(h.app, { barcode: scanned });
      const archived = await createProduct(h.app, { barcode: scanned });
      assert.equal((await api(h.app, 'DELETE', `/api/v1/products/${archived.id}`)).status, 200);
      const response = await lookup(scanned);
      assertProblem(response, 409, 'conflict');
      assert.equal(response.body.detail, `2 products have the barcode "${scanned}" (${first.sku}, ${second.sku}): look one up by its SKU`);
      assert.deepEqual(
        response.body.products,
        [first, second].map((p) => ({ id: p.id, sku: p.sku, name: p.name })),
      );
      // Either is found by its SKU.
      await assertFinds(await lookup(first.sku), first);
    });
  });

  it('answers a viewer and a clerk as it answers a manager; refuses an anonymous request with 401', async () => {
    const scanned = code();
    const product = await createProduct(h.app, { barcode: scanned });
    const location = await createLocation(h.app);
    for (const role of [{ role: 'viewer' }, { role: 'clerk', locationIds: [location.id] }, { role: 'manager' }]) {
      const { auth } = await createUser(h.app, role);
      await assertFinds(await lookup(scanned, auth), product);
    }
    assertProblem(
      await api(h.app, 'GET', `/api/v1/products/lookup?code=${scanned}`, undefined, { authorization: undefined }),
      401,
      'unauthenticated',
    );
  });

  it('is documented in /openapi.json with its code parameter', async () => {
    const document = (await api(h.app, 'GET', '/openapi.json')).body;
    const operation = document.paths['/api/v1/products/lookup']?.get;
    assert.ok(operation, 'the route is documented');
    assert.match(operation.summary, /barcode/);
    const parameter = operation.parameters.find((p: { name: string }) => p.name === 'code');
    assert.equal(parameter.in, 'query');
    assert.equal(parameter.required, true);
    assert.match(parameter.description, /barcode exactly/);
    assert.ok(operation.responses['404'] && operation.responses['409'] && operation.responses['422']);
    const q = document.paths['/api/v1/products'].get.parameters.find((p: { name: string }) => p.name === 'q');
    assert.match(q.description, /barcode/);
  });
});
