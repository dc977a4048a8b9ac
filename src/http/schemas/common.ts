import type { Readable } from 'node:stream';
import { Type, type TLiteral, type TSchema, type TUnion } from 'typebox';

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
// Every pattern a request schema uses is registered with its words (below, or beside its schema,
// as in dates.ts); one without words is told "is not in the accepted form".
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
export const TIMESTAMP_WORDS = 'must be an RFC 3339 timestamp (2026-09-01T10:15:00Z)';
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
export const dateTime = (options: { description?: string } = {}) =>
  Type.String({ format: 'date-time', pattern: DATE_TIME_PATTERN, ...options });

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

/** The schemas routes refer to by $id (Type.Ref('Problem')), added where they can see them (src/http/routes/index.ts). */
export const commonSchemas = [Problem];

/** The error answers a route can give, for its documentation. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: 'A problem document', content: { 'application/problem+json': { schema: Type.Ref('Problem') } } },
    ]),
  );

// Bodies and answers that are not JSON, described so that generated clients can send and read
// them (the recipe: src/http/plugins/openapi.ts). Fastify validates a body by its media type and
// validates none that is not JSON (src/http/validator.ts): its route streams and checks it, from
// request.file() or the raw request, so the body's static type says nothing can be read from it.
// An answer's static type is what a route may send for it: text, bytes, or a stream of them.

/** What a route sends as a CSV or binary answer. */
export type SentBytes = string | Uint8Array | Readable;

/** A request body that is one uploaded file, the multipart/form-data part named `field`. */
export const multipartFile = ({ field = 'file', description }: { field?: string; description: string }) => ({
  content: {
    'multipart/form-data': { schema: Type.Unsafe<unknown>(Type.Object({ [field]: Type.String({ format: 'binary', description }) })) },
  },
});

/** A request body that is a CSV file (text/csv, UTF-8, a header line first). */
export const csvBody = (description: string) => ({
  content: { 'text/csv': { schema: Type.Unsafe<unknown>(Type.String({ description })) } },
});

/** An answer that is a CSV file: the value of one status in a route's `response`. */
export const csvResponse = (description: string) => ({
  description,
  content: { 'text/csv': { schema: Type.Unsafe<SentBytes>(Type.String()) } },
});

/** An answer that is bytes of one of `mediaTypes` (image/webp, …): the value of one status in a route's `response`. */
export const binaryResponse = (mediaTypes: readonly string[], description: string) => ({
  description,
  content: Object.fromEntries(
    mediaTypes.map((mediaType) => [mediaType, { schema: Type.Unsafe<SentBytes>(Type.String({ format: 'binary' })) }]),
  ),
});
