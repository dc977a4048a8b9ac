import * as categories from '../db/categories.ts';
import { readPage, type Keyset, type PageQuery } from '../domain/cursor.ts';
import { AppError, notFound, validationFailed } from '../domain/errors.ts';
import { uuidv7 } from '../domain/ids.ts';
import { inTransaction, reading, type UseCaseContext } from './context.ts';

export interface CategoryInput {
  name: string;
  parentId?: string | null | undefined;
}

const presentCategory = (row: categories.CategoryRow) => ({
  id: row.id,
  name: row.name,
  parentId: row.parentId,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

/** By name (case-insensitively), then id. */
const BY_NAME: Keyset<categories.CategoryRow & { sortKey: string }, readonly ['string', 'uuid']> = {
  shape: ['string', 'uuid'],
  keyOf: (row) => [row.sortKey, row.id],
};

export async function createCategory(ctx: UseCaseContext, input: CategoryInput) {
  const row = await inTransaction(ctx, (tx) =>
    categories.insertCategory(tx, { id: uuidv7(), name: input.name.trim(), parentId: input.parentId ?? null }),
  );
  return presentCategory(row);
}

export async function getCategory(ctx: UseCaseContext, id: string) {
  const row = await reading(ctx, (db) => categories.findCategory(db, id));
  if (row === undefined) throw notFound('category', id);
  return presentCategory(row);
}

export function listCategories(ctx: UseCaseContext, query: PageQuery & { parentId?: string | undefined }) {
  return readPage(
    query,
    BY_NAME,
    (after) => reading(ctx, (db) => categories.listCategories(db, { parentId: query.parentId, after, limit: query.limit })),
    presentCategory,
  );
}

export async function updateCategory(ctx: UseCaseContext, id: string, changes: Partial<CategoryInput>) {
  const row = await inTransaction(ctx, async (tx) => {
    if (changes.parentId !== undefined && changes.parentId !== null) {
      await categories.lockTreeForMove(tx);
      if (await categories.isSelfOrDescendant(tx, id, changes.parentId)) {
        const message = 'a category cannot be moved under itself or one of its subcategories';
        throw validationFailed([{ path: '/parentId', message }], message);
      }
    }
    return categories.updateCategory(tx, id, { name: changes.name?.trim(), parentId: changes.parentId });
  });
  if (row === undefined) throw notFound('category', id);
  return presentCategory(row);
}

export async function deleteCategory(ctx: UseCaseContext, id: string) {
  await inTransaction(ctx, async (tx) => {
    const contents = await categories.countCategoryContents(tx, id);
    if (contents.products > 0 || contents.children > 0) {
      throw new AppError(
        'conflict',
        `the category still holds ${contents.products} product(s) and ${contents.children} subcategory(ies); move or delete them first`,
      );
    }
    if (!(await categories.deleteCategory(tx, id))) throw notFound('category', id);
  });
}
