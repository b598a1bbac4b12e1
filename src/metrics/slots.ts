/**
 * The flush protocol between metrics and the line that writes them; not part of the public API.
 *
 * A flush takes each counter's delta (moving it to "in flight"), writes the whole line, and then
 * commits the amounts it took, or rolls them back if the write failed. Increments that land in
 * between are untouched, and a counter read at any moment is the same whatever state a line is in.
 */
import type { IncMetric, StoreMetric } from './metric.js';
import type { U64 } from './u64.js';

export const TAKE = Symbol('take');
export const COMMIT = Symbol('commit');
export const ROLLBACK = Symbol('rollback');
export const PEEK = Symbol('peek');

/** A counter as the flush protocol sees it. */
export interface DeltaSlot extends IncMetric {
  /** Moves the current delta in flight and returns it. */
  [TAKE](): U64;
  /** The line carrying `amount` was written: it now counts as flushed. */
  [COMMIT](amount: U64): void;
  /** The line carrying `amount` failed: it becomes part of the next delta again. */
  [ROLLBACK](amount: U64): void;
  /** The current delta, in flight or not, without changing anything. */
  [PEEK](): U64;
}

/** A store as the flush protocol sees it. */
export interface ValueSlot extends StoreMetric {
  [PEEK](): U64;
}

/** What takes counters' deltas while a line is built: the line's ledger, or a peek that takes nothing. */
export interface DeltaTaker {
  take(slot: DeltaSlot): U64;
}

/** Whether `metric` is a counter made by this library, which a line can take a delta from. */
export function isDeltaSlot(metric: IncMetric): metric is DeltaSlot {
  return typeof (metric as Partial<DeltaSlot>)[TAKE] === 'function';
}
