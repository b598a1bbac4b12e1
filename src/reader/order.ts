/**
 * Finding the keys that are out of order, and where each belongs.
 *
 * When one key is misplaced, a naive "each key must follow the previous one" check blames every
 * key after it. Instead, the keys kept in place are a longest run already in order (a longest
 * non-decreasing subsequence); only the others are reported.
 *
 * A line comes from outside and may hold hundreds of thousands of keys in one object, so every
 * step here is O(n log n) comparisons and O(n) memory in typed arrays: no search of a list per
 * key (an `indexOf` per misplaced key made 800,000 keys take minutes).
 */

/** A misplaced item: its index, and the index of the item it belongs right after (none: first). */
export interface Misplaced {
  readonly index: number;
  readonly after: number | undefined;
}

/**
 * The items of `items` outside a longest non-decreasing subsequence under `compare`, in index
 * order, each with the item it follows once all are sorted (stably, so equal items keep their
 * order). Empty when the items are already in order.
 */
export function misplacedItems<T>(items: readonly T[], compare: (a: T, b: T) => number): Misplaced[] {
  const n = items.length;
  const kept = longestOrderedRun(items, compare);
  let misplacedCount = 0;
  for (let i = 0; i < n; i++) if (kept[i] === 0) misplacedCount++;
  if (misplacedCount === 0) return [];

  // Where each item lands in the sorted order; ties broken by index, as a stable sort would.
  const sorted = new Int32Array(n);
  for (let i = 0; i < n; i++) sorted[i] = i;
  sorted.sort((a, b) => compare(items[a] as T, items[b] as T) || a - b);
  const rank = new Int32Array(n);
  for (let r = 0; r < n; r++) rank[sorted[r] as number] = r;

  const out: Misplaced[] = [];
  for (let i = 0; i < n; i++) {
    if (kept[i] === 1) continue;
    const r = rank[i] as number;
    out.push({ index: i, after: r > 0 ? (sorted[r - 1]) : undefined });
  }
  return out;
}

/** 1 for the items of one longest non-decreasing subsequence, 0 for the others (patience sorting). */
function longestOrderedRun<T>(items: readonly T[], compare: (a: T, b: T) => number): Uint8Array {
  const n = items.length;
  /** `tails[k]`: index of the least possible last item of a run of length k + 1. */
  const tails = new Int32Array(n);
  let runs = 0;
  const previous = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const item = items[i] as T;
    // First run whose last item is greater than `item` (equal items may follow each other).
    let low = 0;
    let high = runs;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compare(items[tails[mid] as number] as T, item) <= 0) low = mid + 1;
      else high = mid;
    }
    if (low > 0) previous[i] = tails[low - 1] as number;
    tails[low] = i;
    if (low === runs) runs++;
  }
  const kept = new Uint8Array(n);
  let k = runs > 0 ? (tails[runs - 1] as number) : -1;
  while (k !== -1) {
    kept[k] = 1;
    k = previous[k] as number;
  }
  return kept;
}
