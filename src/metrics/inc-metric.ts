import { inspect } from 'node:util';
import { COMMIT, PEEK, ROLLBACK, TAKE, type DeltaSlot } from './slots.js';
import { toU64, u64Add, u64Sub, u64ToBigInt, u64ToNumber, type U64 } from './u64.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** The reads every counter derives from its delta and its last committed count. */
export abstract class IncMetricBase implements DeltaSlot {
  constructor(readonly name: string) {}

  abstract add(value: number | bigint): void;
  abstract inc(): void;
  abstract [PEEK](): U64;
  abstract [TAKE](): U64;
  abstract [COMMIT](amount: U64): void;
  abstract [ROLLBACK](amount: U64): void;
  protected abstract committedCount(): U64;

  count(): number {
    return u64ToNumber(this.#count());
  }

  countBigInt(): bigint {
    return u64ToBigInt(this.#count());
  }

  fetchDiff(): number {
    return u64ToNumber(this[PEEK]());
  }

  fetchDiffBigInt(): bigint {
    return u64ToBigInt(this[PEEK]());
  }

  /** The delta the next line would carry; reading it changes nothing. */
  toJSON(): number {
    return this.fetchDiff();
  }

  [inspect.custom](): string {
    return `IncMetric(${this.name}) { count: ${this.countBigInt()}, delta: ${this.fetchDiffBigInt()} }`;
  }

  #count(): U64 {
    return u64Add(this.committedCount(), this[PEEK]());
  }
}

/**
 * A counter for one thread. `inc()` and small `add()`s touch a single number field; the exact
 * 64-bit arithmetic runs only when a flush folds that number in, or when it would pass 2^53.
 *
 * count = committed + inFlight + spilled + pending (mod 2^64); a flush moves amounts leftwards,
 * so a read gives the same count whatever state a flush is in.
 */
export class LocalIncMetric extends IncMetricBase {
  #pending = 0;
  #spilled: U64 = 0;
  #inFlight: U64 = 0;
  #committed: U64 = 0;

  inc(): void {
    // Store first, check after: a check before the store would make each inc() wait for the
    // previous one's store. `next` is at most 2^53, still exact, and spilled right away.
    const next = this.#pending + 1;
    this.#pending = next;
    if (next > MAX_SAFE) this.#spill(0);
  }

  add(value: number | bigint): void {
    if (typeof value === 'number' && value >= 0 && Number.isInteger(value)) {
      const next = this.#pending + value;
      if (next <= MAX_SAFE) {
        this.#pending = next;
        return;
      }
    }
    this.#spill(toU64(value, `${this.name}.add()`));
  }

  [PEEK](): U64 {
    return u64Add(this.#inFlight, this.#unsent());
  }

  [TAKE](): U64 {
    const amount = this.#unsent();
    if (amount === 0) return 0;
    this.#pending = 0;
    this.#spilled = 0;
    this.#inFlight = u64Add(this.#inFlight, amount);
    return amount;
  }

  [COMMIT](amount: U64): void {
    this.#inFlight = u64Sub(this.#inFlight, amount);
    this.#committed = u64Add(this.#committed, amount);
  }

  [ROLLBACK](amount: U64): void {
    this.#inFlight = u64Sub(this.#inFlight, amount);
    this.#spilled = u64Add(this.#spilled, amount);
  }

  protected committedCount(): U64 {
    return this.#committed;
  }

  #unsent(): U64 {
    return this.#spilled === 0 ? this.#pending : u64Add(this.#spilled, this.#pending);
  }

  #spill(amount: U64): void {
    this.#spilled = u64Add(this.#spilled, u64Add(this.#pending, amount));
    this.#pending = 0;
  }
}
