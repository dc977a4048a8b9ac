import assert from 'node:assert/strict';

// A small builder of a statement's parameters, numbered in order, and of the WHERE clause of list
// queries, where each filter adds a condition and its parameter. Values only ever travel as
// parameters, never as SQL text.
export class Conditions {
  readonly params: unknown[] = [];
  readonly #clauses: string[] = [];

  /** Adds a parameter and returns its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds `clause`, where `$?` stands for each of `values` in turn. */
  add(clause: string, ...values: unknown[]): this {
    let next = 0;
    this.#clauses.push(clause.replace(/\$\?/g, () => this.param(values[next++])));
    return this;
  }

  where(): string {
    return this.#clauses.length === 0 ? '' : `WHERE ${this.#clauses.join(' AND ')}`;
  }
}

/** A column a partial update may set, and the type its parameter is read as. */
export type SettableColumn = readonly [column: string, type: string];

/**
 * The SET list of a partial update, one statement text whatever is given (each text is a prepared
 * statement on PostgreSQL: src/db/postgres.ts): every column takes its parameter when its field is
 * given, a given null clearing it, and keeps its value when the field is undefined. `updated_at`
 * is always set.
 */
export function partialSet<Changes extends object>(
  sql: Conditions,
  changes: Changes,
  columns: { readonly [Field in keyof Changes]-?: SettableColumn },
): string {
  const assignments = (Object.keys(columns) as (keyof Changes)[]).map((field) => {
    const [column, type] = columns[field];
    const value = changes[field];
    return `${column} = CASE WHEN ${sql.param(value !== undefined)}::boolean THEN ${sql.param(value ?? null)}::${type} ELSE ${column} END`;
  });
  return [...assignments, `updated_at = date_trunc('milliseconds', now())`].join(',\n       ');
}

/** The one row a statement must give back (an INSERT … RETURNING, an aggregate): anything else is a bug. */
export function onlyRow<Row>(rows: readonly Row[], statement: string): Row {
  assert.equal(rows.length, 1, `${statement} gives back one row`);
  return rows[0] as Row;
}
