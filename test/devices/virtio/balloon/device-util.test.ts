/**
 * Page frame compaction (Firecracker's `test_compact_page_indices` and its property test).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compactPageFrameNumbers, type PageRange } from '../../../../src/devices/virtio/balloon/util.js';

const compact = (pfns: readonly number[]): [number, number][] =>
  compactPageFrameNumbers(Uint32Array.from(pfns)).map((r) => [r.start, r.length]);

test('compactPageFrameNumbers: Firecracker’s cases', () => {
  assert.deepEqual(compact([]), []);
  const hundred = Array.from({ length: 100 }, (_, i) => i);
  assert.deepEqual(compact(hundred), [[0, 100]]);
  assert.deepEqual(compact(hundred.reverse()), [[0, 100]]);
  // 100 distinct ranges of 10, each given backwards.
  const ranges: number[] = [];
  for (let x = 0; x < 10_000; x += 100) for (let i = 9; i >= 0; i--) ranges.push(x + i);
  assert.deepEqual(
    compact(ranges),
    Array.from({ length: 100 }, (_, i) => [i * 100, 10]),
  );
  // Duplicates.
  assert.deepEqual(compact(Array.from({ length: 10_000 }, (_, i) => Math.floor(i / 2))), [[0, 5000]]);
  assert.deepEqual(compact([0xffff_ffff, 0xffff_ffff]), [[0xffff_ffff, 1]]);
  assert.deepEqual(compact([0xffff_fffe, 0, 0xffff_ffff]), [
    [0, 1],
    [0xffff_fffe, 2],
  ]);
});

function uncompact(ranges: readonly PageRange[]): number[] {
  return ranges.flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i));
}

test('compactPageFrameNumbers: sorted, without duplicates, nothing lost', () => {
  const frames = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 100 }));
  fc.assert(
    fc.property(fc.array(frames, { maxLength: 2048 }), (pfns) => {
      const ranges = compactPageFrameNumbers(Uint32Array.from(pfns));
      assert.deepEqual(uncompact(ranges), [...new Set(pfns)].sort((a, b) => a - b));
      for (let i = 1; i < ranges.length; i++) {
        const previous = ranges[i - 1];
        const current = ranges[i];
        assert.ok(previous !== undefined && current !== undefined);
        assert.ok(previous.start + previous.length < current.start, 'ranges are apart and ordered');
      }
    }),
    { seed: 7, numRuns: 300 },
  );
});
