/** What a metric's value measures, for exporters and docs. */
export type MetricUnit = 'count' | 'bytes' | 'milliseconds' | 'microseconds';

/**
 * The unit a metric name implies, by the suffixes Firecracker's `docs/metrics.md` gives:
 * `_bytes` or `_bytes_count` for bytes, `_ms` for milliseconds, `_us` for microseconds,
 * and a plain count otherwise.
 */
export function unitFromName(name: string): MetricUnit {
  if (name.endsWith('_bytes') || name.endsWith('_bytes_count')) return 'bytes';
  if (name.endsWith('_ms')) return 'milliseconds';
  if (name.endsWith('_us')) return 'microseconds';
  return 'count';
}
