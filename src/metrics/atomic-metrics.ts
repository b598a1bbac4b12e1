/**
 * Metrics that live in a `SharedArrayBuffer`, so that every `worker_thread` given the buffer
 * increments the same counters. Each value is a `BigUint64Array` element updated with `Atomics`,
 * which wraps modulo 2^64 exactly as Firecracker's `AtomicU64` does.
 *
 * A counter uses three words: its count, the count taken by lines so far (committed or in
 * flight), and the count committed. Taking a delta moves the taken mark up to the count with a
 * compare-and-swap, so any number of threads may flush documents that share the group: each
 * increment is taken by exactly one line, and a rolled-back line hands its amount back by
 * lowering the mark.
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
  readonly #taken: number;
  readonly #committed: number;

  constructor(name: string, words: BigUint64Array, offset: number) {
    super(name);
    this.#words = words;
    this.#count = offset;
    this.#taken = offset + 1;
    this.#committed = offset + 2;
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
    // Lock-free: a retry happens only when another thread's flush moved the mark in between.
    for (;;) {
      const taken = Atomics.load(words, this.#taken);
      const count = Atomics.load(words, this.#count);
      if (count === taken) return 0;
      if (Atomics.compareExchange(words, this.#taken, taken, count) === taken) return normalizeU64((count - taken) & U64_MAX);
    }
  }

  [COMMIT](amount: U64): void {
    Atomics.add(this.#words, this.#committed, BigInt(amount));
  }

  [ROLLBACK](amount: U64): void {
    Atomics.sub(this.#words, this.#taken, BigInt(amount));
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
