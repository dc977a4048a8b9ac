import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.ts';

// What a JSON body may cost before anyone has looked at it. A body's bytes are bounded
// (BODY_LIMIT_BYTES), but within a megabyte its cost depends on its shape. 350,000 empty objects,
// 500,000 numbers or 100,000 distinct keys took JSON.parse 10–120 ms, the text guard's walk
// 100–260 ms, Ajv (allErrors) 60–140 ms for one error object per item, and Fastify's message
// naming every error 170–260 ms: 0.3–1 s of the event loop for one request, anonymous at the
// login or at a path no route serves (measured: bench/body-cost.ts). So, before JSON.parse:
//
// - a route anyone may call (`config.access: 'public'`: login) takes a body of a few KiB at most;
// - every body is counted in one linear pass over its text, and one holding more values, or
//   nested deeper, than any request the schemas admit is refused with 413: the cost of all that
//   follows (parse, guard, validation, errors) is bounded by these counts, not by the bytes;
// - a request no route serves is answered 404 without its body being parsed.

/** Every public route's body limit: a login (email 254, password 256 characters) takes under 2 KiB of UTF-8. */
export const PUBLIC_BODY_LIMIT_BYTES = 4096;
/**
 * Values a body may hold, counted from above (each `{`, `[` and `,` outside strings counts one):
 * twice the largest request the schemas admit, a movement of 1000 lines of four fields (5,007).
 */
export const JSON_VALUES_MAX = 10_000;
/** Nesting a body may have; the deepest request (a movement's line) is three levels deep. */
export const JSON_DEPTH_MAX = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Where the string opened at `start` ends: its next quote not escaped by an odd run of backslashes. */
function endOfString(text: string, start: number): number {
  let end = start;
  for (;;) {
    end = text.indexOf('"', end + 1);
    if (end === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return end;
  }
}

/**
 * What, if anything, makes this JSON text too costly to parse: more than JSON_VALUES_MAX values
 * or nesting deeper than JSON_DEPTH_MAX. Strings are skipped whole, so a long one is one value.
 * Malformed text is counted as well as it can be; JSON.parse refuses it afterwards.
 */
function excessOf(text: string): string | undefined {
  let values = 0;
  let depth = 0;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (char === QUOTE) {
      const end = endOfString(text, index);
      if (end === -1) return undefined; // unterminated: JSON.parse refuses it
      index = end;
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      values += 1;
      depth += 1;
      if (depth > JSON_DEPTH_MAX) return `the body is nested deeper than ${JSON_DEPTH_MAX} levels`;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth -= 1;
    } else if (char === COMMA) {
      // Every member or item after a container's first comes after a comma.
      values += 1;
    }
    if (values > JSON_VALUES_MAX) return `the body holds more than ${JSON_VALUES_MAX} JSON values`;
  }
  return undefined;
}

export const jsonBody = fp(
  async (app: FastifyInstance) => {
    // The API speaks JSON only; any other body type is a 400 (API.md), not a string to validate.
    app.removeContentTypeParser('text/plain');

    // Routes registered after this plugin (the whole API) and declared public get the small limit.
    const serverBodyLimitBytes = app.initialConfig.bodyLimit ?? PUBLIC_BODY_LIMIT_BYTES;
    app.addHook('onRoute', (route) => {
      if (route.config?.access === 'public') {
        route.bodyLimit = Math.min(route.bodyLimit ?? serverBodyLimitBytes, PUBLIC_BODY_LIMIT_BYTES);
      }
    });

    // Fastify's own parser (secure-json-parse: prototype-poisoning keys are a 400), behind the counts.
    const parse = app.getDefaultJsonParser('error', 'error');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (request.is404) {
        done(null, undefined);
        return;
      }
      const excess = excessOf(body as string);
      if (excess !== undefined) {
        done(new AppError('payload_too_large', `${excess}, more than any request needs`), undefined);
        return;
      }
      void parse(request, body as string, done);
    });
  },
  { name: 'json-body' },
);
