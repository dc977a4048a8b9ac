import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidv7 } from '../../src/domain/ids.ts';

// Ids (src/domain/ids.ts): UUIDv7 of RFC 9562, increasing within a process. The generator keeps
// the last millisecond it used, so each test starts from a millisecond no earlier test reached.

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let fresh = Date.now() + 10 * 365 * 24 * 3600 * 1000;
/** A millisecond later than any this file has used so far, with room for a few thousand after it. */
const freshMs = () => (fresh += 1_000_000);

const msOf = (id: string) => parseInt(id.replaceAll('-', '').slice(0, 12), 16);
/** The 12-bit rand_a field, which carries the sequence within one millisecond. */
const randAOf = (id: string) => parseInt(id.replaceAll('-', '').slice(13, 16), 16);

describe('uuidv7', () => {
  it('is a lower-case RFC 9562 version 7 UUID with the variant bits 10', () => {
    for (let i = 0; i < 1_000; i += 1) assert.match(uuidv7(), UUID_V7);
  });

  it('carries the millisecond it was made at in its first 48 bits', () => {
    const now = freshMs();
    assert.equal(msOf(uuidv7(now)), now);
    assert.equal(msOf(uuidv7(now + 1)), now + 1);
  });

  it('starts each millisecond low in the sequence, leaving at least 2048 ids of room', () => {
    for (let i = 0; i < 200; i += 1) assert.ok(randAOf(uuidv7(freshMs())) < 0x800);
  });

  it('increases within one millisecond, and past 4096 ids borrows the next millisecond', () => {
    const now = freshMs();
    const ids = Array.from({ length: 5_000 }, () => uuidv7(now));
    for (let i = 1; i < ids.length; i += 1) assert.ok(ids[i - 1]! < ids[i]!, `id ${i} sorts after id ${i - 1}`);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(msOf(ids[0]!), now);
    assert.equal(msOf(ids.at(-1)!), now + 1, 'the sequence ran over into the next millisecond');
  });

  it('never goes back when the clock does: an earlier time gives an id after the last one', () => {
    const now = freshMs();
    const last = uuidv7(now);
    const next = uuidv7(now - 60_000);
    assert.ok(next > last);
    assert.equal(msOf(next), now);
  });

  it('sorts by creation time across milliseconds, as text', () => {
    const now = freshMs();
    const ids = [uuidv7(now), uuidv7(now + 1), uuidv7(now + 256), uuidv7(now + 65_536)];
    assert.deepEqual([...ids].sort(), ids);
  });
});
