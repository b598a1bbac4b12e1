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

export interface TimestampRange {
  readonly earliest: number;
  readonly latest: number;
}

/**
 * The plausible range of `utc_timestamp_ms` as one line sees it. The fast path's reading of
 * `now()` is kept for the exact path's first check when the line falls back, so that a line
 * calls `now()` as often as the exact path alone does, and a clock that moves at each call
 * gives the exact path the time it would have had.
 */
export class LineClock {
  /** The fast path's reading, not yet used by the exact path. */
  #spare: number | undefined;

  constructor(readonly options: TimestampOptions) {}

  /** For the fast path: reads `now()` and keeps the reading. */
  readAndKeep(): TimestampRange {
    const now = (this.options.now ?? Date.now)();
    this.#spare = now;
    return this.#range(now);
  }

  /** For the exact path: the kept reading the first time, a new one after. */
  read(): TimestampRange {
    const kept = this.#spare;
    this.#spare = undefined;
    return this.#range(kept ?? (this.options.now ?? Date.now)());
  }

  #range(now: number): TimestampRange {
    return { earliest: this.options.earliestTimestampMs ?? YEAR_2000_MS, latest: now + (this.options.maxFutureMs ?? DAY_MS) };
  }
}
