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
  // A driver hands its frames over in order more often than not (Linux's allocator gives them
  // out in runs): the ranges are built in one pass, and only a frame out of order makes it sort
  // and start again.
  const ranges = compactSorted(pfns);
  if (ranges !== undefined) return ranges;
  pfns.sort();
  return compactSorted(pfns) ?? [];
}

/** The ranges of ascending `pfns`, or undefined at the first frame below its predecessor. */
function compactSorted(pfns: Uint32Array): PageRange[] | undefined {
  const ranges: PageRange[] = [];
  let start = pfns[0] ?? 0;
  let length = 1;
  for (let i = 1; i < pfns.length; i++) {
    const pfn = pfns[i] ?? 0;
    if (pfn === start + length - 1) continue; // a repeat of the last frame
    if (pfn === start + length) {
      length++;
    } else if (pfn > start + length) {
      ranges.push({ start, length });
      start = pfn;
      length = 1;
    } else {
      return undefined;
    }
  }
  ranges.push({ start, length });
  return ranges;
}
