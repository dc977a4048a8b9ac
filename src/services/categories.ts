import * as categories from '../db/categories.ts';
import { decodeCursor, pageOf } from '../domain/cursor.ts';
import { AppError, notFound, validationFailed } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import type { UseCaseContext } from './context.ts';

export interface CategoryInput {
  name: string;
  parentId?: string | null | undefined;
}

const present = (row: categories.CategoryRow) => ({
  id: row.id,
  name: row.name,
  parentId: row.parentId,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

export async function createCategory(ctx: UseCaseContext, input: CategoryInput) {
  const row = await ctx.db.transaction(
    (tx) => categories.insertCategory(tx, { id: uuidv7(), name: input.name.trim(), parentId: input.parentId ?? null }),
    { signal: ctx.signal },
  );
  return present(row);
}

export async function getCategory(ctx: UseCaseContext, id: string) {
  const row = await ctx.db.connection((db) => categories.findCategory(db, id), { signal: ctx.signal });
  if (row === undefined) throw notFound('category', id);
  return present(row);
}

export async function listCategories(
  ctx: UseCaseContext,
  query: { parentId?: string | undefined; limit: number; cursor?: string | undefined },
) {
  const after = query.cursor === undefined ? undefined : (decodeCursor(query.cursor, ['string', 'uuid']) as [string, string]);
  const rows = await ctx.db.connection(
    (db) => categories.listCategories(db, { parentId: query.parentId, after, limit: query.limit }),
    { signal: ctx.signal },
  );
  const page = pageOf(rows, query.limit, (row) => [row.sortKey, row.id]);
  return { items: page.items.map(present), nextCursor: page.nextCursor };
}

export async function updateCategory(ctx: UseCaseContext, id: string, changes: Partial<CategoryInput>) {
  const row = await ctx.db.transaction(
    async (tx) => {
      if (changes.parentId !== undefined && changes.parentId !== null) {
        await categories.lockTreeForMove(tx);
        if (await categories.isSelfOrDescendant(tx, id, changes.parentId)) {
          throw validationFailed('/parentId', 'a category cannot be moved under itself or one of its subcategories');
        }
      }
      return categories.updateCategory(tx, id, { name: changes.name?.trim(), parentId: changes.parentId });
    },
    { signal: ctx.signal },
  );
  if (row === undefined) throw notFound('category', id);
  return present(row);
}

export async function deleteCategory(ctx: UseCaseContext, id: string) {
  await ctx.db.transaction(
    async (tx) => {
      const contents = await categories.countCategoryContents(tx, id);
      if (contents.products > 0 || contents.children > 0) {
        throw new AppError(
          'conflict',
          `the category still holds ${contents.products} product(s) and ${contents.children} subcategory(ies); move or delete them first`,
        );
      }
      if (!(await categories.deleteCategory(tx, id))) throw notFound('category', id);
    },
    { signal: ctx.signal },
  );
}
