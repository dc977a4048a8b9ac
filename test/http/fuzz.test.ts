import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { ERROR_STATUS } from '../../src/domain/errors.ts';
import { csrfTokenFor } from '../../src/domain/secrets.ts';
import { UNKNOWN_ID } from '../support/assertions.ts';
import { createCategory, createLocation, createProduct, stockUp } from '../support/factories.ts';
import { multipartForm, solidImage } from '../support/images.ts';
import { api, createHarness, listen, TEST_ADMIN, type Harness, type TestApp } from '../support/helpers.ts';

// Fuzzing every /api/v1 route with hostile requests derived from its own schema (the OpenAPI
// document the app generates from the schemas that validate requests). A request is a valid-ish
// one with parts broken: wrong types, numbers out of range, strings past their maximum, NUL bytes,
// odd unicode, unknown and prototype-polluting keys, deep nesting, non-JSON, wrong content types,
// oversized bodies, malformed query strings and path ids, hostile headers and credentials.
//
// Every answer must be below 500 and, from 400 on, a problem document that shows no stack, SQL or
// path. A request the contract must refuse (the generator knows why: it broke the schema, or the
// credentials) must get a 4xx (401 / 403 exactly where the credentials decide), and a refused
// request must leave every table as it was. Only a 2xx to an unsafe method may change data; a
// refused login may count the attempt (login_attempts: the throttle of API.md is its memory).
// Nothing may ever add to, or change, a built-in prototype.
//
// FUZZ_RUNS (runs per route, default 40), FUZZ_SEED and FUZZ_ROUTE make a run longer, or repeat
// one: a failure prints its seed and the shrunk request.

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const SEED = process.env.FUZZ_SEED === undefined ? {} : { seed: Number(process.env.FUZZ_SEED) };
/** Only this route (e.g. "POST /api/v1/locations"), to repeat a failure with its seed. */
const ROUTE = process.env.FUZZ_ROUTE;
const POLLUTED = 'pollutedByFuzz';
/** A failure shrinks towards the first, plainest choice of a part (no body, a valid id, the admin). */
const CROSS_SHRINK = { withCrossShrink: true };

// ---------------------------------------------------------------------------------------------
// The routes, from the app itself

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const METHODS: Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The JSON Schema keywords the request schemas use (TypeBox output, as OpenAPI carries it). */
interface Schema {
  type?: string;
  format?: string;
  pattern?: string;
  enum?: unknown[];
  anyOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  minProperties?: number;
}

interface Param {
  name: string;
  schema: Schema;
}

interface Operation {
  method: Method;
  /** OpenAPI form: /api/v1/products/{id} */
  template: string;
  isPublic: boolean;
  body: Schema | undefined;
  /** The body is a multipart/form-data upload (the product image), not JSON. */
  multipart: boolean;
  /** The body is a CSV file (the imports), not JSON. */
  csv: boolean;
  query: Param[];
  path: Param[];
  headers: Param[];
}

interface OpenApiOperation {
  security?: unknown[];
  parameters?: { in: string; name: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

function operationsOf(app: TestApp): Operation[] {
  const { paths } = app.swagger() as unknown as { paths: Record<string, Record<string, OpenApiOperation>> };
  const operations: Operation[] = [];
  for (const [template, byMethod] of Object.entries(paths)) {
    if (!template.startsWith('/api/v1/')) continue;
    for (const [method, spec] of Object.entries(byMethod)) {
      const name = `${method.toUpperCase()} ${template}`;
      const contentTypes = Object.keys(spec.requestBody?.content ?? {});
      assert.ok(
        contentTypes.every((type) => type === 'application/json' || type === 'multipart/form-data') ||
          (contentTypes.length === 1 && contentTypes[0] === 'text/csv'),
        `${name} takes ${contentTypes.join(', ')}: teach the fuzzer that body`,
      );
      assert.ok(METHODS.includes(method.toUpperCase() as Method), `${name}: an HTTP method the fuzzer does not send`);
      const parameters = spec.parameters ?? [];
      const inPart = (part: string) => parameters.filter((p) => p.in === part).map(({ name: param, schema }) => ({ name: param, schema }));
      const operation: Operation = {
        method: method.toUpperCase() as Method,
        template,
        isPublic: spec.security?.length === 0,
        body: spec.requestBody?.content['application/json']?.schema,
        multipart: spec.requestBody?.content['multipart/form-data'] !== undefined,
        csv: spec.requestBody?.content['text/csv'] !== undefined,
        query: inPart('query'),
        path: inPart('path'),
        headers: inPart('header'),
      };
      assert.ok(!JSON.stringify(operation).includes('"$ref"'), `${name}: a request schema with a $ref; resolve it before generating`);
      operations.push(operation);
    }
  }
  return operations;
}

const isLogin = (op: Operation) => op.method === 'POST' && op.template === '/api/v1/auth/login';
const isChangeOfMe = (op: Operation) => op.method === 'PATCH' && op.template === '/api/v1/me';
const isLogout = (op: Operation) => op.method === 'POST' && op.template === '/api/v1/auth/logout';

// ---------------------------------------------------------------------------------------------
// Text

/** Characters that have broken text handling somewhere. Not NUL: that one has mutations of its own. */
// prettier-ignore
const ODD_CHARS = [
  '\u0001', '\u0008', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u00a0', '\u00ff', '\u2028', '\u2029',
  '\u200b', '\u200d', '\u202e', '\ufeff', '\ufffd', '\uffff', '\ud800', '\udfff', 'e\u0301', '😀', '👩‍👩‍👧', '𝕏',
  'ß', 'İ', '"', '\\', "'", '%', '_', '<', '&', '/', '?', '#', '+', '=', ';', '$1', '${x}',
];
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'Z', '0', '-', ' ', '.', '@') },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_CHARS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const oddText = (minLength: number, maxLength: number) => fc.string({ unit, minLength, maxLength });

/** A string's length as JSON Schema counts it: in code points. */
const lengthOf = (text: string) => [...text].length;

const tooLong = (maxLength: number, extraMax = 20_000) =>
  fc
    .tuple(fc.integer({ min: 1, max: extraMax }), fc.constantFrom('x', 'é', '😀', '\ud800', ' '))
    .map(([extra, char]) => char.repeat(maxLength + extra));

/** Percent-encodes text's UTF-8 for a URL (a lone surrogate goes as U+FFFD's bytes). */
const encode = (text: string) =>
  [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9._~-]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

const ODD_TIMESTAMPS = [
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '2016-12-31T23:59:60Z',
  '2026-02-28t12:00:00z',
  '2026-02-28 12:00:00Z',
  '2026-02-28T12:00:00.123456789+23:59',
  '2026-02-28T12:00:00-23:59',
  '1969-12-31T23:59:59Z',
];
const timestampArb = fc.oneof(
  fc
    .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(...ODD_TIMESTAMPS),
);
const BAD_TIMESTAMPS = [
  '',
  'yesterday',
  'now',
  '2026-13-01T00:00:00Z',
  '2026-02-30T00:00:00Z',
  '2026-01-01',
  '2026-01-01T24:00:01Z',
  '1700000000',
  '2026-01-01T00:00:00ZZ',
  '+002026-01-01T00:00:00Z',
  '2026-01-01T00:00:00Z\u0000',
];
const BAD_UUIDS = [
  '',
  'x',
  'null',
  UNKNOWN_ID.slice(1),
  `${UNKNOWN_ID}0`,
  UNKNOWN_ID.replace('0', 'g'),
  UNKNOWN_ID.replaceAll('-', ''),
  `{${UNKNOWN_ID}}`,
  ` ${UNKNOWN_ID}`,
  `${UNKNOWN_ID}\n`,
  'urn:uuid:',
  "' OR 1=1 --",
  '../../etc/passwd',
  `${UNKNOWN_ID}\u0000`,
];

// ---------------------------------------------------------------------------------------------
// Values from a schema: valid-ish ones, and ones that break it

/** Validates as the contract reads the schemas: JSON bodies strictly, without coercion. */
const reference = addFormats.default(new Ajv({ strict: false }));
const isUuid = reference.compile({ type: 'string', format: 'uuid' });

function uuidArb(ids: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ids) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom(...ids).map((id) => id.toUpperCase()) },
    // The URN form is a UUID to the validator (ajv-formats' "uuid").
    { weight: 1, arbitrary: fc.constantFrom(...ids).map((id) => `urn:uuid:${id}`) },
  );
}

function validString(schema: Schema, ids: string[]): fc.Arbitrary<string> {
  if (schema.format === 'uuid') return uuidArb(ids);
  if (schema.format === 'date-time') return timestampArb;
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? 64;
  const fits = (text: string) => lengthOf(text) >= min && lengthOf(text) <= max;
  if (schema.pattern === undefined) return oddText(min, Math.min(max, 40)).filter(fits);
  const pattern = new RegExp(schema.pattern, 'u');
  const matching = fc.stringMatching(pattern);
  return fc
    .oneof(
      matching,
      fc.tuple(matching, oddText(1, 4)).map(([text, odd]) => text + odd),
    )
    .filter((text) => fits(text) && pattern.test(text));
}

function enumMembers(schema: Schema): unknown[] | undefined {
  if (schema.enum !== undefined) return schema.enum;
  const branches = schema.anyOf?.map(enumMembers);
  return branches?.every((members) => members !== undefined) ? branches.flat() : undefined;
}

/** Values the schema accepts, or nearly: the ids of rows that exist, odd but allowed text. */
function validArb(schema: Schema, ids: string[]): fc.Arbitrary<unknown> {
  if (schema.anyOf !== undefined) return fc.oneof(...schema.anyOf.map((branch) => validArb(branch, ids)));
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'string':
      return validString(schema, ids);
    case 'integer': {
      const min = schema.minimum ?? -1e12;
      const max = schema.maximum ?? 1e12;
      return fc.oneof(
        fc.constantFrom(min, max),
        fc.integer({ min: Math.max(min, -1000), max: Math.min(max, 1000) }),
        fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number),
      );
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = validArb(schema.items!, ids);
      const minLength = schema.minItems ?? 0;
      const bounds = { minLength, maxLength: Math.min(schema.maxItems ?? 3, Math.max(minLength, 3)) };
      return schema.uniqueItems ? fc.uniqueArray(items, { ...bounds, selector: (item) => JSON.stringify(item) }) : fc.array(items, bounds);
    }
    case 'object': {
      const properties = Object.entries(schema.properties ?? {}).map(([key, property]) => [key, validArb(property, ids)] as const);
      return fc.record(Object.fromEntries(properties), { requiredKeys: schema.required ?? [] });
    }
  }
  throw new Error(`no generator for the schema ${JSON.stringify(schema)}`);
}

/** Text (a query value, a path segment, a header) that the schema refuses even after coercion. */
function invalidTextArb(schema: Schema): fc.Arbitrary<string> | undefined {
  const members = enumMembers(schema);
  if (members !== undefined) {
    return fc.constantFrom(
      '',
      'bogus',
      '\u0000',
      ...members.flatMap((member) => [String(member).toUpperCase(), `${String(member)} `, `${String(member)}\u0000`]),
    );
  }
  switch (schema.type) {
    case 'integer':
      return fc.constantFrom(
        '',
        'abc',
        '1.5',
        '-',
        'NaN',
        'Infinity',
        '1e999',
        '0x',
        '[]',
        '9'.repeat(30),
        '\u0000',
        String((schema.minimum ?? 0) - 1),
        String((schema.maximum ?? 1e15) + 1),
      );
    case 'boolean':
      return fc.constantFrom('', 'maybe', 'yes', 'TRUE', '1', 'on', 'true\u0000');
    case 'string': {
      const options: fc.Arbitrary<string>[] = [fc.constantFrom('\u0000', 'a\u0000b')];
      if (schema.format === 'uuid') options.push(fc.constantFrom(...BAD_UUIDS));
      if (schema.format === 'date-time') options.push(fc.constantFrom(...BAD_TIMESTAMPS));
      if (schema.maxLength !== undefined) options.push(tooLong(schema.maxLength));
      if ((schema.minLength ?? 0) > 0) options.push(fc.constant(''));
      if (schema.pattern !== undefined) {
        const pattern = new RegExp(schema.pattern, 'u');
        options.push(oddText(0, 12).filter((text) => !pattern.test(text)));
      }
      return fc.oneof(...options);
    }
  }
  return undefined;
}

/** A JSON value given as text: nesting too deep for any recursive walk to be safe. */
class RawJson {
  constructor(
    readonly text: string,
    readonly label: string,
  ) {}
  [fc.toStringMethod]() {
    return this.label;
  }
}

const deepArb = fc
  .tuple(fc.integer({ min: 1, max: 10_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays
      ? new RawJson('['.repeat(depth) + ']'.repeat(depth), `<${depth} nested arrays>`)
      : new RawJson('{"a":'.repeat(depth) + 'null' + '}'.repeat(depth), `<${depth} nested objects>`),
  );

/** An object with `key` set as an own property, whatever the key ("__proto__" included). */
function withKey(target: unknown, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  const entries = target !== null && typeof target === 'object' && !Array.isArray(target) ? Object.entries(target) : [];
  for (const [k, v] of [...entries, [key, value] as const]) {
    Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

function withoutKey(target: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.entries(target).reduce<Record<string, unknown>>((copy, [k, v]) => (k === key ? copy : withKey(copy, k, v)), {});
}

const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  POLLUTED,
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  '',
  ' ',
  'a\u0000b',
  '\ud800',
  '😀',
  'x'.repeat(1000),
  '$where',
  'id',
  'createdAt',
  'createdBy',
  'role',
  'passwordHash',
];
const pollutingValue = fc.constantFrom<unknown>(
  { [POLLUTED]: 'yes', isAdmin: true },
  withKey({}, '__proto__', { [POLLUTED]: 'yes' }),
  { prototype: { [POLLUTED]: 'yes' } },
  'yes',
  null,
  [],
);

function jsonType(value: unknown): string {
  if (value instanceof RawJson) return value.text.startsWith('[') ? 'array' : 'object';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const typesOf = (schema: Schema): string[] => [
  ...(schema.type === undefined ? [] : [schema.type]),
  ...(schema.anyOf ?? []).flatMap(typesOf),
];

const SAMPLES = fc.oneof(
  fc.constantFrom<unknown>(
    '',
    '5',
    'true',
    'null',
    '[]',
    '{}',
    'NaN',
    0,
    -1,
    1.5,
    -0.000001,
    1e21,
    -1e21,
    2 ** 53 + 2,
    Number.MAX_VALUE,
    5e-324,
  ),
  oddText(0, 20),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom<unknown>([], [null], [[]], {}, { '': null }),
  deepArb,
);

/** Values put in place of a part (of schema `schema`, now `current`) of a body, to break it. */
function breakingArbs(schema: Schema, current: unknown, ids: string[]): fc.Arbitrary<unknown>[] {
  const allowed = typesOf(schema);
  const options: fc.Arbitrary<unknown>[] = [];
  if (allowed.length > 0) {
    options.push(
      SAMPLES.filter((sample) => !allowed.includes(jsonType(sample)) && !(jsonType(sample) === 'integer' && allowed.includes('number'))),
    );
  }
  for (const branch of [schema, ...(schema.anyOf ?? [])]) {
    const text = branch.type === 'string' || branch.enum !== undefined ? invalidTextArb(branch) : undefined;
    if (text !== undefined) options.push(text);
    if (branch.type === 'integer') {
      options.push(fc.constantFrom((branch.minimum ?? 0) - 1, (branch.maximum ?? 0) + 1, 1.5, -2.5, 1e300, -1e300));
    }
    if (branch.type === 'array' && branch.items !== undefined) {
      const item = validArb(branch.items, ids);
      if ((branch.minItems ?? 0) > 0) options.push(fc.constant([]));
      if (branch.maxItems !== undefined) options.push(item.map((one) => Array.from({ length: branch.maxItems! + 1 }, () => one)));
      if (branch.uniqueItems) options.push(item.map((one) => [one, one]));
      options.push(fc.oneof(...breakingArbs(branch.items, undefined, ids)).map((bad) => [bad]));
    }
    if (branch.type === 'object') {
      const object = current !== null && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
      const present = (branch.required ?? []).filter((key) => key in object);
      if (present.length > 0) options.push(fc.constantFrom(...present).map((key) => withoutKey(object, key)));
      options.push(fc.tuple(fc.constantFrom(...HOSTILE_KEYS), pollutingValue).map(([key, value]) => withKey(object, key, value)));
      if ((branch.minProperties ?? 0) > 0) options.push(fc.constant({}));
    }
  }
  return options;
}

/** Serialises like JSON.stringify, but keeps "__proto__" keys and splices RawJson text in. */
function toJson(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}:${toJson(item)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

interface Site {
  path: (string | number)[];
  schema: Schema;
  value: unknown;
}

/** Every part of a body whose schema is known: the body itself, its properties, their items. */
function sitesOf(value: unknown, schema: Schema, path: (string | number)[] = []): Site[] {
  const sites: Site[] = [{ path, schema, value }];
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, index) => sites.push(...sitesOf(item, schema.items!, [...path, index])));
  } else if (value !== null && typeof value === 'object' && schema.properties !== undefined) {
    for (const [key, item] of Object.entries(value)) {
      const property = schema.properties[key];
      if (property !== undefined) sites.push(...sitesOf(item, property, [...path, key]));
    }
  }
  return sites;
}

function replaceAt(value: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((item, index) => (index === head ? replaceAt(item, rest, replacement) : item));
  return withKey(value, String(head), replaceAt((value as Record<string, unknown>)[String(head)], rest, replacement));
}

/** Does the value hold U+0000 anywhere, in a key or a string (walked without recursion)? */
function holdsNul(value: unknown): boolean {
  const pending = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return true;
    } else if (item !== null && typeof item === 'object') {
      for (const [key, inner] of Object.entries(item)) {
        if (key.includes('\u0000')) return true;
        pending.push(inner);
      }
    }
  }
  return false;
}

/** Why the contract refuses this body text (as the server will decode it), or undefined. */
function refusalOf(text: string, validate: ValidateFunction): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text.trim() === '' ? 'an empty body' : 'not JSON';
  }
  if (!validate(parsed)) return `the schema: ${validate.errors?.[0]?.instancePath || '/'} ${validate.errors?.[0]?.message}`;
  if (holdsNul(parsed)) return 'U+0000 in the body';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The parts of a request

interface Part {
  label: string;
  /** Why the contract must refuse a request with this part, if it must. */
  refusal?: string | undefined;
}
interface BodyPart extends Part {
  payload?: string | Buffer;
  contentType?: string;
  contentLength?: string;
}
interface TextPart extends Part {
  text: string;
}
interface HeaderPart extends Part {
  headers: Record<string, string>;
}
interface CredentialPart {
  kind: 'admin' | 'none' | 'invalid' | 'cookie without csrf';
  label: string;
  /** The headers that present it, given the session token of the admin this request acts for. */
  headers: (token: string) => Record<string, string | string[]>;
}

interface Fixtures {
  /** Ids of one row of every kind (none of them the harness admin's), and one no row has. */
  ids: string[];
  bodyLimit: number;
}

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'text/json',
  'application/jsonx',
  'application/json-patch+json',
  'application/problem+json',
  '',
  'json',
  'a\u0000b',
];
const ODD_JSON_CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'Application/Json ; charset="utf-8"',
  'application/json;',
  'application/json; x=\u00ff',
  'application/json; charset=latin1',
];
const NOT_JSON = [
  ' ',
  '{',
  '}',
  '{"a":',
  "{'a':1}",
  '{"a":1,}',
  '[1,]',
  'NaN',
  'undefined',
  '{"a":01}',
  '{"a":"\\x41"}',
  '{"a":"\u0001"}',
  '<xml/>',
  'name=x',
  '\u0000',
  '{"a":1}garbage',
  '{"a":1}{"b":2}',
  '"unterminated',
  '{"a":"\\ud800"',
  '\ufeff\ufeff{}',
];
const ODD_UTF8 = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xef, 0xbb, 0xbf]];

/** A small valid PNG, made once: uploads of it may succeed. */
const SMALL_PNG = await solidImage('png', 6, 4);

/** Bodies for a multipart/form-data upload: an image that may be stored, and every way of not being one. */
function multipartBodyArb(): fc.Arbitrary<BodyPart> {
  const form = (file: Buffer, options: Parameters<typeof multipartForm>[1] = {}) => {
    const { payload, headers } = multipartForm(file, options);
    return { payload, contentType: headers['content-type'] };
  };
  const notImage = fc
    .uint8Array({ maxLength: 256 })
    .map((bytes) => ({ ...form(Buffer.from(bytes)), refusal: 'not an image', label: 'random bytes as the file' }));
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 2, arbitrary: fc.constant<BodyPart>({ ...form(SMALL_PNG), label: 'a small PNG' }) },
    { weight: 2, arbitrary: notImage },
    {
      weight: 1,
      arbitrary: fc
        .nat(SMALL_PNG.length - 1)
        .map((cut) => ({ ...form(SMALL_PNG.subarray(0, cut)), refusal: 'a truncated image', label: `a PNG cut at ${cut}` })),
    },
    {
      weight: 1,
      arbitrary: fc.string({ maxLength: 40 }).map((field) => ({
        ...form(SMALL_PNG, { field: field === 'file' ? 'other' : field.replace(/["\r\n]/g, '') }),
        refusal: 'the file in another field',
        label: 'a PNG in another field',
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...NOT_JSON, '--x\r\n', '--x--').map((payload) => ({
        payload,
        contentType: 'multipart/form-data; boundary=x',
        refusal: 'a malformed form',
        label: 'a malformed form',
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...WRONG_CONTENT_TYPES.filter((type) => !type.startsWith('multipart/')), 'application/json')
        .map((contentType) => ({
          payload: '{"file":"x"}',
          contentType,
          refusal: 'not multipart/form-data',
          label: `Content-Type ${JSON.stringify(contentType)}`,
        })),
    },
    { weight: 1, arbitrary: fc.constant<BodyPart>({ refusal: 'no body', label: 'no body' }) },
  );
}

/** Cells a CSV file may hold, plain and hostile: quotes, line breaks, formulas, NUL, odd text. */
const CSV_CELLS = [
  '',
  'sku',
  'SKU',
  'name',
  'countedQuantity',
  'onHand',
  'expectedOnHand',
  'category',
  'reorderPoint',
  'x',
  '-1',
  '1e9',
  '99999999999',
  '"q""uote"',
  '"multi\nline"',
  '"unclosed',
  'a"b',
  "'=cmd()",
  'A/B/C',
  '//',
  '\u0000',
];

/** A CSV body (the imports): rows of plain and hostile cells, perhaps after a valid header and a BOM. */
function csvBodyArb(): fc.Arbitrary<BodyPart> {
  const cell = fc.oneof(fc.constantFrom(...CSV_CELLS, ...ODD_CHARS), fc.string({ maxLength: 12 }));
  const rows = fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { maxLength: 6 });
  const text = fc
    .tuple(fc.constantFrom('', 'sku,name,countedQuantity\n', '\ufeffsku,name\r\n'), rows, fc.constantFrom('\n', '\r\n', '\r'))
    .map(([header, lines, newline]) => header + lines.map((line) => line.join(',')).join(newline));
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 6, arbitrary: text.map((payload) => ({ payload, contentType: 'text/csv', label: 'a CSV body' })) },
    { weight: 1, arbitrary: fc.constant<BodyPart>({ label: 'no body' }) },
    {
      weight: 2,
      arbitrary: fc.tuple(text, fc.constantFrom(...WRONG_CONTENT_TYPES, 'application/json', undefined)).map(([payload, contentType]) => ({
        payload,
        ...(contentType === undefined ? {} : { contentType }),
        refusal: 'a content type other than CSV',
        label: `Content-Type ${JSON.stringify(contentType)}`,
      })),
    },
  );
}

function bodyArb(op: Operation, fixtures: Fixtures): fc.Arbitrary<BodyPart> {
  if (op.multipart) return multipartBodyArb();
  if (op.csv) return csvBodyArb();
  const oversized = fc.tuple(fc.integer({ min: 1, max: 64 * 1024 }), fc.boolean()).map(([extra, json]): BodyPart => {
    const filler = 'a'.repeat(fixtures.bodyLimit + extra);
    const payload = json ? `{"name":"${filler}"}` : filler;
    return { payload, contentType: 'application/json', refusal: 'over the body limit', label: `${payload.length} bytes` };
  });
  if (op.body === undefined) {
    // No body is expected: whatever comes is ignored or refused, never a 500.
    return fc.oneof(
      CROSS_SHRINK,
      { weight: 6, arbitrary: fc.constant<BodyPart>({ label: 'no body' }) },
      {
        weight: 1,
        arbitrary: pollutingValue.map((value) => ({ payload: toJson(value), contentType: 'application/json', label: 'a JSON body' })),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom(...NOT_JSON).map((payload) => ({ payload, contentType: 'application/json', label: 'a non-JSON body' })),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(...WRONG_CONTENT_TYPES)
          .map((contentType) => ({ payload: 'x', contentType, label: 'an unexpected body' })),
      },
      { weight: 1, arbitrary: oversized.map(({ refusal: _, ...part }) => part) },
    );
  }
  const schema = op.body;
  const validate = reference.compile(schema);
  const asText = (payload: string, label: string): BodyPart => ({
    payload,
    contentType: 'application/json',
    refusal: refusalOf(payload, validate),
    label,
  });
  const asJson = (value: unknown, label: string) => asText(toJson(value), label);
  const valid = validArb(schema, fixtures.ids);
  const broken = valid.chain((base) =>
    fc
      .constantFrom(...sitesOf(base, schema))
      .chain((site) =>
        fc
          .oneof(...breakingArbs(site.schema, site.value, fixtures.ids))
          .map((bad) => asJson(replaceAt(base, site.path, bad), `broken at /${site.path.join('/')}`)),
      ),
  );
  const bytes = fc.tuple(valid, fc.constantFrom(...ODD_UTF8), fc.nat(), fc.boolean()).map(([value, odd, at, bom]): BodyPart => {
    const text = Buffer.from(toJson(value));
    const cut = at % (text.length + 1);
    const payload = Buffer.concat([
      Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []),
      text.subarray(0, cut),
      Buffer.from(odd),
      text.subarray(cut),
    ]);
    // The server decodes as TextDecoder does: a BOM dropped, a broken sequence as U+FFFD.
    return { ...asText(new TextDecoder().decode(payload), 'odd UTF-8 bytes'), payload };
  });
  const truncated = valid.chain((value) => {
    const text = toJson(value);
    return fc.nat(text.length - 1).map((cut) => asText(text.slice(0, cut), 'a truncated body'));
  });
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 2, arbitrary: valid.map((value) => asJson(value, 'a valid-ish body')) },
    { weight: 10, arbitrary: broken },
    { weight: 1, arbitrary: fc.constantFrom(...NOT_JSON).map((payload) => asText(payload, 'not JSON')) },
    { weight: 1, arbitrary: truncated },
    { weight: 1, arbitrary: bytes },
    { weight: 1, arbitrary: deepArb.map((raw) => asText(raw.text, raw.label)) },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom(...WRONG_CONTENT_TYPES, undefined)).map(([value, contentType]) => ({
        payload: toJson(value),
        ...(contentType === undefined ? {} : { contentType }),
        refusal: 'a content type other than JSON',
        label: `Content-Type ${JSON.stringify(contentType)}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...ODD_JSON_CONTENT_TYPES))
        .map(([value, contentType]) => ({ ...asJson(value, `Content-Type ${contentType}`), contentType })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          valid,
          fc.integer({ min: -1000, max: 1000 }).filter((delta) => delta !== 0),
        )
        .map(([value, delta]) => {
          const payload = toJson(value);
          const contentLength = String(Math.max(0, Buffer.byteLength(payload) + delta));
          return {
            payload,
            contentType: 'application/json',
            contentLength,
            refusal: 'a Content-Length that is not the body’s',
            label: `Content-Length ${contentLength}`,
          };
        }),
    },
    { weight: 1, arbitrary: oversized },
  );
}

const cursorOf = (key: unknown) => Buffer.from(typeof key === 'string' ? key : JSON.stringify(key)).toString('base64url');
/** Cursors no list issues, whatever its key's shape (one or two strings: UUIDs, timestamps, text). */
const BAD_CURSORS = [
  ...[
    '{}',
    '[]',
    'null',
    '1',
    '"x"',
    '[1]',
    '[null]',
    '[[]]',
    '["a","b","c"]',
    '["\\u0000"]',
    '["a\\u0000",""]',
    '[{"__proto__":1}]',
    'not json',
  ].map(cursorOf),
  '!!!',
  '%%%',
  ' ',
  '\u0000',
  'eyJ',
  '..',
  cursorOf('['.repeat(300) + ']'.repeat(300)).slice(0, 512),
];
/** Cursors of a shape some list issues, with odd parts. */
const ODD_CURSORS = [
  ['\ud800'],
  [''],
  ['%'],
  ['x'.repeat(300)],
  [UNKNOWN_ID.toUpperCase()],
  ['0000-01-01T00:00:00.000Z', UNKNOWN_ID],
  ['9999-12-31T23:59:59.999Z', UNKNOWN_ID],
  ['', UNKNOWN_ID],
  [UNKNOWN_ID, UNKNOWN_ID],
  ["'; --", UNKNOWN_ID],
].map(cursorOf);

const JUNK_QUERY = [
  '__proto__=1',
  `__proto__[${POLLUTED}]=yes`,
  `constructor[prototype][${POLLUTED}]=yes`,
  'constructor=x',
  'prototype=x',
  'hasOwnProperty=1',
  'toString=x',
  'valueOf=1',
  'a[b][c]=1',
  '[]=1',
  'limit[]=5',
  '%',
  '%zz=1',
  'q=%E0%A4%A',
  'q=%ED%A0%80',
  '&&&',
  '=',
  '==&=',
  ';a=1',
  'a=1;b=2',
  'x=%2',
  'a=b=c',
  '+=+',
  encode('ключ') + '=' + encode('значение'),
];

function queryArb(op: Operation, fixtures: Fixtures): fc.Arbitrary<TextPart> {
  const pair = (name: string, value: string) => `${encode(name)}=${encode(value)}`;
  const valid = fc.tuple(
    ...op.query.map((param) =>
      fc.option(
        validArb(param.schema, fixtures.ids).map((value) => pair(param.name, String(value))),
        { nil: undefined, freq: 2 },
      ),
    ),
  );
  const mutations: fc.Arbitrary<TextPart>[] = [
    fc.constantFrom(...JUNK_QUERY).map((text) => ({ text, label: `junk ${text}` })),
    fc.tuple(oddText(1, 12), oddText(0, 12)).map(([key, value]) => ({ text: pair(key, value), label: 'an unknown parameter' })),
    fc.integer({ min: 1000, max: 30_000 }).map((n) => ({ text: `junk=${'j'.repeat(n)}`, label: `a ${n}-character parameter` })),
    fc.constantFrom('q=%00', 'x%00=1', '%00=%00', 'a=%00b').map((text) => ({ text, refusal: 'U+0000 in the query', label: text })),
  ];
  for (const param of op.query) {
    const invalid =
      param.name === 'cursor' ? fc.oneof(invalidTextArb(param.schema)!, fc.constantFrom(...BAD_CURSORS)) : invalidTextArb(param.schema);
    if (invalid !== undefined) {
      mutations.push(
        invalid.map((value) => ({ text: pair(param.name, value), refusal: `${param.name} invalid`, label: `${param.name} invalid` })),
      );
    }
    const value = validArb(param.schema, fixtures.ids).map(String);
    // Repeated: an array where one value is expected.
    const repeated = `${param.name} repeated`;
    mutations.push(
      fc
        .tuple(value, value)
        .map(([a, b]) => ({ text: `${pair(param.name, a)}&${pair(param.name, b)}`, refusal: repeated, label: repeated })),
    );
    // Allowed, but odd: integers as the coercion reads them, cursors of a real shape with odd keys.
    const integers = fc.constantFrom('0x10', ' 7', '+7', '1e2', '5.0', '007');
    const odd = param.name === 'cursor' ? fc.constantFrom(...ODD_CURSORS) : param.schema.type === 'integer' ? integers : value;
    mutations.push(odd.map((text) => ({ text: pair(param.name, text), label: `${param.name} odd` })));
  }
  return fc.tuple(valid, fc.array(fc.oneof(...mutations), { maxLength: 2 })).map(([pairs, changes]) => ({
    text: [...pairs.filter((p) => p !== undefined), ...changes.map((change) => change.text)].join('&'),
    refusal: changes.find((change) => change.refusal !== undefined)?.refusal,
    label: changes.map((change) => change.label).join(', ') || 'a valid-ish query',
  }));
}

function pathArb(op: Operation, fixtures: Fixtures, hostile: boolean): fc.Arbitrary<TextPart> {
  const valid = uuidArb(fixtures.ids).map((id): Part & { segment: string } => ({ segment: encode(id), label: 'a valid-ish id' }));
  const invalid = fc
    .oneof(
      oddText(0, 40)
        .filter((text) => !isUuid(text))
        .map(encode),
      fc.constantFrom(
        '%00',
        '%E0',
        '%',
        '%zz',
        '..%2F..%2Fetc%2Fpasswd',
        encode(`${UNKNOWN_ID}\u0000`),
        `${UNKNOWN_ID}%20`,
        `%20${UNKNOWN_ID}`,
      ),
      fc.integer({ min: 101, max: 2000 }).map((n) => 'a'.repeat(n)),
      fc.constantFrom(...BAD_UUIDS).map(encode),
    )
    .map((segment) => ({
      segment,
      refusal: 'the id is not a UUID',
      label: `id ${segment.length > 60 ? `${segment.slice(0, 40)}…(${segment.length})` : segment}`,
    }));
  const segment = hostile ? fc.oneof(CROSS_SHRINK, { weight: 3, arbitrary: valid }, { weight: 1, arbitrary: invalid }) : valid;
  return fc.tuple(...op.path.map(() => segment)).map((segments) => ({
    text: op.path.reduce((path, param, index) => path.replace(`{${param.name}}`, segments[index]!.segment), op.template),
    refusal: segments.find((s) => s.refusal !== undefined)?.refusal,
    label: segments.map((s) => s.label).join(', '),
  }));
}

const JUNK_HEADERS: [string, string][] = [
  ['x-forwarded-for', '1.1.1.1, <script>, \u0000'],
  ['x-forwarded-proto', 'gopher'],
  ['x-forwarded-host', 'evil.example'],
  ['accept', 'application/xml'],
  ['accept', '*/*;q=2, \ud800'],
  ['accept-encoding', 'gzip;q=2, br, zstd, x'],
  ['accept-language', 'x'.repeat(5000)],
  ['x-csrf-token', 'junk'],
  ['x-request-id', '\u0000\n'],
  ['if-none-match', '*'],
  ['if-modified-since', 'yesterday'],
  ['range', 'bytes=0-0,-1'],
  ['origin', 'null'],
  ['x-http-method-override', 'DELETE'],
  ['content-encoding', 'gzip'],
  ['expect', '100-continue'],
  ['user-agent', '\u202e\u0001'],
  ['__proto__', `{"${POLLUTED}":"yes"}`],
  ['constructor', 'x'],
  ['prototype', 'x'],
  ['hasownproperty', 'x'],
  ['x-\ud800', 'x'],
];

function headersArb(op: Operation): fc.Arbitrary<HeaderPart> {
  const declared = op.headers.map((param): fc.Arbitrary<Part & { value?: string }> => {
    const invalid = invalidTextArb(param.schema);
    return fc.oneof(
      CROSS_SHRINK,
      { weight: 4, arbitrary: fc.constant({ label: '' }) },
      { weight: 1, arbitrary: validArb(param.schema, []).map((value) => ({ value: String(value), label: `${param.name} valid-ish` })) },
      ...(invalid === undefined
        ? []
        : [
            { weight: 2, arbitrary: invalid.map((value) => ({ value, refusal: `${param.name} invalid`, label: `${param.name} invalid` })) },
          ]),
    );
  });
  // A header of another route is sent too (Idempotency-Key where none is expected): it must be ignored.
  const stray = fc.option(fc.tuple(fc.constantFrom('idempotency-key'), oddText(0, 300)), { nil: undefined, freq: 4 });
  return fc.tuple(fc.tuple(...declared), fc.subarray(JUNK_HEADERS, { maxLength: 3 }), stray).map(([values, junk, strayHeader]) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of [...junk, ...(strayHeader === undefined || op.headers.length > 0 ? [] : [strayHeader])]) {
      Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
    }
    op.headers.forEach((param, index) => {
      if (values[index]!.value !== undefined) headers[param.name] = values[index]!.value!;
    });
    return {
      headers,
      refusal: values.find((v) => v.refusal !== undefined)?.refusal,
      label:
        [...values.map((v) => v.label), ...junk.map(([name]) => name), strayHeader ? 'a stray idempotency-key' : '']
          .filter(Boolean)
          .join(', ') || 'no odd headers',
    };
  });
}

function credentialsArb(): fc.Arbitrary<CredentialPart> {
  const flip = (token: string) => token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  const admin = fc.constantFrom<CredentialPart>(
    { kind: 'admin', label: 'Bearer <token>', headers: (t) => ({ authorization: `Bearer ${t}` }) },
    { kind: 'admin', label: 'bearer <token>', headers: (t) => ({ authorization: `bearer ${t}` }) },
    { kind: 'admin', label: 'BEARER   <token>  ', headers: (t) => ({ authorization: `BEARER   ${t}  ` }) },
    {
      kind: 'admin',
      label: 'Bearer <token> and a junk cookie',
      headers: (t) => ({ authorization: `Bearer ${t}`, cookie: `session=junk; __proto__=x; ${POLLUTED}=yes` }),
    },
  );
  const invalidAuthorization: [string, (t: string) => string | string[]][] = [
    ['Bearer <token with a character changed>', (t) => `Bearer ${flip(t)}`],
    ['Bearer <token>x', (t) => `Bearer ${t}x`],
    ['Bearer <token>\\u0000', (t) => `Bearer ${t}\u0000`],
    ['Bearer <token>\\n', (t) => `Bearer ${t}\n`],
    ['Bearer\\t<token>', (t) => `Bearer\t${t}`],
    ['Bearer <token> <token>', (t) => `Bearer ${t} ${t}`],
    ['Token <token>', (t) => `Token ${t}`],
    ['<token>', (t) => t],
    ['Basic <admin credentials>', () => `Basic ${Buffer.from(`${TEST_ADMIN.email}:${TEST_ADMIN.password}`).toString('base64')}`],
    ['Bearer sr_<unknown>', () => `Bearer sr_${'A'.repeat(43)}`],
    ['Bearer <100000 characters>', () => `Bearer ${'A'.repeat(100_000)}`],
    ['Bearer', () => 'Bearer'],
    ['Bearer ', () => 'Bearer '],
    ['(empty)', () => ''],
    ['Bearer __proto__', () => 'Bearer __proto__'],
    ['Bearer \\ud800', () => 'Bearer \ud800'],
    ['two Authorization headers', (t) => [`Bearer ${flip(t)}`, 'Bearer x']],
  ];
  const invalidCookie: [string, (t: string) => string][] = [
    ['session=junk', () => 'session=junk'],
    ['session=<token>x', (t) => `session=${t}x`],
    ['session=<token with a character changed>', (t) => `session=${flip(t)}`],
    ['session=__proto__', () => 'session=__proto__'],
    ['__proto__=<token>', (t) => `__proto__=${t}`],
    ['constructor=<token>', (t) => `constructor=${t}`],
    ['Session=<token>', (t) => `Session=${t}`],
    ['session="<token>"', (t) => `session="${t}"`],
    ['session=%E0%A4', () => 'session=%E0%A4'],
    ['session=', () => 'session='],
    ['; ; ;=', () => '; ; ;='],
    ['session=<8000 characters>', () => `session=${'x'.repeat(8000)}`],
    ['session=\\u0000', () => 'session=\u0000'],
  ];
  const csrf = (t: string) => csrfTokenFor(t);
  const badCsrf: [string, (t: string) => Record<string, string>][] = [
    ['no X-CSRF-Token', () => ({})],
    ['X-CSRF-Token empty', () => ({ 'x-csrf-token': '' })],
    ['X-CSRF-Token junk', () => ({ 'x-csrf-token': 'junk' })],
    ['X-CSRF-Token <session token>', (t) => ({ 'x-csrf-token': t })],
    ['X-CSRF-Token <csrf with a character changed>', (t) => ({ 'x-csrf-token': flip(csrf(t)) })],
    ['X-CSRF-Token <csrf>x', (t) => ({ 'x-csrf-token': `${csrf(t)}x` })],
    ['X-CSRF-Token <csrf of another session>', (t) => ({ 'x-csrf-token': csrf(flip(t)) })],
    ['X-CSRF-Token <csrf> uppercased', (t) => ({ 'x-csrf-token': csrf(t).toUpperCase() })],
  ];
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 10, arbitrary: admin },
    { weight: 1, arbitrary: fc.constant<CredentialPart>({ kind: 'none', label: 'no credentials', headers: () => ({}) }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...invalidAuthorization).map(([label, value]): CredentialPart => ({
        kind: 'invalid',
        label: `Authorization: ${label}`,
        headers: (t) => ({ authorization: value(t) }),
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...invalidCookie)
        .map(([label, value]): CredentialPart => ({ kind: 'invalid', label: `Cookie: ${label}`, headers: (t) => ({ cookie: value(t) }) })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...badCsrf).map(([label, headers]): CredentialPart => ({
        kind: 'cookie without csrf',
        label: `Cookie: session=<token>, ${label}`,
        headers: (t) => ({ cookie: `session=${t}`, ...headers(t) }),
      })),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// A request, and what it must be answered

interface Attempt {
  op: Operation;
  method: string;
  url: string;
  credentials: CredentialPart;
  headers: Record<string, string>;
  body: BodyPart;
  /** An exact status the contract prescribes, or why it must refuse (any 4xx), or neither. */
  expected: { status: number; why: string } | { refused: string } | undefined;
  label: string;
}

const shorten = (text: string, max = 300) => {
  const shown = JSON.stringify(text.length > max ? text.slice(0, max) : text);
  return text.length > max ? `${shown}…(${text.length} chars)` : shown;
};

/** The request as a reader can repeat it (the admin's token as <token>). */
function describeAttempt(attempt: Attempt): string {
  const headers = Object.entries(attempt.headers).map(([name, value]) => `${name}: ${shorten(value, 80)}`);
  const body = attempt.body.payload === undefined ? '' : ` body ${shorten(attempt.body.payload.toString('latin1'), 300)}`;
  const typed = attempt.body.contentType === undefined ? '' : ` content-type ${JSON.stringify(attempt.body.contentType)}`;
  const length = attempt.body.contentLength === undefined ? '' : ` content-length ${attempt.body.contentLength}`;
  const { expected } = attempt;
  const must =
    expected === undefined
      ? 'may succeed'
      : 'status' in expected
        ? `must be ${expected.status} (${expected.why})`
        : `must be refused (${expected.refused})`;
  const odd = headers.length === 0 ? '' : ` headers {${headers.join('; ')}}`;
  return `${attempt.method} ${shorten(attempt.url, 400)} [${attempt.credentials.label}]${typed}${length}${odd}${body} — ${attempt.label}; ${must}`;
}

function attemptArb(op: Operation, fixtures: Fixtures, otherMethods: Method[]): fc.Arbitrary<Attempt> {
  const wrongMethods = otherMethods.length === 0 ? [] : [{ weight: 1, arbitrary: fc.constantFrom(...otherMethods) }];
  const method = fc.oneof(CROSS_SHRINK, { weight: 15, arbitrary: fc.constant(op.method) }, ...wrongMethods);
  return fc
    .record({
      credentials: credentialsArb(),
      method,
      validPath: pathArb(op, fixtures, false),
      hostilePath: pathArb(op, fixtures, true),
      query: queryArb(op, fixtures),
      headers: headersArb(op),
      body: bodyArb(op, fixtures),
    })
    .map(({ credentials, method: chosen, validPath, hostilePath, query, headers, body }): Attempt => {
      // Only the admin's requests get hostile ids: routing, which comes before authentication, answers those.
      const path = credentials.kind === 'admin' ? hostilePath : validPath;
      const sent = path.refusal === undefined ? chosen : op.method;
      const unsafe = sent !== 'GET';
      const refusal = path.refusal ?? query.refusal ?? headers.refusal ?? body.refusal;
      let expected: Attempt['expected'] = refusal === undefined ? undefined : { refused: refusal };
      // No route: the answer is the not-found handler's, or a problem with the body's size (it is read, not parsed).
      if (sent !== op.method) expected = { refused: `no ${sent} route here` };
      else if (!op.isPublic && (credentials.kind === 'none' || credentials.kind === 'invalid'))
        expected = { status: 401, why: 'no valid credentials' };
      else if (!op.isPublic && credentials.kind === 'cookie without csrf' && unsafe)
        expected = { status: 403, why: 'a cookie without its CSRF token' };
      const attempt: Attempt = {
        op,
        method: sent,
        url: query.text === '' ? path.text : `${path.text}?${query.text}`,
        credentials,
        headers: headers.headers,
        body,
        expected,
        label: [path.label, query.label, headers.label, body.label].join('; '),
      };
      return Object.assign(attempt, { [fc.toStringMethod]: () => describeAttempt(attempt) });
    });
}

// ---------------------------------------------------------------------------------------------
// Checking an answer, the data and the prototypes

const LEAKS = [
  /\n\s+at /,
  /\bat [\w$.<>]+ \(/,
  /node_modules/,
  /\.(ts|js|mjs|cjs):\d+/,
  /\/(work|home|usr|tmp|src|var)\//,
  /\b(SELECT|INSERT INTO|DELETE FROM)\b/,
  /\bUPDATE \w+ SET\b/,
  /\b(relation|column) "[^"]+"/,
  /violates .* constraint/,
  /syntax error at or near/,
  /duplicate key value/,
  /invalid input syntax/,
  /out of range/,
  /\bpg_\w+/,
  /\b(TypeError|ReferenceError|RangeError|SyntaxError)\b/,
  /FST_ERR/,
];

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** An answer is below 500, and from 400 on a problem document that tells nothing of the inside. */
function checkAnswer(answer: Answer, request: string, where: string) {
  assert.ok(answer.status < 500, `a server error: ${where}`);
  if (answer.status < 400) return;
  assert.match(answer.contentType, /^application\/problem\+json/, `not a problem document: ${where}`);
  let problem: Record<string, unknown>;
  try {
    problem = JSON.parse(answer.body);
  } catch {
    assert.fail(`a problem document that is not JSON: ${where}`);
  }
  for (const member of ['type', 'title', 'detail', 'code']) assert.equal(typeof problem[member], 'string', `problem.${member}: ${where}`);
  assert.equal(problem.status, answer.status, `problem.status: ${where}`);
  assert.equal(
    ERROR_STATUS[problem.code as keyof typeof ERROR_STATUS],
    answer.status,
    `problem.code ${String(problem.code)} for ${answer.status}: ${where}`,
  );
  for (const leak of LEAKS) {
    const found = leak.exec(answer.body)?.[0];
    // What the request itself sent may be echoed; anything else of this kind comes from inside.
    assert.ok(found === undefined || request.includes(found), `the answer shows ${JSON.stringify(found)}: ${where}`);
  }
}

type Snapshot = Map<string, string[]>;

async function snapshotQuery(h: Harness): Promise<string> {
  const tables = await h.db.connection((db) =>
    db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`,
    ),
  );
  assert.ok(tables.length > 5, 'the tables of the schema');
  // last_used_at: authenticating records a credential's use (at most once a minute), as designed.
  // What background jobs change whatever the requests do is left out: the publisher numbers events
  // (their id, published_at, and the counter), and the webhook sender works through deliveries.
  const background: Record<string, string[] | 'all'> = {
    event_counter: 'all',
    events: ['id', 'published_at'],
    webhook_attempts: 'all',
    webhook_deliveries: ['status', 'attempts', 'next_attempt_at', 'updated_at'],
  };
  return (
    tables
      .filter(({ name }) => background[name] !== 'all')
      .map(({ name }) => {
        const left = ['last_used_at', ...((background[name] as string[] | undefined) ?? [])].map((key) => ` - '${key}'`).join('');
        return `SELECT '${name}' AS "table", (to_jsonb(r)${left})::text AS "row" FROM "${name}" r`;
      })
      .join(' UNION ALL ') + ' ORDER BY 1, 2'
  );
}

async function snapshot(h: Harness, query: string): Promise<Snapshot> {
  const rows = await h.db.connection((db) => db.query<{ table: string; row: string }>(query));
  const tables: Snapshot = new Map();
  for (const { table, row } of rows) tables.set(table, [...(tables.get(table) ?? []), row]);
  return tables;
}

/** The tables that differ, each with a row it lost or gained. */
function differences(before: Snapshot, after: Snapshot): Map<string, string> {
  const changed = new Map<string, string>();
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const was = before.get(table) ?? [];
    const is = after.get(table) ?? [];
    if (was.join('\n') === is.join('\n')) continue;
    const gone = was.find((row) => !is.includes(row));
    const added = is.find((row) => !was.includes(row));
    changed.set(
      table,
      `${was.length} → ${is.length} rows${gone ? `, lost ${shorten(gone, 200)}` : ''}${added ? `, gained ${shorten(added, 200)}` : ''}`,
    );
  }
  return changed;
}

const PROTOTYPES = [Object, Array, String, Number, Boolean, Function, RegExp, Date, Promise, Error, Map, Set].map(
  (type) => type.prototype as object,
);
const prototypeState = () =>
  PROTOTYPES.map(
    (prototype) => new Map(Reflect.ownKeys(prototype).map((key) => [key, Object.getOwnPropertyDescriptor(prototype, key)!.value])),
  );

function assertPrototypesIntact(baseline: ReturnType<typeof prototypeState>, where: string) {
  assert.equal(({} as Record<string, unknown>)[POLLUTED], undefined, `Object.prototype polluted: ${where}`);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined, `Object.prototype polluted: ${where}`);
  prototypeState().forEach((now, index) => {
    const was = baseline[index]!;
    const name = PROTOTYPES[index]!.constructor.name;
    assert.deepEqual(
      [...now.keys()].map(String).sort(),
      [...was.keys()].map(String).sort(),
      `${name}.prototype gained or lost keys: ${where}`,
    );
    for (const [key, value] of now) assert.ok(Object.is(value, was.get(key)), `${name}.prototype.${String(key)} changed: ${where}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Real HTTP: what app.inject can't send

interface RawRequest {
  label: string;
  bytes: Buffer;
  [fc.toStringMethod]?: () => string;
}

/** Sends raw bytes on a fresh connection; the answer, or undefined when the server just closes. */
function exchange(port: number, bytes: Buffer): Promise<Answer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error),
    );
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') return resolve(undefined);
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
      const contentType = /^content-type: *(.*)$/im.exec(head)?.[1] ?? '';
      let body = rest.join('\r\n\r\n');
      if (/^transfer-encoding: *chunked/im.test(head)) body = body.replace(/(^|\r\n)[0-9a-f]+\r\n/gi, '').replace(/\r\n$/, '');
      resolve({ status, contentType, body });
    });
    socket.end(bytes);
  });
}

function rawRequestArb(token: string): fc.Arbitrary<RawRequest> {
  /** A request line, the admin's credentials and `headers`, then `rest`: the blank line and a body. */
  const request = (label: string, line: string, headers: string[] = [], rest = '\r\n') => {
    const text = `${[line, 'Host: x', `Authorization: Bearer ${token}`, 'Connection: close', ...headers].join('\r\n')}\r\n${rest}`;
    return {
      label,
      bytes: Buffer.from(text, 'latin1'),
      [fc.toStringMethod]: () => `${label}: ${shorten(text.replaceAll(token, '<token>'), 300)}`,
    };
  };
  const movement = (label: string, key: string) =>
    request(
      label,
      'POST /api/v1/movements HTTP/1.1',
      ['Content-Type: application/json', `Idempotency-Key: ${key}`, 'Content-Length: 2'],
      '\r\n{}',
    );
  const me = 'GET /api/v1/me HTTP/1.1';
  const control = fc.constantFrom('\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001f', '\u007f', '\r', '\n');
  const framings: [string[], string][] = [
    [['Content-Length: 2', 'Transfer-Encoding: chunked'], '\r\n{}'],
    [['Content-Length: 2', 'Content-Length: 3'], '\r\n{}'],
    [['Content-Length: -2'], '\r\n{}'],
    [['Content-Length: 2x'], '\r\n{}'],
    [['Transfer-Encoding: chunked'], '\r\nzz\r\n{}\r\n0\r\n\r\n'],
    [['Transfer-Encoding: gzip, chunked'], '\r\n2\r\n{}\r\n0\r\n\r\n'],
    [['Transfer-Encoding: chunked'], '\r\n2\r\n{}'],
    [['Transfer-Encoding: chunked'], '\r\nffffffffffffffff\r\n{}\r\n0\r\n\r\n'],
  ];
  return fc.oneof(
    control.map((c) => movement('a control character in a header value', `a${c}b`)),
    control.map((c) => request('a control character in a header name', me, [`X-B${c}d: 1`])),
    fc.constantFrom('Bad Header', 'X(1)', ' Leading', 'Ü').map((name) => request('an invalid header name', me, [`${name}: 1`])),
    fc.integer({ min: 17_000, max: 80_000 }).map((n) => request(`a ${n}-byte header`, me, [`X-Junk: ${'a'.repeat(n)}`])),
    fc.integer({ min: 17_000, max: 80_000 }).map((n) => request(`a ${n}-byte URL`, `GET /api/v1/products?q=${'a'.repeat(n)} HTTP/1.1`)),
    fc.integer({ min: 17_000, max: 40_000 }).map((n) => movement(`a ${n}-byte Idempotency-Key`, 'k'.repeat(n))),
    fc
      .constantFrom(
        'GET /api/v1/me HTTP/1.1 extra',
        'GET /api/v1/me HTTP/9.9',
        'GET\t/api/v1/me HTTP/1.1',
        '\u0000GET /api/v1/me HTTP/1.1',
        'GET /api/v1/products?q=a b HTTP/1.1',
        'GET /api/v1/products/%E0 HTTP/1.1',
        `GET /api/v1/products/${'a'.repeat(150)} HTTP/1.1`,
        'GÉT /api/v1/me HTTP/1.1',
        'GET api/v1/me HTTP/1.1',
        'GET /api/v1/me\u0000 HTTP/1.1',
      )
      .map((line) => request('a malformed request line', line)),
    fc
      .constantFrom(...framings)
      .map(([headers, rest]) =>
        request(
          'conflicting or malformed framing',
          'POST /api/v1/categories HTTP/1.1',
          ['Content-Type: application/json', ...headers],
          rest,
        ),
      ),
  );
}

// ---------------------------------------------------------------------------------------------

describe('hostile requests to every route', () => {
  let h: Harness;
  let fixtures: Fixtures;
  let operations: Operation[];
  let tablesQuery: string;
  /** A session of the admin that POST /auth/logout may end; renewed when it does. */
  let logoutToken: string;
  let sessions = 0;
  /** The built-in prototypes once the app is loaded and running, before any hostile request. */
  let prototypes: ReturnType<typeof prototypeState>;

  async function newSession() {
    // From an address of its own: the fuzzed logins may have used up 127.0.0.1's attempts.
    sessions += 1;
    const response = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: TEST_ADMIN,
      remoteAddress: `10.99.${sessions >> 8}.${sessions & 255}`,
    });
    assert.equal(response.statusCode, 200, response.body);
    return JSON.parse(response.body).token as string;
  }

  before(async () => {
    h = await createHarness();
    tablesQuery = await snapshotQuery(h);
    const empty = await snapshot(h, tablesQuery);
    const category = await createCategory(h.app);
    const child = await createCategory(h.app, { parentId: category.id });
    const product = await createProduct(h.app, { categoryId: child.id });
    const [from, to] = [await createLocation(h.app), await createLocation(h.app, { allowNegative: true })];
    const movement = await stockUp(h.app, product.id, from.id, 10);
    const reservation = await api(h.app, 'POST', '/api/v1/reservations', {
      locationId: from.id,
      lines: [{ productId: product.id, quantity: 1 }],
    });
    assert.equal(reservation.status, 201, JSON.stringify(reservation.body));
    const victim = {
      email: 'victim@stockroom.test',
      name: 'Victim',
      role: 'clerk',
      locationIds: [from.id],
      password: 'a password of some length',
    };
    const user = await api(h.app, 'POST', '/api/v1/users', victim);
    assert.equal(user.status, 201, JSON.stringify(user.body));
    const token = await api(h.app, 'POST', '/api/v1/tokens', { name: 'fuzzed', role: 'viewer' });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    fixtures = {
      ids: [category.id, child.id, product.id, from.id, to.id, movement.id, reservation.body.id, user.body.id, token.body.id, UNKNOWN_ID],
      bodyLimit: h.config.bodyLimitBytes,
    };
    // The snapshot sees what the API writes (or the no-change checks below would be empty).
    const made = [...differences(empty, await snapshot(h, tablesQuery)).keys()];
    for (const table of [
      'categories',
      'products',
      'locations',
      'movements',
      'movement_lines',
      'stock_levels',
      'reservations',
      'reservation_lines',
      'users',
      'credentials',
    ]) {
      assert.ok(made.includes(table), `the snapshot misses ${table}: it saw ${made.join(', ')}`);
    }
    operations = operationsOf(h.app);
    logoutToken = await newSession();
    prototypes = prototypeState();
  });
  after(() => h?.close());

  it('finds every route of the API in the app', () => {
    assert.ok(operations.length >= 25, `only ${operations.length} operations`);
    for (const op of operations) {
      assert.ok(h.app.hasRoute({ method: op.method, url: op.template.replace(/\{(\w+)\}/g, ':$1') }), `${op.method} ${op.template}`);
    }
    assert.ok(
      operations.some((op) => op.body !== undefined) &&
        operations.some((op) => op.query.length > 0) &&
        operations.some((op) => op.headers.length > 0),
    );
  });

  /** Sends one attempt and holds its answer, the data and the prototypes to the contract. */
  async function exercise(attempt: Attempt) {
    const token = isLogout(attempt.op) ? logoutToken : h.token;
    const headers: Record<string, string | string[]> = { ...attempt.headers };
    if (attempt.body.contentType !== undefined) headers['content-type'] = attempt.body.contentType;
    if (attempt.body.contentLength !== undefined) headers['content-length'] = attempt.body.contentLength;
    Object.assign(headers, attempt.credentials.headers(token));

    const before = await snapshot(h, tablesQuery);
    const payload = attempt.body.payload === undefined ? {} : { payload: attempt.body.payload };
    // An event stream never ends: its answer is taken as soon as its head has come.
    const streaming = attempt.method === 'GET' && attempt.op.template === '/api/v1/events';
    const response = await h.app.inject({
      method: attempt.method as Method,
      url: attempt.url,
      headers,
      ...payload,
      payloadAsStream: streaming,
    });
    let body = '';
    if (!streaming) body = response.body;
    else if (response.statusCode === 200) response.stream().destroy();
    else for await (const chunk of response.stream()) body += String(chunk);
    const after = await snapshot(h, tablesQuery);

    const status = response.statusCode;
    const where = `${describeAttempt(attempt)}\n  → ${status} ${shorten(body, 500)}`;
    const sent = [attempt.url, ...Object.values(headers).flat(), attempt.body.payload?.toString() ?? ''].join('\n');
    const contentType = String(response.headers['content-type'] ?? '');
    if (streaming && status === 200) assert.match(contentType, /^text\/event-stream/, where);
    checkAnswer({ status, contentType, body }, sent, where);
    if (attempt.expected !== undefined && 'status' in attempt.expected) {
      assert.equal(status, attempt.expected.status, `expected ${attempt.expected.status} (${attempt.expected.why}): ${where}`);
    } else if (attempt.expected !== undefined) {
      assert.ok(status >= 400 && status < 500, `accepted a request the contract refuses (${attempt.expected.refused}): ${where}`);
    }

    const changed = differences(before, after);
    if (status < 300 && attempt.method !== 'GET') {
      if (isLogout(attempt.op)) logoutToken = await newSession();
    } else {
      // A refused login, and a password change with a wrong current password, are counted against
      // the account and address: the throttle's memory, not data. Any other refusal counts nothing.
      const wrongCurrentPassword =
        isChangeOfMe(attempt.op) && status === 422 && /"path":"\/currentPassword","message":"is not your current password"/.test(body);
      if ((isLogin(attempt.op) && (status === 401 || status === 429)) || wrongCurrentPassword) changed.delete('login_attempts');
      assert.deepEqual(Object.fromEntries(changed), {}, `a ${status} answer changed data: ${where}`);
    }
    assertPrototypesIntact(prototypes, where);
  }

  it('answers every hostile request below 500, with a problem document, and a refusal changes nothing', async (t) => {
    const chosen = operations.filter((op) => ROUTE === undefined || `${op.method} ${op.template}` === ROUTE);
    assert.ok(chosen.length > 0, `FUZZ_ROUTE=${ROUTE} is none of the routes`);
    for (const op of chosen) {
      const otherMethods = METHODS.filter(
        (method) => !operations.some((other) => other.template === op.template && other.method === method),
      );
      await t.test(`${op.method} ${op.template}`, async () => {
        await fc.assert(fc.asyncProperty(attemptArb(op, fixtures, otherMethods), exercise), {
          numRuns: RUNS,
          includeErrorInReport: true,
          ...SEED,
        });
      });
    }
  });

  it('answers malformed HTTP with a problem document over a real connection, and changes nothing', async () => {
    const port = Number(new URL(await listen(h.app)).port);
    await fc.assert(
      fc.asyncProperty(rawRequestArb(h.token), async (raw) => {
        const before = await snapshot(h, tablesQuery);
        const answer = await exchange(port, raw.bytes);
        const answered =
          answer === undefined ? 'closed without an answer' : `${answer.status} ${answer.contentType} ${shorten(answer.body, 300)}`;
        const where = `${raw[fc.toStringMethod]?.() ?? raw.label}\n  → ${answered}`;
        if (answer !== undefined) {
          checkAnswer(answer, raw.bytes.toString('latin1'), where);
          assert.ok(answer.status >= 400, `accepted a malformed request: ${where}`);
        }
        assert.deepEqual(
          Object.fromEntries(differences(before, await snapshot(h, tablesQuery))),
          {},
          `a malformed request changed data: ${where}`,
        );
        assertPrototypesIntact(prototypes, where);
      }),
      { numRuns: Math.max(20, Math.round(RUNS / 2)), includeErrorInReport: true, ...SEED },
    );
  });
});
