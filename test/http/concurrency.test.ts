import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimIdempotencyKey, saveIdempotencyKey } from '../../src/db/idempotency.ts';
import { levelsDisagreeingWithLedger } from '../support/ledger.ts';
import { createLocation, createProduct, stockUp } from '../support/factories.ts';
import { createHarness, listen, usingPostgres, type Harness } from '../support/helpers.ts';
import { countBy, httpClient, inParallel, statusAndCode, type HttpClient } from '../support/http-client.ts';

// Correctness under concurrency, through real HTTP: many requests at once on the same stock rows
// must neither lose an update, nor oversell, nor deadlock, nor write an idempotent request twice.
// The database, not the process, is what guarantees it (DESIGN.md, "What the notes got wrong").

let post: HttpClient['post'];
let get: HttpClient['get'];

async function onHand(productId: string, locationId: string): Promise<number> {
  const page = await get(`/api/v1/stock?productId=${productId}&locationId=${locationId}`);
  assert.equal(page.items.length, 1, `one level for ${productId} at ${locationId}`);
  return page.items[0].onHand;
}

/** Every movement of a product, newest first, following the cursor to the end. */
async function history(productId: string): Promise<any[]> {
  const movements: any[] = [];
  let cursor: string | null = null;
  do {
    const page: any = await get(`/api/v1/movements?productId=${productId}&limit=500${cursor === null ? '' : `&cursor=${cursor}`}`);
    movements.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return movements;
}

describe('concurrent movements through real HTTP', () => {
  let h: Harness;

  before(async () => {
    h = await createHarness({ dbPoolMax: 10, dbPoolAcquireTimeoutMs: 10_000 });
    ({ post, get } = httpClient(await listen(h.app), h.auth));
  });
  after(() => h.close());

  async function assertLevelsMatchLedger(productIds: string[]) {
    const disagreeing = await h.db.connection((db) => levelsDisagreeingWithLedger(db, productIds));
    assert.deepEqual(disagreeing, [], 'every level equals the sum of its ledger');
  }

  it('sells 100 units to exactly 100 of 300 simultaneous buyers and refuses the other 200 with insufficient_stock', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    await stockUp(h.app, product.id, location.id, 100);

    const answers = await inParallel(300, () =>
      post('/api/v1/movements', { type: 'outbound', locationId: location.id, lines: [{ productId: product.id, quantity: 1 }] }),
    );

    assert.deepEqual(countBy(answers, statusAndCode), { '201': 100, '409 insufficient_stock': 200 });
    for (const refused of answers.filter((answer) => answer.status === 409)) {
      assert.deepEqual(refused.body.lines, [{ productId: product.id, locationId: location.id, requested: 1, available: 0 }]);
    }
    // Each sale saw the level the previous one left: the balances are 99, 98, ..., 0, each once.
    const balances = answers
      .filter((answer) => answer.status === 201)
      .map((answer) => answer.body.balances[0].onHand)
      .sort((a: number, b: number) => a - b);
    assert.deepEqual(
      balances,
      Array.from({ length: 100 }, (_, index) => index),
    );
    assert.equal(await onHand(product.id, location.id), 0);
    assert.equal((await history(product.id)).length, 101, 'the stock-up and 100 sales');
    await assertLevelsMatchLedger([product.id]);
  });

  it('loses no update when 300 inbounds of one unit hit the same level at once', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);

    const answers = await inParallel(300, (index) =>
      post('/api/v1/movements', {
        type: 'inbound',
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 1 }],
        reference: `parallel-inbound-${index}`,
      }),
    );

    assert.deepEqual(countBy(answers, statusAndCode), { '201': 300 });
    const balances = answers.map((answer) => answer.body.balances[0].onHand).sort((a: number, b: number) => a - b);
    assert.deepEqual(
      balances,
      Array.from({ length: 300 }, (_, index) => index + 1),
      'each inbound saw the one before it',
    );
    assert.equal(await onHand(product.id, location.id), 300);
    assert.equal((await history(product.id)).length, 300);
    await assertLevelsMatchLedger([product.id]);
  });

  it('runs opposite multi-line transfers between two locations at once without a deadlock, conserving every total', async () => {
    const a = await createLocation(h.app);
    const b = await createLocation(h.app);
    const products = [await createProduct(h.app), await createProduct(h.app), await createProduct(h.app)];
    const initial = 1000;
    for (const product of products) {
      await stockUp(h.app, product.id, a.id, initial);
      await stockUp(h.app, product.id, b.id, initial);
    }
    // Every order of the three products, and of two of them, in both directions.
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
      [0, 1],
      [1, 0],
      [1, 2],
      [2, 1],
      [0, 2],
      [2, 0],
    ];
    const transfers = Array.from({ length: 240 }, (_, index) => {
      const [from, to] = index % 2 === 0 ? [a, b] : [b, a];
      const order = orders[Math.floor(index / 2) % orders.length]!;
      return {
        type: 'transfer',
        locationId: from.id,
        toLocationId: to.id,
        lines: order.map((p, position) => ({ productId: products[p]!.id, quantity: 1 + ((index + position) % 3) })),
      };
    });

    const answers = await inParallel(transfers.length, (index) => post('/api/v1/movements', transfers[index]));

    assert.deepEqual(countBy(answers, statusAndCode), { '201': transfers.length }, 'no deadlock, no 5xx, nothing refused');
    for (const product of products) {
      // Every transfer applied, so each level is exactly the initial stock plus what came in minus what went out.
      let netIntoA = 0;
      for (const transfer of transfers) {
        const line = transfer.lines.find((l) => l.productId === product.id);
        if (line !== undefined) netIntoA += transfer.toLocationId === a.id ? line.quantity : -line.quantity;
      }
      const atA = await onHand(product.id, a.id);
      const atB = await onHand(product.id, b.id);
      assert.equal(atA + atB, 2 * initial, 'a transfer moves stock, it never makes or loses any');
      assert.equal(atA, initial + netIntoA);
    }
    await assertLevelsMatchLedger(products.map((product) => product.id));
  });

  it('writes one movement for 50 simultaneous requests with one Idempotency-Key, replaying its answer to the rest', async () => {
    const location = await createLocation(h.app);
    const product = await createProduct(h.app);
    // Several rounds, each with a key of its own: a race between the key's lock and its record
    // shows only now and then.
    const rounds = 8;
    for (let round = 0; round < rounds; round += 1) {
      const key = `concurrency-${product.id}-${round}`;
      const movement = {
        type: 'inbound',
        locationId: location.id,
        lines: [{ productId: product.id, quantity: 7 }],
        reference: `idempotent-${round}`,
      };

      const answers = await inParallel(50, () => post('/api/v1/movements', movement, { 'idempotency-key': key }));

      const counts = countBy(answers, statusAndCode);
      assert.deepEqual(
        Object.keys(counts).filter((outcome) => outcome !== '201' && outcome !== '409 idempotency_key_in_progress'),
        [],
        `round ${round}: every answer is the movement or "in progress": ${JSON.stringify(counts)}`,
      );
      const written = answers.filter((answer) => answer.status === 201);
      assert.equal(
        written.filter((answer) => answer.headers.get('idempotent-replayed') !== 'true').length,
        1,
        `round ${round}: one first answer`,
      );
      for (const answer of written) {
        assert.equal(answer.text, written[0]!.text, `round ${round}: a replay is the first answer, byte for byte`);
      }
      for (const busy of answers.filter((answer) => answer.status === 409)) {
        assert.equal(busy.headers.get('retry-after'), '1');
      }
      // Once the first has finished, the key answers with a replay, whatever it was told before.
      const later = await post('/api/v1/movements', movement, { 'idempotency-key': key });
      assert.equal(later.status, 201);
      assert.equal(later.headers.get('idempotent-replayed'), 'true');
      assert.equal(later.text, written[0]!.text);

      const movements = (await history(product.id)).filter((m) => m.reference === movement.reference);
      assert.equal(movements.length, 1, `round ${round}: one movement written for the key`);
      assert.equal(movements[0].id, written[0]!.body.id);
    }
    assert.equal(await onHand(product.id, location.id), 7 * rounds);
    await assertLevelsMatchLedger([product.id]);
  });

  it('never lets a second transaction find an Idempotency-Key free while the first one commits its record', async () => {
    // What the movement service does with a key, without HTTP in between so that the claims come
    // fast enough to meet the first transaction's COMMIT: claim; if free, record; commit. Losers
    // retry at once while the key is busy, as a client told 409 idempotency_key_in_progress does.
    // A claim whose snapshot predates the first COMMIT but whose lock comes after it would find
    // the key free and unrecorded, and write a second time. On PGlite transactions run one at a
    // time, so fewer keys suffice there.
    const keys = usingPostgres ? 500 : 50;
    const racers = 6;
    const writersPerKey: number[] = [];
    for (let k = 0; k < keys; k += 1) {
      const key = `claim-race-${k}`;
      const racer = async () => {
        for (let attempt = 0; attempt < 10_000; attempt += 1) {
          const outcome = await h.db.transaction(async (tx) => {
            const stored = await claimIdempotencyKey(tx, key, 24);
            if (stored === 'busy') return 'busy';
            if (stored !== undefined) return 'replayed';
            await saveIdempotencyKey(tx, key, { requestHash: 'same', statusCode: 201, responseBody: '{}' });
            return 'wrote';
          });
          if (outcome !== 'busy') return outcome;
        }
        throw new Error(`the key ${key} stayed busy`);
      };
      const outcomes = await inParallel(racers, racer);
      writersPerKey.push(outcomes.filter((outcome) => outcome === 'wrote').length);
    }
    const keysWrittenMoreThanOnce = writersPerKey.filter((writers) => writers !== 1).length;
    assert.equal(keysWrittenMoreThanOnce, 0, `keys written by more than one transaction, of ${keys}`);
  });
});
