/**
 * Finding the keys that are out of order.
 *
 * When one key is misplaced, a naive "each key must follow the previous one" check blames every
 * key after it. Instead, the keys kept in place are a longest run already in order (a longest
 * non-decreasing subsequence); only the others are reported.
 */

/** Indices of `items` outside a longest non-decreasing subsequence under `compare`. */
export function outOfOrder<T>(items: readonly T[], compare: (a: T, b: T) => number): Set<number> {
  const n = items.length;
  /** `tails[k]`: index of the least possible last item of a run of length k + 1. */
  const tails: number[] = [];
  const previous = new Array<number>(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const item = items[i] as T;
    // First run whose last item is greater than `item` (equal items may follow each other).
    let low = 0;
    let high = tails.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compare(items[tails[mid] as number] as T, item) <= 0) low = mid + 1;
      else high = mid;
    }
    if (low > 0) previous[i] = tails[low - 1] as number;
    tails[low] = i;
  }
  const misplaced = new Set<number>();
  for (let i = 0; i < n; i++) misplaced.add(i);
  let k = tails.length > 0 ? (tails[tails.length - 1] as number) : -1;
  while (k !== -1) {
    misplaced.delete(k);
    k = previous[k] as number;
  }
  return misplaced;
}
