/**
 * The two kinds of metric, as Firecracker's `IncMetric` and `StoreMetric` traits define them.
 *
 * Values are unsigned 64-bit integers, exact over 0 … 2^64 − 1 and wrapping modulo 2^64 on
 * overflow, as Rust's `AtomicU64` does. Methods returning `number` are exact below 2^53 and give
 * the nearest double above; their `…BigInt` twins are always exact.
 */

/**
 * A counter (Firecracker's `SharedIncMetric`). Its count only grows and is never reset; a metrics
 * line carries the delta since the last committed flush.
 */
export interface IncMetric {
  /** The metric's full name, e.g. `balloon.inflate_count`, used in error messages. */
  readonly name: string;
  /**
   * Adds `value` (an integer from 0 to 2^64 − 1, number or bigint). A bad value throws a
   * `TypeError` or `RangeError` naming the metric and leaves the count unchanged.
   */
  add(value: number | bigint): void;
  /** Adds one. */
  inc(): void;
  /** The count since creation. */
  count(): number;
  countBigInt(): bigint;
  /** The count minus its value at the last committed flush: what the next line would carry. */
  fetchDiff(): number;
  fetchDiffBigInt(): bigint;
}

/** A value that is written as it is and never reset (Firecracker's `SharedStoreMetric`). */
export interface StoreMetric {
  readonly name: string;
  /** Sets the value; a bad value throws naming the metric and leaves the value unchanged. */
  store(value: number | bigint): void;
  fetch(): number;
  fetchBigInt(): bigint;
}
