import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/domain/errors.ts';
import { assertAvailable, lockedLevels, type LevelState } from '../../src/domain/movements.ts';
import { assertActive, checkReservation, type ReservationInput } from '../../src/domain/reservations.ts';

// The reservation rules that need no database (src/domain/reservations.ts), and the availability
// rule a hold shares with an outbound (assertAvailable, src/domain/movements.ts).

const HERE = 'location-here';
const NOW = new Date('2026-12-03T12:00:00.000Z');

const input = (lines: ReservationInput['lines'], extra: Partial<ReservationInput> = {}): ReservationInput => ({
  locationId: HERE,
  lines,
  ...extra,
});

function refusedWith(code: string, check: (error: AppError) => void = () => undefined) {
  return (error: unknown) => {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, code);
    check(error);
    return true;
  };
}

describe('checkReservation', () => {
  it('accepts distinct products with positive quantities and an expiry to come', () => {
    checkReservation(
      input(
        [
          { productId: 'a', quantity: 1 },
          { productId: 'b', quantity: 5 },
        ],
        { expiresAt: new Date(NOW.getTime() + 1) },
      ),
      NOW,
    );
  });

  it('refuses a product given twice, at the second line', () => {
    assert.throws(
      () =>
        checkReservation(
          input([
            { productId: 'a', quantity: 1 },
            { productId: 'a', quantity: 2 },
          ]),
          NOW,
        ),
      refusedWith('validation_failed', (error) =>
        assert.deepEqual(error.extras.errors, [{ path: '/lines/1/productId', message: 'a product may appear once per reservation' }]),
      ),
    );
  });

  it('refuses a quantity that is not a positive integer', () => {
    for (const quantity of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => checkReservation(input([{ productId: 'a', quantity }]), NOW), refusedWith('validation_failed'));
    }
  });

  it('refuses an expiresAt now or before', () => {
    for (const expiresAt of [NOW, new Date(NOW.getTime() - 1)]) {
      assert.throws(
        () => checkReservation(input([{ productId: 'a', quantity: 1 }], { expiresAt }), NOW),
        refusedWith('validation_failed', (error) =>
          assert.deepEqual(error.extras.errors, [{ path: '/expiresAt', message: 'must be in the future' }]),
        ),
      );
    }
  });
});

describe('assertActive', () => {
  const reservation = { id: 'r1', status: 'active' as const, expiresAt: null, expired: false };

  it('lets an active reservation that has not expired be fulfilled or cancelled', () => {
    assertActive(reservation, 'fulfilled');
    assertActive(reservation, 'cancelled');
  });

  it('refuses a reservation that is not active with a conflict naming its status', () => {
    for (const status of ['fulfilled', 'cancelled', 'expired'] as const) {
      assert.throws(
        () => assertActive({ ...reservation, status }, 'fulfilled'),
        refusedWith('conflict', (error) => assert.match(error.detail, new RegExp(`is ${status}`))),
      );
    }
  });

  it('refuses an active reservation past its expiresAt as expired, before any sweep', () => {
    assert.throws(
      () => assertActive({ ...reservation, expiresAt: NOW, expired: true }, 'fulfilled'),
      refusedWith('conflict', (error) => assert.match(error.detail, /is expired \(at 2026-12-03T12:00:00.000Z\)/)),
    );
  });
});

describe('assertAvailable', () => {
  const level = (productId: string, onHand: number, reserved: number, allowNegative = false): LevelState => ({
    productId,
    locationId: HERE,
    onHand,
    reserved,
    allowNegative,
  });

  it('lets a change take up to what is available, and names every line that would take more', () => {
    const levels = lockedLevels([level('a', 10, 4), level('b', 3, 3), level('c', 0, 0)]);
    assertAvailable([{ productId: 'a', locationId: HERE, delta: -6 }], levels);
    assert.throws(
      () =>
        assertAvailable(
          [
            { productId: 'a', locationId: HERE, delta: -7 },
            { productId: 'b', locationId: HERE, delta: -1 },
            { productId: 'c', locationId: HERE, delta: 5 },
          ],
          levels,
        ),
      refusedWith('insufficient_stock', (error) =>
        assert.deepEqual(error.extras.lines, [
          { productId: 'a', locationId: HERE, requested: 7, available: 6 },
          { productId: 'b', locationId: HERE, requested: 1, available: 0 },
        ]),
      ),
    );
  });

  it('lets any change through where the location allows negative stock', () => {
    assertAvailable([{ productId: 'a', locationId: HERE, delta: -100 }], lockedLevels([level('a', 1, 1, true)]));
  });

  it('treats a level that was not locked as a bug, not a refusal', () => {
    assert.throws(
      () => assertAvailable([{ productId: 'x', locationId: HERE, delta: -1 }], lockedLevels([])),
      (error: unknown) => !(error instanceof AppError),
    );
  });
});
