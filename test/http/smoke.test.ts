import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocation, createProduct, recordMovement } from '../support/factories.ts';
import { api, createHarness, type Harness } from '../support/helpers.ts';

describe('smoke', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  after(() => h.close());

  it('records an inbound and shows the level', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    const response = await recordMovement(h.app, {
      type: 'inbound',
      locationId: location.id,
      lines: [{ productId: product.id, quantity: 3 }],
    });
    assert.equal(response.status, 201);
    const stock = await api(h.app, 'GET', `/api/v1/stock?productId=${product.id}`);
    assert.equal(stock.body.items[0].onHand, 3);
  });
});
