import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { FirecrackerMetrics, Metrics } from '../../src/index.js';
import { compareKeyRanks, entryRank, headerRank, misplacedItems, type KeyRank } from '../../src/reader/order.js';
import { MetricsSchema } from '../../src/reader/schema.js';

const byValue = (a: number, b: number): number => a - b;

/** Length of a longest non-decreasing subsequence, the quadratic way. */
function longestRunLength(items: readonly number[]): number {
  const best = items.map(() => 1);
  for (let i = 0; i < items.length; i++) {
    for (let j = 0; j < i; j++) if ((items[j] as number) <= (items[i] as number)) best[i] = Math.max(best[i] as number, (best[j] as number) + 1);
  }
  return Math.max(0, ...best);
}

/** A comparator that counts its calls. */
function counting(): { compare: (a: number, b: number) => number; calls: () => number } {
  let calls = 0;
  return {
    compare: (a, b) => {
      calls++;
      return a - b;
    },
    calls: () => calls,
  };
}

describe('misplaced keys', () => {
  test('only the keys outside a longest ordered run are blamed, each with the key it belongs after', () => {
    assert.deepEqual(misplacedItems([1, 2, 3], byValue), []);
    assert.deepEqual(misplacedItems([1, 5, 2, 3, 4], byValue), [{ index: 1, after: 4 }]);
    assert.deepEqual(misplacedItems([3, 1, 2], byValue), [{ index: 0, after: 2 }]);
    assert.deepEqual(misplacedItems([2, 3, 1], byValue), [{ index: 2, after: undefined }]);
  });

  test('property: the kept keys are a longest ordered run, and "after" is the stably sorted predecessor', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 40 }), (items) => {
        const misplaced = misplacedItems(items, byValue);
        const blamed = new Set(misplaced.map((m) => m.index));
        const kept = items.filter((_, i) => !blamed.has(i));
        assert.ok(kept.every((v, i) => i === 0 || (kept[i - 1] as number) <= v), `kept ${JSON.stringify(kept)} in order`);
        assert.equal(kept.length, longestRunLength(items));
        const sorted = items.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v || a.i - b.i);
        for (const { index, after } of misplaced) {
          const at = sorted.findIndex((s) => s.i === index);
          assert.equal(after, at > 0 ? sorted[at - 1]?.i : undefined);
        }
        assert.deepEqual(
          misplaced.map((m) => m.index),
          [...blamed].sort((a, b) => a - b),
        );
      }),
    );
  });

  test('the work is O(n log n) comparisons on adversarial orders (a line may hold a million keys)', () => {
    const n = 1 << 16;
    const log = Math.log2(n);
    const orders: Record<string, number[]> = {
      reversed: Array.from({ length: n }, (_, i) => n - i),
      'every key equal': new Array<number>(n).fill(7),
      'organ pipe': Array.from({ length: n }, (_, i) => (i < n / 2 ? i : n - i)),
      interleaved: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : n - i)),
      shuffled: Array.from({ length: n }, (_, i) => (i * 40_503) % n),
    };
    for (const [name, items] of Object.entries(orders)) {
      const { compare, calls } = counting();
      const misplaced = misplacedItems(items, compare);
      // One binary search per key for the run, one sort: each at most n·log2(n) comparisons.
      assert.ok(calls() <= 3 * n * log, `${name}: ${calls()} comparisons for ${n} keys, over 3·n·log2(n) = ${3 * n * log}`);
      assert.ok(misplaced.length < n, name);
    }
  });
});

describe("the writer's key order", () => {
  /** The top-level keys of a line of Firecracker's whole document, as the writer writes it, and their ranks. */
  function writtenKeys(ids: readonly string[]): { readonly keys: string[]; readonly ranks: KeyRank[] } {
    const document = new FirecrackerMetrics({ rtc: true });
    for (const id of ids) {
      document.block.alloc(id);
      document.net.alloc(id);
    }
    const metrics = new Metrics(document);
    metrics.init(new PassThrough(), { flushIntervalMs: 0, id: 'vm-1', properties: { zone: 'b' } });
    let line: string;
    try {
      line = metrics.render();
    } finally {
      metrics.close();
    }
    const schema = MetricsSchema.of(document.entries);
    const keys = Object.keys(JSON.parse(line) as object);
    const ranks = keys.map((key) => {
      const role = schema.roleOf(key);
      const rank = headerRank(key) ?? (role === undefined ? undefined : entryRank(role));
      assert.ok(rank !== undefined, `a rank for ${key}`);
      return rank;
    });
    return { keys, ranks };
  }

  test('is the order the writer writes: each key after the one before it, none equal', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }).filter((id) => !/^\d/.test(id) && id !== '__proto__'), { maxLength: 6 }), (ids) => {
        const { keys, ranks } = writtenKeys(ids);
        assert.deepEqual(keys.slice(0, 3), ['utc_timestamp_ms', 'id', 'properties']);
        for (let i = 1; i < ranks.length; i++) assert.ok(compareKeyRanks(ranks[i - 1] as KeyRank, ranks[i] as KeyRank) < 0, `${keys[i - 1] ?? ''} before ${keys[i] ?? ''}`);
      }),
      { numRuns: 50 },
    );
  });

  test('a device comes before its aggregate, devices by id; a key out of place is the one blamed', () => {
    const { keys, ranks } = writtenKeys(['b', 'a']);
    assert.ok(keys.indexOf('block_a') < keys.indexOf('block_b') && keys.indexOf('block_b') < keys.indexOf('block'));
    const moved = [...ranks];
    const [block] = moved.splice(keys.indexOf('block'), 1);
    moved.splice(keys.indexOf('block_a'), 0, block as KeyRank);
    assert.deepEqual(
      misplacedItems(moved, compareKeyRanks).map((m) => m.index),
      [keys.indexOf('block_a')],
    );
  });
});
