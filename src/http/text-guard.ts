import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { validationFailed } from '../domain/errors.ts';

// PostgreSQL text can't hold U+0000, nor a lone UTF-16 surrogate (half of a character, which has
// no UTF-8 form; PGlite even miscounts its bytes), and either would fail in the database as an
// untranslated error. Refused here, for every route at once, as a validation error naming where.

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const DEPTH_MAX = 64;

function pathOfUnstorable(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > DEPTH_MAX) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = `${path}/${key}`;
    if (UNSTORABLE.test(key)) return itemPath;
    const found = pathOfUnstorable(item, itemPath, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const textGuard = fp(
  async (app: FastifyInstance) => {
    app.addHook('preValidation', async (request) => {
      const path = pathOfUnstorable(request.body, '', 0) ?? pathOfUnstorable(request.query, '', 0);
      if (path !== undefined) throw validationFailed(path === '' ? '/' : path, 'must be text PostgreSQL can store: no NUL character (U+0000) and no lone surrogate');
    });
  },
  { name: 'text-guard' },
);
