import { Type, type TSchema } from 'typebox';

// Shapes shared by every resource. Bounds are part of the contract: every string, number and
// list a client can send has a maximum.

export const QUANTITY_MAX = 1_000_000_000;
export const LIST_LIMIT_MAX = 500;

// The formats alone admit more than the database and Date take: ajv-formats' uuid admits the
// "urn:uuid:" form, and date-time admits leap seconds (23:59:60) and the year 0000. The patterns
// hold ids and times to what the rest of the service can use.
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const DATE_TIME_PATTERN = '^(?!0000)\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:[0-5]\\d(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$';
export const uuid = (options: { description?: string } = {}) => Type.String({ format: 'uuid', pattern: UUID_PATTERN, ...options });
export const dateTime = (options: { description?: string } = {}) => Type.String({ format: 'date-time', pattern: DATE_TIME_PATTERN, ...options });

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
