import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATEGORY_CONSTRAINTS } from '../../src/db/categories.ts';
import { ConnectionWaitTimeoutError, translateDatabaseError } from '../../src/db/errors.ts';
import { LOCATION_CONSTRAINTS } from '../../src/db/locations.ts';
import { PRODUCT_CONSTRAINTS } from '../../src/db/products.ts';
import { USER_CONSTRAINTS } from '../../src/db/users.ts';
import { AppError } from '../../src/domain/errors.ts';

// One error path: what the drivers throw becomes the errors of API.md here, and nowhere else in src/db.

function translated(error: unknown, signal?: AbortSignal): AppError {
  const result = translateDatabaseError(error, signal);
  assert.ok(result instanceof AppError, `expected an AppError, got ${String(result)}`);
  return result;
}

describe('translateDatabaseError', () => {
  it('tells a unique violation in the words its table’s module declares', () => {
    const cases = {
      products_sku_key: [PRODUCT_CONSTRAINTS, 'a product with this SKU already exists'],
      locations_code_key: [LOCATION_CONSTRAINTS, 'a location with this code already exists'],
      categories_parent_name_key: [CATEGORY_CONSTRAINTS, 'a category with this name already exists under the same parent'],
      users_email_key: [USER_CONSTRAINTS, 'a user with this email already exists'],
    } as const;
    for (const [constraint, [declared, words]] of Object.entries(cases)) {
      assert.equal((declared as Record<string, string>)[constraint], words);
      const error = translated({ code: '23505', constraint });
      assert.deepEqual([error.status, error.code, error.detail], [409, 'conflict', words]);
    }
  });

  it('leaves a unique violation no module declares as it is: a bug, answered 500', () => {
    const driverError = { code: '23505', constraint: 'credentials_secret_key' };
    assert.equal(translateDatabaseError(driverError), driverError);
  });

  it('answers 503 with Retry-After, in the source’s words, when no connection was free in time', () => {
    const error = translated(new ConnectionWaitTimeoutError('no database connection was free in time; retry shortly'));
    assert.deepEqual(
      [error.status, error.code, error.detail, error.retryAfterS, error.extras],
      [503, 'unavailable', 'no database connection was free in time; retry shortly', 1, {}],
    );
  });

  it('answers the signal’s reason when the deadline passed or the client left first', () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    controller.abort(reason);
    assert.equal(translateDatabaseError(new ConnectionWaitTimeoutError('busy'), controller.signal), reason);
  });

  it('names the missing thing of a foreign key, and refuses to delete what is still referred to', () => {
    const missing = translated({
      code: '23503',
      detail: 'Key (category_id)=(0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b) is not present in table "categories".',
    });
    assert.deepEqual([missing.status, missing.detail], [404, 'the category does not exist']);
    const referred = translated({ code: '23503', detail: 'Key (id)=(x) is still referenced from table "products".' });
    assert.deepEqual([referred.status, referred.detail], [409, 'it is still in use: other records refer to it']);
  });
});
