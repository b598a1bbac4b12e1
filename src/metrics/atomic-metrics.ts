/**
 * Metrics that live in a `SharedArrayBuffer`, so that every `worker_thread` given the buffer
 * increments the same counters. Each value is a `BigUint64Array` element updated with `Atomics`,
 * which wraps modulo 2^64 exactly as Firecracker's `AtomicU64` does.
 *
 * A counter uses three words: its count, the count at the last committed flush, and the amount
 * in flight. Only the count is written by many threads; the other two belong to the one thread
 * that flushes, and sit in shared memory so that `fetchDiff()` reads the same from every thread.
 */
import { IncMetricBase } from './inc-metric.js';
import { PEEK, COMMIT, ROLLBACK, TAKE } from './slots.js';
import { StoreMetricBase } from './store-metric.js';
import { normalizeU64, toU64, U64_MAX, type U64 } from './u64.js';

export const INC_WORDS = 3;
export const STORE_WORDS = 1;

export class AtomicIncMetric extends IncMetricBase {
  readonly #words: BigUint64Array;
  readonly #count: number;
  readonly #committed: number;
  readonly #inFlight: number;

  constructor(name: string, words: BigUint64Array, offset: number) {
    super(name);
    this.#words = words;
    this.#count = offset;
    this.#committed = offset + 1;
    this.#inFlight = offset + 2;
  }

  inc(): void {
    Atomics.add(this.#words, this.#count, 1n);
  }

  add(value: number | bigint): void {
    Atomics.add(this.#words, this.#count, BigInt(toU64(value, `${this.name}.add()`)));
  }

  [PEEK](): U64 {
    const words = this.#words;
    return normalizeU64((Atomics.load(words, this.#count) - Atomics.load(words, this.#committed)) & U64_MAX);
  }

  [TAKE](): U64 {
    const words = this.#words;
    const inFlight = Atomics.load(words, this.#inFlight);
    const unsent = (Atomics.load(words, this.#count) - Atomics.load(words, this.#committed) - inFlight) & U64_MAX;
    Atomics.store(words, this.#inFlight, (inFlight + unsent) & U64_MAX);
    return normalizeU64(unsent);
  }

  [COMMIT](amount: U64): void {
    Atomics.sub(this.#words, this.#inFlight, BigInt(amount));
    Atomics.add(this.#words, this.#committed, BigInt(amount));
  }

  [ROLLBACK](amount: U64): void {
    Atomics.sub(this.#words, this.#inFlight, BigInt(amount));
  }

  protected committedCount(): U64 {
    return normalizeU64(Atomics.load(this.#words, this.#committed));
  }
}

export class AtomicStoreMetric extends StoreMetricBase {
  readonly #words: BigUint64Array;
  readonly #index: number;

  constructor(name: string, words: BigUint64Array, offset: number) {
    super(name);
    this.#words = words;
    this.#index = offset;
  }

  store(value: number | bigint): void {
    Atomics.store(this.#words, this.#index, BigInt(toU64(value, `${this.name}.store()`)));
  }

  [PEEK](): U64 {
    return normalizeU64(Atomics.load(this.#words, this.#index));
  }
}
