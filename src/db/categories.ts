import type { Queryable } from './database.ts';
import { Conditions } from './sql.ts';

export interface CategoryRow {
  id: string;
  name: string;
  parentId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, name, parent_id AS "parentId", created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function insertCategory(db: Queryable, category: { id: string; name: string; parentId: string | null }) {
  const rows = await db.query<CategoryRow>(
    `INSERT INTO categories (id, name, parent_id) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
    [category.id, category.name, category.parentId],
  );
  return rows[0]!;
}

export async function findCategory(db: Queryable, id: string): Promise<CategoryRow | undefined> {
  const rows = await db.query<CategoryRow>(`SELECT ${COLUMNS} FROM categories WHERE id = $1`, [id]);
  return rows[0];
}

export async function listCategories(
  db: Queryable,
  filter: { parentId?: string | null | undefined; after?: [string, string] | undefined; limit: number },
): Promise<(CategoryRow & { sortKey: string })[]> {
  const where = new Conditions();
  if (filter.parentId === null) where.add('parent_id IS NULL');
  else if (filter.parentId !== undefined) where.add('parent_id = $?', filter.parentId);
  if (filter.after !== undefined) where.add('(lower(name), id) > ($?, $?)', ...filter.after);
  return db.query(
    `SELECT ${COLUMNS}, lower(name) AS "sortKey" FROM categories ${where.where()} ORDER BY lower(name), id LIMIT ${where.param(filter.limit + 1)}`,
    where.params,
  );
}

export async function updateCategory(
  db: Queryable,
  id: string,
  changes: { name?: string | undefined; parentId?: string | null | undefined },
): Promise<CategoryRow | undefined> {
  const rows = await db.query<CategoryRow>(
    `UPDATE categories SET
       name = coalesce($2, name),
       parent_id = CASE WHEN $3 THEN $4::uuid ELSE parent_id END,
       updated_at = date_trunc('milliseconds', now())
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.name ?? null, changes.parentId !== undefined, changes.parentId ?? null],
  );
  return rows[0];
}

/**
 * Serialises moves in the category tree: two moves checked at the same time (A under B, B under
 * A) could otherwise both pass the cycle check. Moves are rare; the lock lasts one transaction.
 */
export async function lockTreeForMove(db: Queryable): Promise<void> {
  await db.query('LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE');
}

/** True when `candidateId` is `id` itself or one of its descendants (a parent there makes a cycle). */
export async function isSelfOrDescendant(db: Queryable, id: string, candidateId: string): Promise<boolean> {
  const rows = await db.query<{ found: boolean }>(
    `WITH RECURSIVE tree AS (
       SELECT id FROM categories WHERE id = $1
       UNION
       SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
     )
     SELECT EXISTS (SELECT 1 FROM tree WHERE id = $2) AS found`,
    [id, candidateId],
  );
  return rows[0]!.found;
}

/** What still belongs to a category: a category with either can't be deleted. */
export async function countCategoryContents(db: Queryable, id: string) {
  const rows = await db.query<{ products: number; children: number }>(
    `SELECT (SELECT count(*)::int FROM products WHERE category_id = $1) AS products,
            (SELECT count(*)::int FROM categories WHERE parent_id = $1) AS children`,
    [id],
  );
  return rows[0]!;
}

export async function deleteCategory(db: Queryable, id: string): Promise<boolean> {
  const rows = await db.query(`DELETE FROM categories WHERE id = $1 RETURNING id`, [id]);
  return rows.length === 1;
}
