import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { beginsAfter, halfOpenRange, lastInstantOf, parseDateOrTimestamp, type DateOrTimestamp } from '../../src/domain/dates.ts';

/** The value a text must read as: the tests below never reach past a refusal by accident. */
function read(text: string): DateOrTimestamp {
  const value = parseDateOrTimestamp(text);
  assert.ok(value !== undefined, `${text} is read`);
  return value;
}

const iso = (date: Date | undefined) => date?.toISOString();

describe('parseDateOrTimestamp', () => {
  it('reads a date as the whole UTC day: from its first millisecond to the first of the next', () => {
    const day = read('2026-09-01');
    assert.equal(day.isDate, true);
    assert.equal(iso(day.start), '2026-09-01T00:00:00.000Z');
    assert.equal(iso(day.end), '2026-09-02T00:00:00.000Z');
  });

  it('reads a timestamp as one instant, its offset applied', () => {
    const utc = read('2026-09-01T10:15:00Z');
    assert.equal(utc.isDate, false);
    assert.equal(iso(utc.start), '2026-09-01T10:15:00.000Z');
    assert.equal(iso(utc.end), '2026-09-01T10:15:00.000Z');
    assert.equal(iso(read('2026-09-01T10:15:00+02:30').start), '2026-09-01T07:45:00.000Z');
    assert.equal(iso(read('2026-09-01T23:15:00-01:00').start), '2026-09-02T00:15:00.000Z');
  });

  it('takes a lower-case t and z, and a space between date and time, as RFC 3339 allows', () => {
    assert.equal(iso(read('2026-09-01t10:15:00z').start), '2026-09-01T10:15:00.000Z');
    assert.equal(iso(read('2026-09-01 10:15:00Z').start), '2026-09-01T10:15:00.000Z');
  });

  it('keeps a fraction to the millisecond, dropping the digits past it rather than rounding', () => {
    assert.equal(iso(read('2026-09-01T10:15:00.1Z').start), '2026-09-01T10:15:00.100Z');
    assert.equal(iso(read('2026-09-01T10:15:00.123456789Z').start), '2026-09-01T10:15:00.123Z');
    assert.equal(iso(read('2026-09-01T10:15:00.9999Z').start), '2026-09-01T10:15:00.999Z');
  });

  it('reads the years 1 to 99 as themselves, not as 1901 to 1999', () => {
    assert.equal(read('0050-03-01').start.getUTCFullYear(), 50);
    assert.equal(read('0001-01-01T00:00:00Z').start.getUTCFullYear(), 1);
  });

  it('takes 29 February in a leap year only', () => {
    assert.equal(iso(read('2024-02-29').start), '2024-02-29T00:00:00.000Z');
    assert.equal(parseDateOrTimestamp('2025-02-29'), undefined);
  });

  it('refuses a day the calendar does not have, instead of rolling it over', () => {
    for (const text of ['2026-02-30', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-01-32', '0000-01-01']) {
      assert.equal(parseDateOrTimestamp(text), undefined, text);
    }
  });

  it('refuses a time or an offset the clock does not have: 24:00, a 60th minute, a leap second', () => {
    for (const text of [
      '2026-09-01T24:00:00Z',
      '2026-09-01T23:60:00Z',
      '2026-12-31T23:59:60Z',
      '2026-09-01T10:15:00+24:00',
      '2026-09-01T10:15:00+01:60',
      '2026-02-30T10:15:00Z',
    ]) {
      assert.equal(parseDateOrTimestamp(text), undefined, text);
    }
  });

  it('refuses text of another shape', () => {
    for (const text of [
      '',
      '2026-9-1',
      '2026-09-01T10:15Z',
      '2026-09-01T10:15:00',
      '2026-09-01T10:15:00.Z',
      '20260901',
      ' 2026-09-01',
      '2026-09-01T10:15:00.1234567890Z',
    ]) {
      assert.equal(parseDateOrTimestamp(text), undefined, JSON.stringify(text));
    }
  });
});

describe('lastInstantOf', () => {
  it("is a date's last millisecond, for inclusive bounds (a date's closing stock)", () => {
    assert.equal(iso(lastInstantOf(read('2026-09-30'))), '2026-09-30T23:59:59.999Z');
  });

  it('is the instant itself for a timestamp', () => {
    assert.equal(iso(lastInstantOf(read('2026-09-30T12:00:00.5Z'))), '2026-09-30T12:00:00.500Z');
  });
});

describe('beginsAfter', () => {
  it('holds when from is after the instant to names', () => {
    assert.equal(beginsAfter(read('2026-09-30T12:00:00.001Z'), read('2026-09-30T12:00:00Z')), true);
    assert.equal(beginsAfter(read('2026-09-30T12:00:00Z'), read('2026-09-30T12:00:00Z')), false);
  });

  it("measures a date as to against that day's last moment: from=to=a date is that whole day", () => {
    assert.equal(beginsAfter(read('2026-09-30'), read('2026-09-30')), false);
    assert.equal(beginsAfter(read('2026-09-30T23:59:59.999Z'), read('2026-09-30')), false);
    assert.equal(beginsAfter(read('2026-10-01'), read('2026-09-30')), true);
    assert.equal(beginsAfter(read('2026-10-01T00:00:00Z'), read('2026-09-30')), true);
  });
});

describe('halfOpenRange', () => {
  it("runs from from's start to a date's end or a timestamp's instant, exclusive", () => {
    const days = halfOpenRange(read('2026-09-30'), read('2026-09-30'));
    assert.equal(iso(days.from), '2026-09-30T00:00:00.000Z');
    assert.equal(iso(days.to), '2026-10-01T00:00:00.000Z');
    const instants = halfOpenRange(read('2026-09-30T08:00:00Z'), read('2026-09-30T17:00:00+02:00'));
    assert.equal(iso(instants.from), '2026-09-30T08:00:00.000Z');
    assert.equal(iso(instants.to), '2026-09-30T15:00:00.000Z');
  });

  it('leaves an end open when it is not given', () => {
    assert.deepEqual(halfOpenRange(undefined, undefined), { from: undefined, to: undefined });
    const fromOnly = halfOpenRange(read('2026-09-30'), undefined);
    assert.equal(iso(fromOnly.from), '2026-09-30T00:00:00.000Z');
    assert.equal(fromOnly.to, undefined);
  });
});
