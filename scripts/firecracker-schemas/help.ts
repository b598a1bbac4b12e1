/**
 * A field's help text and unit, from what Firecracker's sources say about it.
 *
 * Help: the field's `///` doc, or where it has none the plain `//` comment right above it (some
 * fields are documented that way, e.g. vhost-user's `// Vhost-user init time in microseconds.`),
 * lines joined with single spaces. A field with neither has an empty help text.
 *
 * Unit: the name's suffix first, by the rule this project already applies to its own fields
 * (`unitFromName`: `_bytes`, `_bytes_count`, `_ms`, `_us`, from Firecracker's docs/metrics.md);
 * a latency aggregate is in microseconds (its members are `min_us`, `max_us`, `sum_us`); then
 * what the doc states: "in microseconds" / "in milliseconds" / "in bytes", as Firecracker's
 * `latencies_us` fields say ("Measures the snapshot load time, at the VMM level, in
 * microseconds."). A doc that only mentions bytes ("Bytes read by this device.") is not taken
 * for a unit: such sentences describe counts of operations as often as amounts.
 */
import { unitFromName, type MetricUnit } from '../../src/metrics/units.js';
import type { FieldDecl } from './rust-items.js';

export function helpOf(field: Pick<FieldDecl, 'docs' | 'comments'>): string {
  const lines = field.docs.length > 0 ? field.docs : field.comments;
  return lines
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ')
    .replace(/\s+/g, ' ');
}

export function unitOf(name: string, kind: 'inc' | 'store' | 'latency', help: string): MetricUnit {
  if (kind === 'latency') return 'microseconds';
  const byName = unitFromName(name);
  if (byName !== 'count') return byName;
  if (/\bin microseconds\b/i.test(help)) return 'microseconds';
  if (/\bin milliseconds\b/i.test(help)) return 'milliseconds';
  if (/\bin bytes\b/i.test(help)) return 'bytes';
  return 'count';
}
