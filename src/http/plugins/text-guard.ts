import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { validationFailed } from '../../domain/errors.ts';

// PostgreSQL text can't hold U+0000, nor a lone UTF-16 surrogate (half of a character, which has
// no UTF-8 form; PGlite even miscounts its bytes), and either would fail in the database as an
// untranslated error. Refused here, for every route at once, as a validation error naming where.
//
// So is a string longer than any field takes. Validation runs every keyword on a string, its
// pattern and format too even past its maxLength (Ajv with allErrors), and ajv-formats' date-time
// splits its input at every "t" or space: a 1 MiB "t t t …" in a token's expiresAt cost 100 ms.
// Refused here, first, no pattern or format ever sees more than STRING_LENGTH_MAX.

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Twice the longest field (a product's description, 4000 characters), in UTF-16 units: each of them takes any string it admits. */
export const STRING_LENGTH_MAX = 8192;

const DEPTH_MAX = 64;

type Finding = { path: string; message: string };

const UNSTORABLE_MESSAGE = 'must be text PostgreSQL can store: no NUL character (U+0000) and no lone surrogate';
const TOO_LONG_MESSAGE = `is longer than any field takes (${STRING_LENGTH_MAX} characters)`;

function problemOfText(text: string): string | undefined {
  if (text.length > STRING_LENGTH_MAX) return TOO_LONG_MESSAGE;
  return UNSTORABLE.test(text) ? UNSTORABLE_MESSAGE : undefined;
}

/** The first string (value or key) the database can't take, and where; the path is built only for it. */
function findUnstorable(value: unknown, depth: number): Finding | undefined {
  if (typeof value === 'string') {
    const message = problemOfText(value);
    return message === undefined ? undefined : { path: '', message };
  }
  if (value === null || typeof value !== 'object' || depth > DEPTH_MAX) return undefined;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index += 1) {
      const found = findUnstorable(value[index], depth + 1);
      if (found !== undefined) return { path: `/${index}${found.path}`, message: found.message };
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const keyMessage = problemOfText(key);
    // A key past the length is named by its start: the answer need not echo a megabyte.
    if (keyMessage !== undefined)
      return { path: `/${keyMessage === TOO_LONG_MESSAGE ? `${key.slice(0, 64)}…` : key}`, message: keyMessage };
    const found = findUnstorable((value as Record<string, unknown>)[key], depth + 1);
    if (found !== undefined) return { path: `/${key}${found.path}`, message: found.message };
  }
  return undefined;
}

export const textGuard = fp(
  async (app: FastifyInstance) => {
    app.addHook('preValidation', async (request) => {
      const found = findUnstorable(request.body, 0) ?? findUnstorable(request.query, 0);
      if (found !== undefined)
        throw validationFailed([{ path: found.path === '' ? '/' : found.path, message: found.message }], found.message);
    });
  },
  { name: 'text-guard' },
);
