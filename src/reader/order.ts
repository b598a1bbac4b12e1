/**
 * The order the writer gives a line's keys, and finding the keys that are out of it.
 *
 * The writer's order of a line's top-level keys is stated once, here (`KeyRank`), for both the
 * fast path (`clean-line.ts`), which accepts only lines in that order, and the exact path
 * (`validate.ts`), which reports each key out of it: `utc_timestamp_ms`, `id`, `properties`, then
 * the entries in the document's order; within a family of devices, the devices by id
 * (`compareKeys`) and then their aggregate. The keys of `properties`, and device ids, are in
 * `compareKeys` order; a group's fields in its schema's.
 *
 * When one key is misplaced, a naive "each key must follow the previous one" check blames every
 * key after it. Instead, the keys kept in place are a longest run already in order (a longest
 * non-decreasing subsequence); only the others are reported.
 *
 * A line comes from outside and may hold hundreds of thousands of keys in one object, so every
 * step here is O(n log n) comparisons and O(n) memory in typed arrays: no search of a list per
 * key (an `indexOf` per misplaced key made 800,000 keys take minutes).
 */
import { compareKeys } from '../metrics/key-order.js';
import type { KeyRole } from './schema.js';

/** Where a top-level key belongs in a line the writer wrote. */
export interface KeyRank {
  /** 0, 1, 2: `utc_timestamp_ms`, `id`, `properties`; 3: an entry's key. */
  readonly tier: number;
  /** The entry's index in the schema. */
  readonly entry: number;
  /** 0 for a device's key, 1 for a group's or an aggregate's. */
  readonly sub: number;
  /** The device's id, for a device's key. */
  readonly deviceId: string;
}

/** The ranks of the header's keys, which come first, in this order. */
export const HEADER_RANKS = {
  utc_timestamp_ms: { tier: 0, entry: 0, sub: 0, deviceId: '' },
  id: { tier: 1, entry: 0, sub: 0, deviceId: '' },
  properties: { tier: 2, entry: 0, sub: 0, deviceId: '' },
} as const satisfies Record<string, KeyRank>;

/** The rank of a header's key, or undefined for any other key. */
export function headerRank(key: string): KeyRank | undefined {
  return Object.hasOwn(HEADER_RANKS, key) ? HEADER_RANKS[key as keyof typeof HEADER_RANKS] : undefined;
}

/** The rank of the key of a group, a device or an aggregate, from its role in the schema. */
export function entryRank(role: KeyRole): KeyRank {
  return { tier: 3, entry: role.entry.index, sub: role.role === 'device' ? 0 : 1, deviceId: role.deviceId ?? '' };
}

/** Negative when `a`'s key comes before `b`'s in the writer's order, 0 when either may come first. */
export function compareKeyRanks(a: KeyRank, b: KeyRank): number {
  return a.tier - b.tier || a.entry - b.entry || a.sub - b.sub || (a.sub === 0 ? compareKeys(a.deviceId, b.deviceId) : 0);
}

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
