import { inspect } from 'node:util';
import { PEEK, type ValueSlot } from './slots.js';
import { toU64, u64ToBigInt, u64ToNumber, type U64 } from './u64.js';

/** The reads every store derives from its value. */
export abstract class StoreMetricBase implements ValueSlot {
  constructor(readonly name: string) {}

  abstract store(value: number | bigint): void;
  abstract [PEEK](): U64;

  fetch(): number {
    return u64ToNumber(this[PEEK]());
  }

  fetchBigInt(): bigint {
    return u64ToBigInt(this[PEEK]());
  }

  toJSON(): number {
    return this.fetch();
  }

  [inspect.custom](): string {
    return `StoreMetric(${this.name}) { value: ${this.fetchBigInt()} }`;
  }
}

/** A store for one thread. */
export class LocalStoreMetric extends StoreMetricBase {
  #value: U64 = 0;

  store(value: number | bigint): void {
    this.#value =
      typeof value === 'number' && value > 0 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)
        ? value
        : toU64(value, `${this.name}.store()`);
  }

  [PEEK](): U64 {
    return this.#value;
  }
}
