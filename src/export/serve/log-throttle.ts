/**
 * Messages about faults, at most one per key and interval: a source of garbage writes a line a
 * millisecond, and its log must not grow as fast.
 */

/** More keys than this are forgotten at once rather than kept: sources come and go without bound. */
const MAX_KEYS = 10_000;

/**
 * `log`, at most once per `intervalMs` for each key (a source and a kind of message); the rest
 * are counted and said with the next one, so a source of garbage cannot flood the log.
 */
export function throttleLog(log: (message: string) => void, intervalMs: number, now: () => number = Date.now): (key: string, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, message) => {
    const at = now();
    const seen = last.get(key);
    if (seen !== undefined && at - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    const more = seen !== undefined && seen.suppressed > 0 ? ` (and ${String(seen.suppressed)} more like it since the last such message)` : '';
    last.set(key, { at, suppressed: 0 });
    if (last.size > MAX_KEYS) last.clear();
    log(`${message}${more}`);
  };
}
