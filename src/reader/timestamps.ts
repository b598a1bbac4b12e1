/**
 * When a line's `utc_timestamp_ms` is plausible: its options and their defaults, in one place
 * for the fast path (`clean-line.ts`) and the exact path (`validate.ts`), which must agree.
 */

export interface TimestampOptions {
  /**
   * The current time in ms, for the timestamp check.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * The earliest plausible `utc_timestamp_ms`.
   * @default 946684800000 (2000-01-01T00:00:00Z)
   */
  readonly earliestTimestampMs?: number;
  /**
   * How far ahead of `now()` a timestamp may be.
   * @default 86400000 (a day)
   */
  readonly maxFutureMs?: number;
}

const YEAR_2000_MS = 946_684_800_000;
const DAY_MS = 86_400_000;

/** The plausible range of `utc_timestamp_ms` under `options` (calls `now()` once). */
export function timestampRange(options: TimestampOptions): { readonly earliest: number; readonly latest: number } {
  const now = (options.now ?? Date.now)();
  return { earliest: options.earliestTimestampMs ?? YEAR_2000_MS, latest: now + (options.maxFutureMs ?? DAY_MS) };
}
