import { Type } from 'typebox';
import { DATE_OR_TIMESTAMP_WORDS, beginsAfter, halfOpenRange, parseDateOrTimestamp, type DateOrTimestamp } from '../../domain/dates.ts';
import { validationFailed } from '../../domain/errors.ts';
import { describedPattern, TIMESTAMP_WORDS } from './common.ts';

// A query parameter that takes a day as well as an instant: "2026-09-01" is that UTC day, whose
// first or last moment the parameter stands for (src/domain/dates.ts). The pattern checks the
// shape; the calendar (2026-02-30, 25:00) is checked when the value is read, with the same words.
// No format: ajv-formats has none that takes both, and Date.parse rolls 2026-02-30 over to 2 March.
const DATE_OR_TIMESTAMP_PATTERN = describedPattern(
  '^\\d{4}-\\d{2}-\\d{2}([Tt ]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2}))?$',
  DATE_OR_TIMESTAMP_WORDS,
);

export const dateOrTimestamp = (options: { description: string }) =>
  Type.String({
    pattern: DATE_OR_TIMESTAMP_PATTERN,
    maxLength: 40,
    examples: ['2026-09-01', '2026-09-01T10:15:00Z'],
    ...options,
    description: `${options.description}. Takes a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z).`,
  });

/**
 * Reads a query parameter dateOrTimestamp() admitted, refusing a day or time the calendar doesn't
 * have as a validation error at `path`: the same problem as a value the schema refuses
 * (src/http/problems.ts).
 */
export function readDateOrTimestamp(text: string, path: string): DateOrTimestamp {
  const value = parseDateOrTimestamp(text);
  if (value === undefined) {
    throw validationFailed([{ path, message: DATE_OR_TIMESTAMP_WORDS }], `the query string is invalid: ${path} ${DATE_OR_TIMESTAMP_WORDS}`);
  }
  return value;
}

/**
 * The from/to query parameters as a half-open interval [from, to) (src/domain/dates.ts). A `from`
 * after `to` is refused: after the instant, or after the last moment of the day.
 */
export function readTimeRange(from: string | undefined, to: string | undefined) {
  const start = from === undefined ? undefined : readDateOrTimestamp(from, '/from');
  const end = to === undefined ? undefined : readDateOrTimestamp(to, '/to');
  if (start !== undefined && end !== undefined && beginsAfter(start, end)) {
    const message = 'must not be after to';
    throw validationFailed([{ path: '/from', message }], `the query string is invalid: /from ${message} (${from} is after ${to})`);
  }
  return halfOpenRange(start, end);
}

/**
 * Reads a body's timestamp that dateTime() admitted (src/http/schemas/common.ts) as the instant it
 * names, whatever its offset or case, to the millisecond; a day or time the calendar doesn't have
 * is refused as a validation error at `path`, with the words the schema uses.
 */
export function readTimestamp(text: string, path: string): Date {
  const value = parseDateOrTimestamp(text);
  if (value === undefined || value.isDate) throw validationFailed([{ path, message: TIMESTAMP_WORDS }]);
  return value.start;
}
