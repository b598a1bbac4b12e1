import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { toU64, u64Add, u64Sub } from '../../src/metrics/u64.js';

const U64_MAX = 2n ** 64n - 1n;
const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
const normal = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

test('add and sub wrap modulo 2^64 and keep numbers below 2^53 (property)', () => {
  fc.assert(
    fc.property(u64, u64, (a, b) => {
      assert.equal(u64Add(normal(a), normal(b)), normal((a + b) & U64_MAX));
      assert.equal(u64Sub(normal(a), normal(b)), normal((a - b) & U64_MAX));
    }),
  );
});

test('toU64 accepts exactly the integers 0 … 2^64−1 (property)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.double(), fc.bigInt(), fc.integer(), fc.string(), fc.constant(null)), (value) => {
      const valid =
        (typeof value === 'bigint' && value >= 0n && value <= U64_MAX) ||
        (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 64);
      if (valid) assert.equal(BigInt(toU64(value, 'm')), BigInt(value));
      else assert.throws(() => toU64(value, 'm'), /^(Type|Range)Error: m: expected /);
    }),
  );
});
