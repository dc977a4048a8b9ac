import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as categories from '../../src/db/categories.ts';
import * as credentials from '../../src/db/credentials.ts';
import * as locations from '../../src/db/locations.ts';
import * as products from '../../src/db/products.ts';
import * as users from '../../src/db/users.ts';
import { AppError } from '../../src/domain/errors.ts';
import { uuidv7 } from '../../src/domain/ids.ts';
import { unique } from '../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../support/helpers.ts';

// The one form of the db modules' writers: an insert or an update gives back, by RETURNING, the
// row as the module's find reads it; a partial update sets what is given, clears what is given as
// null, and keeps what is undefined; a broken constraint is told in the words its module declares.

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(() => t.destroy());

async function newProduct(fields: Partial<products.ProductFields> = {}) {
  return t.db.transaction((tx) =>
    products.insertProduct(tx, uuidv7(), {
      sku: unique('SKU'),
      name: 'A product',
      description: null,
      categoryId: null,
      unit: 'pcs',
      barcode: null,
      reorderPoint: 0,
      ...fields,
    }),
  );
}

describe('products', () => {
  it('inserts and answers the row as findProduct reads it, its category joined', async () => {
    const category = await t.db.transaction((tx) => categories.insertCategory(tx, { id: uuidv7(), name: unique('Tools'), parentId: null }));
    const inserted = await newProduct({ categoryId: category.id, description: 'steel', reorderPoint: 5 });
    assert.deepEqual(inserted.category, { id: category.id, name: category.name });
    assert.deepEqual(inserted, await t.db.connection((db) => products.findProduct(db, inserted.id)));
  });

  it('updates the given fields only, clears one given as null, and answers the row as findProduct reads it', async () => {
    const category = await t.db.transaction((tx) => categories.insertCategory(tx, { id: uuidv7(), name: unique('Tools'), parentId: null }));
    const product = await newProduct({ description: 'steel', barcode: '4006381333931', categoryId: category.id });
    const updated = await t.db.transaction((tx) =>
      products.updateProduct(tx, product.id, { name: 'Renamed', description: null, reorderPoint: 7 }),
    );
    assert.ok(updated !== undefined);
    assert.deepEqual(
      { ...updated, updatedAt: undefined },
      { ...product, name: 'Renamed', description: null, reorderPoint: 7, updatedAt: undefined },
      'only the given fields changed',
    );
    assert.ok(updated.updatedAt >= product.updatedAt);
    assert.deepEqual(updated, await t.db.connection((db) => products.findProduct(db, product.id)));
  });

  it('answers undefined for a product that does not exist, and writes nothing', async () => {
    assert.equal(await t.db.transaction((tx) => products.updateProduct(tx, uuidv7(), { name: 'x' })), undefined);
  });

  it("refuses a second product with the same SKU in any case, in products.ts's words", async () => {
    const product = await newProduct();
    await assert.rejects(newProduct({ sku: product.sku.toUpperCase() }), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'conflict');
      assert.equal(error.detail, products.PRODUCT_CONSTRAINTS.products_sku_key);
      return true;
    });
  });
});

describe('categories', () => {
  it('sets a parent, clears it with null, and keeps the name when it is not given', async () => {
    const parent = await t.db.transaction((tx) => categories.insertCategory(tx, { id: uuidv7(), name: unique('Parent'), parentId: null }));
    const child = await t.db.transaction((tx) => categories.insertCategory(tx, { id: uuidv7(), name: unique('Child'), parentId: null }));
    const moved = await t.db.transaction((tx) => categories.updateCategory(tx, child.id, { parentId: parent.id }));
    assert.equal(moved?.parentId, parent.id);
    assert.equal(moved?.name, child.name);
    const cleared = await t.db.transaction((tx) => categories.updateCategory(tx, child.id, { parentId: null }));
    assert.equal(cleared?.parentId, null);
    assert.deepEqual(cleared, await t.db.connection((db) => categories.findCategory(db, child.id)));
  });
});

describe('users', () => {
  async function newLocation() {
    return t.db.transaction((tx) =>
      locations.insertLocation(tx, { id: uuidv7(), code: unique('LOC'), name: 'A location', allowNegative: false }),
    );
  }

  it('inserts a user and its locations, answering them in id order once each, as findUser reads them', async () => {
    const [a, b] = [await newLocation(), await newLocation()];
    const id = uuidv7();
    const row = await t.db.transaction(async (tx) => {
      const inserted = await users.insertUser(tx, {
        id,
        email: `${unique('u')}@stockroom.test`,
        name: 'U',
        role: 'clerk',
        passwordHash: 'x',
        disabled: false,
      });
      assert.deepEqual(inserted.locationIds, []);
      return { ...inserted, locationIds: await users.replaceUserLocations(tx, id, [b.id, a.id.toUpperCase(), b.id]) };
    });
    assert.deepEqual(row.locationIds, [a.id, b.id].sort());
    assert.deepEqual(row, await t.db.connection((db) => users.findUser(db, id)));
  });

  it('updates the given fields and answers the row as findUser reads it; undefined for nobody', async () => {
    const id = uuidv7();
    const email = `${unique('u')}@stockroom.test`;
    await t.db.transaction((tx) => users.insertUser(tx, { id, email, name: 'U', role: 'viewer', passwordHash: 'x', disabled: false }));
    const updated = await t.db.transaction((tx) => users.updateUser(tx, id, { name: 'Renamed', disabled: true }));
    assert.equal(updated?.email, email);
    assert.equal(updated?.role, 'viewer');
    assert.equal(updated?.disabled, true);
    assert.deepEqual(updated, await t.db.connection((db) => users.findUser(db, id)));
    assert.equal(await t.db.transaction((tx) => users.updateUser(tx, uuidv7(), { name: 'x' })), undefined);
  });
});

describe('locations', () => {
  it('tells whether a location holds negative stock', async () => {
    const location = await t.db.transaction((tx) =>
      locations.insertLocation(tx, { id: uuidv7(), code: unique('LOC'), name: 'L', allowNegative: true }),
    );
    const product = await newProduct();
    const holds = () => t.db.transaction((tx) => locations.holdsNegativeStock(tx, location.id));
    assert.equal(await holds(), false);
    await t.db.transaction((tx) =>
      tx.query('INSERT INTO stock_levels (product_id, location_id, on_hand, allow_negative) VALUES ($1, $2, -3, true)', [
        product.id,
        location.id,
      ]),
    );
    assert.equal(await holds(), true);
  });
});

describe('credentials', () => {
  it('records a use at most once a minute', async () => {
    const userId = uuidv7();
    await t.db.transaction((tx) =>
      users.insertUser(tx, {
        id: userId,
        email: `${unique('u')}@stockroom.test`,
        name: 'U',
        role: 'viewer',
        passwordHash: 'x',
        disabled: false,
      }),
    );
    const credentialId = uuidv7();
    await t.db.transaction((tx) =>
      credentials.insertCredential(tx, {
        id: credentialId,
        kind: 'session',
        userId,
        name: null,
        role: null,
        secretHash: Buffer.from(unique('secret')),
        expiresAt: null,
        locationIds: null,
      }),
    );
    const lastUsedAt = async () =>
      (
        await t.db.connection((db) =>
          db.query<{ at: Date | null }>('SELECT last_used_at AS at FROM credentials WHERE id = $1', [credentialId]),
        )
      )[0]!.at;
    const setLastUse = (interval: string) =>
      t.db.connection((db) =>
        db.query(`UPDATE credentials SET last_used_at = now() - $2::interval WHERE id = $1`, [credentialId, interval]),
      );

    await t.db.connection((db) => credentials.touchCredential(db, { credentialId, lastUsedAt: null }));
    assert.ok((await lastUsedAt()) !== null, 'a first use is recorded');

    await setLastUse('30 seconds');
    const recent = await lastUsedAt();
    // As found a while ago (no statement), and as the database has it (the statement's own guard).
    await t.db.connection((db) => credentials.touchCredential(db, { credentialId, lastUsedAt: new Date(Date.now() - 10_000) }));
    await t.db.connection((db) => credentials.touchCredential(db, { credentialId, lastUsedAt: new Date(Date.now() - 120_000) }));
    assert.deepEqual(await lastUsedAt(), recent, 'a use within the minute is not recorded');

    await setLastUse('2 minutes');
    const old = await lastUsedAt();
    await t.db.connection((db) => credentials.touchCredential(db, { credentialId, lastUsedAt: old }));
    assert.ok((await lastUsedAt())!.getTime() > old!.getTime(), 'a use a minute after the last is recorded');
  });
});
