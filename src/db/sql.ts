// A small builder for the WHERE clause of list queries: each filter adds a condition and its
// parameter, numbered in order. Values only ever travel as parameters, never as SQL text.
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
