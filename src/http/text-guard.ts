import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { validationFailed } from '../domain/errors.ts';

// PostgreSQL text can't hold U+0000, and a NUL that reached the database would fail there as an
// untranslated error. Refused here, for every route at once, as a validation error naming where.

const DEPTH_MAX = 64;

function pathOfNul(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > DEPTH_MAX) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const itemPath = `${path}/${key}`;
    if (key.includes('\u0000')) return itemPath;
    const found = pathOfNul(item, itemPath, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

export const textGuard = fp(
  async (app: FastifyInstance) => {
    app.addHook('preValidation', async (request) => {
      const path = pathOfNul(request.body, '', 0) ?? pathOfNul(request.query, '', 0);
      if (path !== undefined) throw validationFailed(path === '' ? '/' : path, 'must not contain the NUL character (U+0000)');
    });
  },
  { name: 'text-guard' },
);
