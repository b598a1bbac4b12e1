/**
 * Unsigned 64-bit integers as the metrics core carries them.
 *
 * A value is a `number` while it is a safe integer (at most 2^53 − 1) and a `bigint` above that,
 * so the common case never allocates and the rare large one stays exact. Every function here keeps
 * that invariant, which lets callers test `value === 0` and take fast paths on `typeof`.
 * Arithmetic wraps modulo 2^64, like Rust's `AtomicU64::fetch_add` in Firecracker.
 */
import { describe } from './describe.js';

export type U64 = number | bigint;

export const U64_MAX = (1n << 64n) - 1n;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
/** The first double that is not below 2^64; every double below it is a valid u64. */
const TWO_TO_64_AS_DOUBLE = 2 ** 64;

/** Brings a bigint already reduced modulo 2^64 back to a number when it is small enough. */
export function normalizeU64(value: bigint): U64 {
  return value <= MAX_SAFE_BIG ? Number(value) : value;
}

export function u64Add(a: U64, b: U64): U64 {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (sum <= Number.MAX_SAFE_INTEGER) return sum;
  }
  return normalizeU64((BigInt(a) + BigInt(b)) & U64_MAX);
}

/** `a − b` modulo 2^64. */
export function u64Sub(a: U64, b: U64): U64 {
  if (typeof a === 'number' && typeof b === 'number' && a >= b) return a - b;
  return normalizeU64((BigInt(a) - BigInt(b)) & U64_MAX);
}

export function u64Max(a: U64, b: U64): U64 {
  return a >= b ? a : b;
}

/** The nearest double: exact below 2^53. */
export function u64ToNumber(value: U64): number {
  return typeof value === 'number' ? value : Number(value);
}

export function u64ToBigInt(value: U64): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

/**
 * Checks that `value` is a u64 and returns it in normal form; throws naming `what` otherwise.
 * Doubles at or above 2^53 are accepted: each of them is an integer with one exact value.
 */
export function toU64(value: unknown, what: string): U64 {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < TWO_TO_64_AS_DOUBLE) {
      // `+ 0` turns -0 into 0.
      return value <= Number.MAX_SAFE_INTEGER ? value + 0 : BigInt(value);
    }
    throw new RangeError(`${what}: expected an integer from 0 to 2^64-1, got ${describe(value)}`);
  }
  if (typeof value === 'bigint') {
    if (value >= 0n && value <= U64_MAX) return normalizeU64(value);
    throw new RangeError(`${what}: expected an integer from 0 to 2^64-1, got ${describe(value)}`);
  }
  throw new TypeError(`${what}: expected a number or a bigint, got ${describe(value, 'typed')}`);
}
