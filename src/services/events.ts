import type { Transaction } from '../db/database.ts';
import * as events from '../db/events.ts';
import { mergeLevelChanges, type LevelChange, type NewEvent } from '../domain/events.ts';
import type { UseCaseContext } from './context.ts';

// Every change writes its events in its own transaction (API.md, Events): never an event for a
// change that rolled back, nor a change without its events. The steps of one transaction — a
// fulfil releases its hold, then records its outbound through the movement use case — each add
// what they did to the transaction's batch, which is written once, just before COMMIT, with one
// stock.changed per level whatever the number of steps that touched it.

class EventBatch {
  readonly events: NewEvent[] = [];
  readonly levels: LevelChange[] = [];

  add(event: NewEvent): this {
    this.events.push(event);
    return this;
  }

  /** Levels changed by this step: each change's deltas and the balance it left. */
  changed(...levels: LevelChange[]): this {
    this.levels.push(...levels);
    return this;
  }
}

const batches = new WeakMap<Transaction, EventBatch>();

/**
 * The events of the transaction `tx`, written just before it commits; once it has, the instance's
 * event feed (`ctx.events`) is told, so that they are published at once rather than at its next poll.
 */
export function eventsOf(ctx: Pick<UseCaseContext, 'events'>, tx: Transaction): EventBatch {
  let batch = batches.get(tx);
  if (batch === undefined) {
    const created = new EventBatch();
    batch = created;
    batches.set(tx, created);
    tx.beforeCommit(async () => {
      if (created.events.length > 0 || created.levels.length > 0) {
        await events.insertEvents(tx, created.events, mergeLevelChanges(created.levels));
      }
    });
    const feed = ctx.events;
    if (feed !== undefined) tx.afterCommit(() => feed.written());
  }
  return batch;
}
