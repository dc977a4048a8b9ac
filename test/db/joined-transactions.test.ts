import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as productRows from '../../src/db/products.ts';
import { AppError } from '../../src/domain/errors.ts';
import { login } from '../../src/services/auth.ts';
import { inTransaction, type UseCaseContext } from '../../src/services/context.ts';
import { createProduct, listProducts } from '../../src/services/products.ts';
import { createFirstAdmin, updateUser } from '../../src/services/users.ts';
import { unique } from '../support/factories.ts';
import { createTestDatabase, type TestDatabase } from '../support/helpers.ts';

// Use cases compose into one transaction: the one that opens it owns it (commits, rolls back,
// retries), the ones given it in `ctx.tx` join it and only run their work (src/services/context.ts).

let t: TestDatabase;
before(async () => {
  t = await createTestDatabase();
});
after(() => t.destroy());

const system = (): UseCaseContext => ({ db: t.db, actor: null });
const skuCount = async (skus: string[]) =>
  (
    await t.db.connection((db) => db.query<{ n: number }>('SELECT count(*)::int AS n FROM products WHERE sku = ANY($1::text[])', [skus]))
  )[0]!.n;

describe('use cases in a caller’s transaction', () => {
  it('commit together: an import of several products is one transaction', async () => {
    const skus = [unique('SKU'), unique('SKU'), unique('SKU')];
    const created = await inTransaction(system(), async (tx) => {
      const ctx = { ...system(), tx };
      const made = [];
      for (const sku of skus) made.push(await createProduct(ctx, { sku, name: 'Imported' }));
      // Reads in the transaction see what it wrote before it commits.
      const page = await listProducts(ctx, { q: skus[0]!, limit: 10 });
      assert.deepEqual(
        page.items.map((item) => item.sku),
        [skus[0]],
      );
      return made;
    });
    assert.deepEqual(
      created.map((product) => product.sku),
      skus,
    );
    assert.equal(await skuCount(skus), 3);
  });

  it('roll back together: a failing step writes nothing of the steps before it', async () => {
    const skus = [unique('SKU'), unique('SKU')];
    await assert.rejects(
      inTransaction(system(), async (tx) => {
        const ctx = { ...system(), tx };
        await createProduct(ctx, { sku: skus[0]!, name: 'Imported' });
        await createProduct(ctx, { sku: skus[1]!, name: 'Imported' });
        await createProduct(ctx, { sku: skus[0]!.toUpperCase(), name: 'A duplicate' });
      }),
      (error: unknown) =>
        error instanceof AppError && error.code === 'conflict' && error.detail === productRows.PRODUCT_CONSTRAINTS.products_sku_key,
    );
    assert.equal(await skuCount(skus), 0, 'nothing was written');
  });

  it('are run again, from the start, only by the transaction’s owner when it meets a serialization failure', async () => {
    const sku = unique('SKU');
    let attempts = 0;
    await inTransaction(system(), async (tx) => {
      attempts += 1;
      await createProduct({ ...system(), tx }, { sku, name: 'Imported' });
      if (attempts === 1) throw Object.assign(new Error('could not serialize access'), { code: '40001' });
    });
    assert.equal(attempts, 2, 'the owner ran its work again, the joined use case with it');
    assert.equal(await skuCount([sku]), 1, 'the first attempt was rolled back, the second committed once');
  });

  it('are refused, by an assertion, to the use cases that can’t join one', async () => {
    await t.db.transaction(async (tx) => {
      const ctx = { ...system(), tx };
      await assert.rejects(createFirstAdmin(ctx, { email: 'a@stockroom.test', password: 'a password of some length' }), {
        name: 'AssertionError',
      });
      await assert.rejects(updateUser(ctx, '00000000-0000-7000-8000-000000000000', { name: 'x' }), { name: 'AssertionError' });
      await assert.rejects(
        login(ctx, { email: 'a@stockroom.test', password: 'x', address: '127.0.0.1' }, { sessionTtlHours: 1, maxAttempts: 5, windowS: 60 }),
        { name: 'AssertionError' },
      );
    });
  });
});
