/**
 * Page frame numbers into ranges (Firecracker's `compact_page_frame_numbers` in
 * `balloon/util.rs`): the inflate queue hands over up to 2,048 frame numbers at a time, in any
 * order and possibly repeated, and each run of consecutive frames is discarded in one call.
 */

/** A run of consecutive page frames: `start … start + length − 1`. */
export interface PageRange {
  readonly start: number;
  readonly length: number;
}

/**
 * Sorts `pfns` in place and returns its distinct frames as ranges of consecutive ones, in
 * ascending order. Sorting at most `MAX_PAGE_COMPACT_BUFFER` numbers keeps each step bounded.
 */
export function compactPageFrameNumbers(pfns: Uint32Array): PageRange[] {
  if (pfns.length === 0) return [];
  pfns.sort();
  const ranges: PageRange[] = [];
  let start = pfns[0] ?? 0;
  let length = 1;
  for (let i = 1; i < pfns.length; i++) {
    const pfn = pfns[i] ?? 0;
    if (pfn === start + length - 1) continue; // a repeat of the last frame
    if (pfn === start + length) {
      length++;
    } else {
      ranges.push({ start, length });
      start = pfn;
      length = 1;
    }
  }
  ranges.push({ start, length });
  return ranges;
}
