import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { AtomicStoreMetric, LocalStoreMetric, type StoreMetric } from '../../src/index.js';

const kinds: [string, (name: string) => StoreMetric][] = [
  ['LocalStoreMetric', (name) => new LocalStoreMetric(name)],
  ['AtomicStoreMetric', (name) => new AtomicStoreMetric(name, new BigUint64Array(new SharedArrayBuffer(8)), 0)],
];

for (const [kind, make] of kinds) {
  describe(kind, () => {
    test('stores and fetches exact u64 values', () => {
      const metric = make('seccomp.num_faults');
      assert.equal(metric.fetch(), 0);
      metric.store(42);
      assert.equal(metric.fetch(), 42);
      metric.store(2n ** 64n - 1n);
      assert.equal(metric.fetchBigInt(), 2n ** 64n - 1n);
      assert.equal(metric.fetch(), 2 ** 64);
      metric.store(2 ** 60);
      assert.equal(metric.fetchBigInt(), 2n ** 60n);
      assert.equal(inspect(metric), 'StoreMetric(seccomp.num_faults) { value: 1152921504606846976 }');
      metric.store(-0);
      assert.equal(Object.is(metric.fetch(), 0), true, '-0 is stored as 0');
    });

    test('a bad value throws naming the metric and keeps the old value', () => {
      const metric = make('vmm.panic_count');
      metric.store(3);
      for (const value of [-1, 1.5, NaN, Infinity, 2n ** 64n, -2n, 'x', null]) {
        assert.throws(() => {
          metric.store(value as number);
        }, /^(Type|Range)Error: vmm\.panic_count\.store\(\): expected /);
        assert.equal(metric.fetch(), 3);
      }
    });
  });
}
