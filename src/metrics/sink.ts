/**
 * Sinks: where the bytes of a line go. A sink only reports what happened to the bytes; the
 * writer alone decides what that means for the line's deltas (commit, keep the rest of the line
 * for later, or roll back) and what counts as a missed line.
 */

/** What became of the bytes offered to a sink. */
export type SinkResult =
  /** All of them are out. */
  | { readonly status: 'written' }
  /**
   * The first `written` bytes are out (possibly none, when offering the rest of a line) and the
   * rest can follow later, e.g. a full non-blocking pipe: the writer keeps it and offers it first
   * next time, so that no reader sees a torn line.
   */
  | { readonly status: 'partial'; readonly written: number; readonly cause: unknown }
  /**
   * Nothing of them counts as out: none went out, or what did was taken back (a truncated file)
   * or can never be completed, and the sink ends that fragment with a newline of its own first.
   */
  | { readonly status: 'failed'; readonly cause: unknown }
  /** The sink took them and will call `settled` once, when they are out or have failed. */
  | { readonly status: 'queued' };

export interface LineSink {
  /**
   * Offers `bytes`: a whole line, or with `rest` the rest of a line whose start is out. The
   * bytes are valid only during the call. For a `queued` result, `settled` is called later with
   * the failure, or with nothing once the bytes are out.
   */
  write(bytes: Uint8Array, rest: boolean, settled: (error?: unknown) => void): SinkResult;
  /** Releases what the sink opened. */
  close(): void;
}

export const WRITTEN: SinkResult = { status: 'written' };

export function failed(cause: unknown): SinkResult {
  return { status: 'failed', cause };
}
