import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { AtomicIncMetric, LocalIncMetric, type IncMetric } from '../../src/index.js';
import { collectingWriter, flushInto } from './helpers.js';

const U64_MAX = 2n ** 64n - 1n;

const kinds: [string, (name: string) => IncMetric][] = [
  ['LocalIncMetric', (name) => new LocalIncMetric(name)],
  ['AtomicIncMetric', (name) => new AtomicIncMetric(name, new BigUint64Array(new SharedArrayBuffer(24)), 0)],
];

for (const [kind, make] of kinds) {
  describe(kind, () => {
    test('counts since creation and never resets on reads', () => {
      const metric = make('balloon.inflate_count');
      metric.inc();
      metric.add(4);
      metric.add(5n);
      assert.equal(metric.count(), 10);
      assert.equal(metric.fetchDiff(), 10);
      // Reading in every way a user might does not change what a flush takes.
      JSON.stringify({ metric });
      inspect(metric);
      metric.countBigInt();
      assert.equal(metric.fetchDiffBigInt(), 10n);
      assert.equal(flushInto(metric), 10n);
      assert.equal(metric.count(), 10);
      assert.equal(metric.fetchDiff(), 0);
    });

    test('a committed flush moves the base; a rolled-back one returns the delta', () => {
      const metric = make('m');
      metric.add(7);
      assert.equal(flushInto(metric, 'rollback'), 7n);
      assert.equal(metric.fetchDiff(), 7);
      metric.inc();
      assert.equal(flushInto(metric), 8n);
      assert.equal(metric.fetchDiff(), 0);
      assert.equal(metric.count(), 8);
    });

    test('increments that land between take and commit are kept', () => {
      const metric = make('m');
      metric.add(3);
      // A document that counts while its line is being built: the line has taken 3 already.
      const { metrics, out } = collectingWriter({
        appendTo: (line) => {
          assert.equal(line.takeDelta(metric), 3);
          metric.add(2);
          // In flight or not, the delta and the count read the same.
          assert.equal(metric.fetchDiff(), 5);
          assert.equal(metric.count(), 5);
        },
      });
      metrics.write();
      assert.equal(out.lines.length, 1);
      assert.equal(metric.fetchDiff(), 2);
      assert.equal(flushInto(metric), 2n);
    });

    test('is exact over the whole u64 range and wraps like AtomicU64', () => {
      const metric = make('m');
      metric.add(2n ** 53n);
      metric.inc();
      assert.equal(metric.countBigInt(), 2n ** 53n + 1n);
      assert.equal(metric.count(), 2 ** 53, 'the number read is the nearest double');
      metric.add(U64_MAX - (2n ** 53n + 1n));
      assert.equal(metric.countBigInt(), U64_MAX);
      metric.add(2);
      assert.equal(metric.countBigInt(), 1n);
      // The delta is taken modulo 2^64 too: 2^64 + 1 added since the last flush reads as 1.
      assert.equal(flushInto(metric), 1n);
    });

    test('a number add beyond 2^53 is exact', () => {
      const metric = make('m');
      metric.add(Number.MAX_SAFE_INTEGER);
      metric.add(Number.MAX_SAFE_INTEGER);
      metric.inc();
      assert.equal(metric.countBigInt(), 2n * BigInt(Number.MAX_SAFE_INTEGER) + 1n);
      metric.add(2 ** 63);
      assert.equal(metric.countBigInt(), 2n * BigInt(Number.MAX_SAFE_INTEGER) + 1n + 2n ** 63n);
    });

    test('bad values throw naming the metric and leave it unchanged', () => {
      const bad: unknown[] = [-1, 0.5, NaN, Infinity, -Infinity, 2 ** 64, -1n, 2n ** 64n, '1', null, undefined, {}, true];
      const metric = make('block_rootfs.read_bytes');
      metric.add(5);
      for (const value of bad) {
        assert.throws(
          () => {
            metric.add(value as number);
          },
          (error: Error) =>
            (error instanceof TypeError || error instanceof RangeError) && error.message.startsWith('block_rootfs.read_bytes.add(): '),
          `add(${String(value)})`,
        );
        assert.equal(metric.countBigInt(), 5n);
        assert.equal(metric.fetchDiffBigInt(), 5n);
      }
    });

    test('error messages are pinned', () => {
      const metric = make('balloon.inflate_count');
      assert.throws(() => {
        metric.add(-1);
      }, { name: 'RangeError', message: 'balloon.inflate_count.add(): expected an integer from 0 to 2^64-1, got -1' });
      assert.throws(() => {
        metric.add('3' as unknown as number);
      }, { name: 'TypeError', message: 'balloon.inflate_count.add(): expected a number or a bigint, got the string "3"' });
    });

    test('the sum of flushed deltas is the count, for any workload (property)', () => {
      const op = fc.oneof(
        fc.constant<'inc'>('inc'),
        fc.constant<'flush'>('flush'),
        fc.constant<'fail'>('fail'),
        fc.bigInt({ min: 0n, max: U64_MAX }),
        fc.maxSafeNat(),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          const metric = make('m');
          let expected = 0n;
          let flushed = 0n;
          for (const o of ops) {
            if (o === 'inc') {
              metric.inc();
              expected += 1n;
            } else if (o === 'flush') {
              flushed += flushInto(metric);
            } else if (o === 'fail') {
              flushInto(metric, 'rollback');
            } else {
              metric.add(o);
              expected += BigInt(o);
            }
            assert.equal(metric.countBigInt(), expected & U64_MAX);
            assert.equal((flushed + metric.fetchDiffBigInt()) & U64_MAX, expected & U64_MAX);
          }
        }),
      );
    });
  });
}
