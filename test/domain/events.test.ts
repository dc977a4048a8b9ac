import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventMessage, levelChangesOf, matches, mergeLevelChanges, streamLocations } from '../../src/domain/events.ts';
import { Wake } from '../../src/jobs/wake.ts';

const P = 'product';
const A = 'location-a';
const B = 'location-b';

describe('level changes', () => {
  it('a fulfil (a release, then the outbound) is one change from the availability before the first step', () => {
    const released = levelChangesOf(
      'reserved',
      [{ productId: P, locationId: A, delta: -4 }],
      [{ productId: P, locationId: A, onHand: 10, reserved: 0, available: 10 }],
      {
        reservationId: 'r',
      },
    );
    const shipped = levelChangesOf(
      'onHand',
      [{ productId: P, locationId: A, delta: -4 }],
      [{ productId: P, locationId: A, onHand: 6, reserved: 0, available: 6 }],
      {
        movementId: 'm',
      },
    );
    assert.deepEqual(mergeLevelChanges([...released, ...shipped]), [
      { productId: P, locationId: A, onHand: 6, reserved: 0, available: 6, availableBefore: 6, movementId: 'm', reservationId: 'r' },
    ]);
  });

  it('sums the lines of one level and keeps levels apart', () => {
    const changes = levelChangesOf(
      'onHand',
      [
        { productId: P, locationId: A, delta: -2 },
        { productId: P, locationId: B, delta: 2 },
      ],
      [
        { productId: P, locationId: A, onHand: 3, reserved: 1, available: 2 },
        { productId: P, locationId: B, onHand: 2, reserved: 0, available: 2 },
      ],
      { movementId: 'm' },
    );
    assert.deepEqual(
      mergeLevelChanges(changes).map((change) => [change.locationId, change.availableBefore, change.available]),
      [
        [A, 4, 2],
        [B, 0, 2],
      ],
    );
  });
});

describe('what a stream is sent', () => {
  const event = { type: 'movement.recorded' as const, locationId: A, toLocationId: B };
  it('matches by type and by either end of a transfer', () => {
    assert.equal(matches({ types: null, locationIds: null }, event), true);
    assert.equal(matches({ types: ['stock.changed'], locationIds: null }, event), false);
    assert.equal(matches({ types: null, locationIds: [B] }, event), true);
    assert.equal(matches({ types: null, locationIds: ['elsewhere'] }, event), false);
    assert.equal(matches({ types: null, locationIds: [] }, event), false, 'an empty scope sees nothing');
  });

  it("the location asked for, else the actor's own, else every one", () => {
    const clerk = { id: 'u', name: 'c', role: 'clerk' as const, locationIds: [A], credentialId: 'c', credentialKind: 'token' as const };
    assert.deepEqual(streamLocations(clerk, undefined), [A]);
    assert.deepEqual(streamLocations({ ...clerk, role: 'admin', locationIds: null }, undefined), null);
    assert.deepEqual(streamLocations(null, B), [B]);
  });

  it('one message: id, event and one data line, even when the data holds a newline', () => {
    assert.equal(
      eventMessage({ id: '7', type: 'stock.low', data: { note: 'a\nb' } }),
      'id: 7\nevent: stock.low\ndata: {"note":"a\\nb"}\n\n',
    );
  });
});

describe('Wake', () => {
  it('a set before the wait is not lost; a wait without a set ends at its timeout or abort', async () => {
    // A waiting job never keeps the process alive (its timer is unref'd): this test does, meanwhile.
    const alive = setInterval(() => undefined, 1000);
    try {
      await wakeAndWait();
    } finally {
      clearInterval(alive);
    }
  });
});

/** Each way a wait ends, and whether it says it was woken. */
async function wakeAndWait() {
  const wake = new Wake();
  const never = new AbortController().signal;
  wake.set();
  let started = Date.now();
  assert.equal(await wake.wait(5000, never), true, 'a set before the wait is kept for it');
  assert.ok(Date.now() - started < 100);
  started = Date.now();
  assert.equal(await wake.wait(50, never), false, 'the timeout');
  assert.ok(Date.now() - started >= 45);
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 20);
  started = Date.now();
  assert.equal(await wake.wait(5000, stop.signal), false, 'the signal');
  assert.ok(Date.now() - started < 1000);
  const waiting = wake.wait(5000, never);
  setTimeout(() => wake.set(), 10);
  assert.equal(await waiting, true, 'a set during the wait');
}
