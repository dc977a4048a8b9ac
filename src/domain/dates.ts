// Dates and timestamps a client gives as bounds (a movement history's from/to, a stock level's
// asOf): "2026-09-01" is that UTC day, whose first or last moment the bound stands for, and
// "2026-09-01T10:15:00Z" one instant. The HTTP layer's schema checks the text's shape
// (src/http/schemas/dates.ts); the calendar is checked here, because Date.parse rolls 2026-02-30
// over to 2 March instead of refusing it.

/** What a value this module refuses is told, in words (the schema tells a value of the wrong shape the same). */
export const DATE_OR_TIMESTAMP_WORDS = 'must be a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z)';

const DATE_OR_TIMESTAMP_TEXT = new RegExp(
  '^(\\d{4})-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?(?:[Zz]|([+-])(\\d{2}):(\\d{2})))?$',
);

const DAY_MS = 86_400_000;

/** A date or a timestamp, read: a UTC day, or one instant (to the millisecond). */
export interface DateOrTimestamp {
  isDate: boolean;
  /** The day's first millisecond, or the instant. */
  start: Date;
  /** The first millisecond after the day, or the instant. */
  end: Date;
}

/**
 * Reads a date (2026-09-01) or an RFC 3339 timestamp; undefined for text of another shape, or a
 * day or time the calendar doesn't have (2026-02-30, 24:00:00, a leap second, the year 0000).
 * Digits past the millisecond are dropped, not rounded: the ledger's times are whole milliseconds.
 */
export function parseDateOrTimestamp(text: string): DateOrTimestamp | undefined {
  const parts = DATE_OR_TIMESTAMP_TEXT.exec(text);
  if (parts === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction, sign, offsetHours, offsetMinutes] = parts;
  const number = (digits: string | undefined) => Number(digits ?? '0');
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0–99 as 1900–1999.
  date.setUTCFullYear(number(year), number(month) - 1, number(day));
  const isCalendarDay =
    number(year) >= 1 &&
    date.getUTCFullYear() === number(year) &&
    date.getUTCMonth() === number(month) - 1 &&
    date.getUTCDate() === number(day);
  if (!isCalendarDay) return undefined;
  if (hour === undefined) return { isDate: true, start: date, end: new Date(date.getTime() + DAY_MS) };
  if (number(hour) > 23 || number(minute) > 59 || number(second) > 59 || number(offsetHours) > 23 || number(offsetMinutes) > 59)
    return undefined;
  const offsetMs = (sign === '-' ? -1 : 1) * (number(offsetHours) * 60 + number(offsetMinutes)) * 60_000;
  const milliseconds = number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  const instant = new Date(date.getTime() + ((number(hour) * 60 + number(minute)) * 60 + number(second)) * 1000 + milliseconds - offsetMs);
  return { isDate: false, start: instant, end: instant };
}

/** The last millisecond a date or timestamp stands for: the day's last, or the instant (for inclusive bounds such as asOf). */
export const lastInstantOf = (value: DateOrTimestamp) => (value.isDate ? new Date(value.end.getTime() - 1) : value.start);

/** Whether `from` begins after the last moment `to` stands for: such a range is refused, not read as empty. */
export const beginsAfter = (from: DateOrTimestamp, to: DateOrTimestamp) => from.start > lastInstantOf(to);

/**
 * A from/to pair as a half-open interval [from, to): `from` from its day's start, `to` up to its
 * instant, or to its day's end when it is a date (so from=to=2026-09-30 is that whole day).
 * Either end may be open. Whether `from` is after `to` is the caller's to check (beginsAfter).
 */
export function halfOpenRange(
  from: DateOrTimestamp | undefined,
  to: DateOrTimestamp | undefined,
): { from: Date | undefined; to: Date | undefined } {
  return { from: from?.start, to: to === undefined ? undefined : to.isDate ? to.end : to.start };
}
