import type { Queryable, Transaction } from './database.ts';
import type { ConstraintMessages } from './errors.ts';
import { Conditions, onlyRow, partialSet, type SettableColumn } from './sql.ts';

/** What a client is told when a write breaks one of the table's constraints (src/db/errors.ts). */
export const CATEGORY_CONSTRAINTS: ConstraintMessages = {
  categories_parent_name_key: 'a category with this name already exists under the same parent',
};

export interface CategoryRow {
  id: string;
  name: string;
  parentId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, name, parent_id AS "parentId", created_at AS "createdAt", updated_at AS "updatedAt"`;

export async function insertCategory(
  tx: Transaction,
  category: { id: string; name: string; parentId: string | null },
): Promise<CategoryRow> {
  const rows = await tx.query<CategoryRow>(`INSERT INTO categories (id, name, parent_id) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [
    category.id,
    category.name,
    category.parentId,
  ]);
  return onlyRow(rows, 'INSERT INTO categories');
}

export async function findCategory(db: Queryable, id: string): Promise<CategoryRow | undefined> {
  const rows = await db.query<CategoryRow>(`SELECT ${COLUMNS} FROM categories WHERE id = $1`, [id]);
  return rows[0];
}

export async function listCategories(
  db: Queryable,
  filter: {
    parentId?: string | null | undefined;
    /** The key of the last row of the previous page: its lower-cased name and its id. */
    after?: [name: string, id: string] | undefined;
    limit: number;
  },
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

export interface CategoryChanges {
  name?: string | undefined;
  parentId?: string | null | undefined;
}

const SETTABLE: { readonly [Field in keyof CategoryChanges]-?: SettableColumn } = {
  name: ['name', 'text'],
  parentId: ['parent_id', 'uuid'],
};

/** Sets the given fields; undefined when there is no such category. A new parent needs `lockTreeForMove` first. */
export async function updateCategory(tx: Transaction, id: string, changes: CategoryChanges): Promise<CategoryRow | undefined> {
  const sql = new Conditions();
  const rows = await tx.query<CategoryRow>(
    `UPDATE categories SET ${partialSet(sql, changes, SETTABLE)} WHERE id = ${sql.param(id)} RETURNING ${COLUMNS}`,
    sql.params,
  );
  return rows[0];
}

/**
 * Serialises moves in the category tree: two moves checked at the same time (A under B, B under
 * A) could otherwise both pass the cycle check. Moves are rare; the lock lasts one transaction.
 */
export async function lockTreeForMove(tx: Transaction): Promise<void> {
  await tx.query('LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE');
}

/** True when `candidateId` is `id` itself or one of its descendants (a parent there makes a cycle). */
export async function isSelfOrDescendant(tx: Transaction, id: string, candidateId: string): Promise<boolean> {
  const rows = await tx.query<{ found: boolean }>(
    `WITH RECURSIVE tree AS (
       SELECT id FROM categories WHERE id = $1
       UNION
       SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id
     )
     SELECT EXISTS (SELECT 1 FROM tree WHERE id = $2) AS found`,
    [id, candidateId],
  );
  return onlyRow(rows, 'a search of the category tree').found;
}

/** What still belongs to a category: a category with either can't be deleted. */
export async function countCategoryContents(db: Queryable, id: string): Promise<{ products: number; children: number }> {
  const rows = await db.query<{ products: number; children: number }>(
    `SELECT (SELECT count(*)::int FROM products WHERE category_id = $1) AS products,
            (SELECT count(*)::int FROM categories WHERE parent_id = $1) AS children`,
    [id],
  );
  return onlyRow(rows, 'a count of what a category holds');
}

export async function deleteCategory(tx: Transaction, id: string): Promise<boolean> {
  const rows = await tx.query(`DELETE FROM categories WHERE id = $1 RETURNING id`, [id]);
  return rows.length === 1;
}
