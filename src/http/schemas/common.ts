import { Type, type TLiteral, type TSchema, type TUnion } from 'typebox';
import { AppError } from '../../domain/errors.ts';

// Shapes shared by every resource. Bounds are part of the contract: every string, number and
// list a client can send has a maximum.

export const QUANTITY_MAX = 1_000_000_000;
export const LIST_LIMIT_MAX = 500;

// The formats alone admit more than the database and Date take: ajv-formats' uuid admits the
// "urn:uuid:" form, and date-time admits leap seconds (23:59:60) and the year 0000. The patterns
// hold ids and times to what the rest of the service can use.
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const DATE_TIME_PATTERN = '^(?!0000)\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:[0-5]\\d(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$';

// A refused value is told in words what was expected, never shown a regular expression: the
// problem handler (src/http/problems.ts) looks up the words of a failed pattern or format here.
// Every pattern a request schema uses is named below with its words; one without words is told
// "is not in the accepted form".
const PATTERN_WORDS = new Map<string, string>();
const FORMAT_WORDS = new Map<string, string>();

/** The pattern, registered with the words a refused value is told. */
export function describedPattern(pattern: string, words: string): string {
  PATTERN_WORDS.set(pattern, words);
  return pattern;
}

/** What a value refused by `pattern` (or `format`) is told, in words. */
export const patternWords = (pattern: unknown) => (typeof pattern === 'string' ? PATTERN_WORDS.get(pattern) : undefined);
export const formatWords = (format: unknown) => (typeof format === 'string' ? FORMAT_WORDS.get(format) : undefined);

const UUID_WORDS = 'must be a UUID (0190a5b2-7c3e-7000-8000-000000000000)';
const TIMESTAMP_WORDS = 'must be an RFC 3339 timestamp (2026-09-01T10:15:00Z)';
export const DATE_OR_TIMESTAMP_WORDS = 'must be a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z)';
describedPattern(UUID_PATTERN, UUID_WORDS);
describedPattern(DATE_TIME_PATTERN, TIMESTAMP_WORDS);
FORMAT_WORDS.set('uuid', UUID_WORDS);
FORMAT_WORDS.set('date-time', TIMESTAMP_WORDS);

/** Text with at least one character that is not white space. */
export const NOT_BLANK_PATTERN = describedPattern('\\S', 'must not be blank');
/** Text that neither starts nor ends with white space. */
export const TRIMMED_PATTERN = describedPattern('^\\S(.*\\S)?$', 'must not be blank, nor start or end with white space');
/** One word: no white space anywhere. */
export const WORD_PATTERN = describedPattern('^\\S+$', 'must not contain white space');
/** Printable ASCII without spaces (headers such as Idempotency-Key). */
export const PRINTABLE_ASCII_PATTERN = describedPattern('^[\\x21-\\x7E]+$', 'must be printable ASCII characters, without spaces');
/** An email address, as far as a pattern can tell: something, an @, something, no white space. */
export const EMAIL_PATTERN = describedPattern('^[^\\s@]+@[^\\s@]+$', 'must be an email address (name@example.com)');

/**
 * One of a list of strings the domain defines (roles, movement types), as a union of literals.
 * The cast keeps each literal in the static type: Type.Union of a mapped array would infer never.
 */
export const oneOf = <const Values extends readonly string[]>(values: Values, options: { description?: string } = {}) =>
  Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  ) as unknown as TUnion<{ -readonly [K in keyof Values]: TLiteral<Values[K]> }>;

/** A name shown to people: 1 to 200 characters, not blank. */
export const Name = Type.String({ minLength: 1, maxLength: 200, pattern: NOT_BLANK_PATTERN });

export const uuid = (options: { description?: string } = {}) => Type.String({ format: 'uuid', pattern: UUID_PATTERN, ...options });
export const dateTime = (options: { description?: string } = {}) => Type.String({ format: 'date-time', pattern: DATE_TIME_PATTERN, ...options });

// A query parameter that takes a day as well as an instant: "2026-09-01" is that UTC day, whose
// first or last moment the parameter stands for (see instantOf). The pattern checks the shape; the
// calendar (2026-02-30, 25:00) is checked by instantOf, with the same words. No format: ajv-formats
// has none that takes both, and Date.parse rolls 2026-02-30 over to 2 March.
const DATE_OR_TIMESTAMP_PATTERN = describedPattern(
  '^\\d{4}-\\d{2}-\\d{2}([Tt ]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2}))?$',
  DATE_OR_TIMESTAMP_WORDS,
);
const DATE_OR_TIMESTAMP_TEXT = new RegExp(
  '^(\\d{4})-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?(?:[Zz]|([+-])(\\d{2}):(\\d{2})))?$',
);
export const dateOrTimestamp = (options: { description: string }) =>
  Type.String({
    pattern: DATE_OR_TIMESTAMP_PATTERN,
    maxLength: 40,
    examples: ['2026-09-01', '2026-09-01T10:15:00Z'],
    ...options,
    description: `${options.description}. Takes a date (2026-09-01) or an RFC 3339 timestamp (2026-09-01T10:15:00Z).`,
  });

const DAY_MS = 86_400_000;

/** A date-or-timestamp parameter read: a UTC day, or one instant (to the millisecond). */
export interface DateOrTimestamp {
  isDate: boolean;
  /** The day's first millisecond, or the instant. */
  start: Date;
  /** The first millisecond after the day, or the instant. */
  end: Date;
}

/**
 * Reads a value dateOrTimestamp() admitted, refusing a day or time the calendar doesn't have
 * (2026-02-30, 24:00:00, a leap second, the year 0000) as a validation error at `path`.
 */
export function readDateOrTimestamp(text: string, path: string): DateOrTimestamp {
  // The same problem as a value the schema refuses (src/http/problems.ts).
  const refuse = () =>
    new AppError('validation_failed', `the query string is invalid: ${path} ${DATE_OR_TIMESTAMP_WORDS}`, {
      errors: [{ path, message: DATE_OR_TIMESTAMP_WORDS }],
    });
  const parts = DATE_OR_TIMESTAMP_TEXT.exec(text);
  if (parts === null) throw refuse();
  const [, year, month, day, hour, minute, second, fraction, sign, offsetHours, offsetMinutes] = parts;
  const number = (digits: string | undefined) => Number(digits ?? '0');
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads the years 0–99 as 1900–1999.
  date.setUTCFullYear(number(year), number(month) - 1, number(day));
  const isCalendarDay =
    number(year) >= 1 && date.getUTCFullYear() === number(year) && date.getUTCMonth() === number(month) - 1 && date.getUTCDate() === number(day);
  if (!isCalendarDay) throw refuse();
  if (hour === undefined) return { isDate: true, start: date, end: new Date(date.getTime() + DAY_MS) };
  if (number(hour) > 23 || number(minute) > 59 || number(second) > 59 || number(offsetHours) > 23 || number(offsetMinutes) > 59) throw refuse();
  const offsetMs = (sign === '-' ? -1 : 1) * (number(offsetHours) * 60 + number(offsetMinutes)) * 60_000;
  const milliseconds = number((fraction ?? '').padEnd(3, '0').slice(0, 3));
  const instant = new Date(date.getTime() + ((number(hour) * 60 + number(minute)) * 60 + number(second)) * 1000 + milliseconds - offsetMs);
  return { isDate: false, start: instant, end: instant };
}

/** The last millisecond a date-or-timestamp stands for: the day's last, or the instant (for inclusive bounds such as asOf). */
export const lastInstantOf = (value: DateOrTimestamp) => (value.isDate ? new Date(value.end.getTime() - 1) : value.start);

/**
 * A from/to pair as a half-open interval [from, to): `from` from its day's start, `to` up to its
 * instant, or to its day's end when it is a date (so from=to=2026-09-30 is that whole day). A
 * `from` after `to` is refused: after the instant, or after the last moment of the day.
 */
export function readTimeRange(from: string | undefined, to: string | undefined) {
  const start = from === undefined ? undefined : readDateOrTimestamp(from, '/from');
  const end = to === undefined ? undefined : readDateOrTimestamp(to, '/to');
  if (start !== undefined && end !== undefined && start.start > lastInstantOf(end)) {
    const message = 'must not be after to';
    throw new AppError('validation_failed', `the query string is invalid: /from ${message} (${from} is after ${to})`, {
      errors: [{ path: '/from', message }],
    });
  }
  return { from: start?.start, to: end === undefined ? undefined : end.isDate ? end.end : end.start };
}

export const Uuid = uuid({ description: 'A UUID (time-ordered UUIDv7 for ids this server makes)' });
export const Timestamp = dateTime({ description: 'RFC 3339, UTC' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const IdParams = Type.Object({ id: Uuid });

export const PageQuery = {
  limit: Type.Integer({ minimum: 1, maximum: LIST_LIMIT_MAX, default: 50, description: 'Page size' }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'nextCursor of the previous page' })),
};

export const Page = <T extends TSchema>(item: T, name: string) =>
  Type.Object(
    { items: Type.Array(item), nextCursor: Nullable(Type.String()) },
    { description: `A page of ${name} items; nextCursor is null on the last page` },
  );

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
    lines: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem document', additionalProperties: true },
);

/** The error answers a route can give, for its documentation. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: 'A problem document', content: { 'application/problem+json': { schema: Type.Ref('Problem') } } },
    ]),
  );
