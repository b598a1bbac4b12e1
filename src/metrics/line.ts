/**
 * One metrics line being built: the flush transaction.
 *
 * Building a line takes every counter's delta; `commit()` after the line was written in full
 * makes those deltas flushed, `rollback()` after a failure returns them to the next line. A line
 * built with `{ peek: true }` takes nothing: it renders what a flush would write.
 */
import type { IncMetric } from './metric.js';
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { COMMIT, PEEK, ROLLBACK, TAKE, type DeltaSlot } from './slots.js';
import type { U64 } from './u64.js';

export interface LineHeader {
  readonly timestampMs: number;
  /**
   * Already-serialized members that follow the timestamp (`,"id":…,"properties":{…}`), or ''.
   */
  readonly headerFields?: string;
}

export class MetricsLine {
  #json: string;
  #settled = false;
  readonly #peek: boolean;
  readonly #taken: DeltaSlot[] = [];
  readonly #amounts: U64[] = [];

  constructor(header: LineHeader, options: { readonly peek?: boolean } = {}) {
    this.#json = `{"utc_timestamp_ms":${header.timestampMs}${header.headerFields ?? ''}`;
    this.#peek = options.peek ?? false;
  }

  /** Takes the delta of a counter made by this library into this line, and returns it. */
  takeDelta(metric: IncMetric): U64 {
    const slot = metric as DeltaSlot;
    if (typeof slot[TAKE] !== 'function') throw new TypeError(`${metric.name}: not a counter made by vmm-metrics`);
    if (this.#peek) return slot[PEEK]();
    const amount = slot[TAKE]();
    if (amount !== 0) {
      this.#taken.push(slot);
      this.#amounts.push(amount);
    }
    return amount;
  }

  /** Appends the member `"key":json`; `key` may hold any characters. */
  entry(key: string, json: string): void {
    this.#json += `,${JSON.stringify(key)}:${json}`;
  }

  /** Takes a group's values, appends them under `key`, and returns them for aggregation. */
  group<F extends GroupFields>(key: string, schema: GroupSchema<F>, group: MetricGroup<F>): U64[] {
    const values = schema.take(group, this);
    this.entry(key, schema.format(values));
    return values;
  }

  /** The complete line, without its newline. */
  text(): string {
    return `${this.#json}}`;
  }

  commit(): void {
    this.#settle(COMMIT);
  }

  rollback(): void {
    this.#settle(ROLLBACK);
  }

  #settle(how: typeof COMMIT | typeof ROLLBACK): void {
    if (this.#settled) throw new Error('A metrics line is committed or rolled back once');
    this.#settled = true;
    const taken = this.#taken;
    const amounts = this.#amounts;
    for (let i = 0; i < taken.length; i++) (taken[i] as DeltaSlot)[how](amounts[i] as U64);
  }
}
