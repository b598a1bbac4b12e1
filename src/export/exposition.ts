/**
 * Prometheus's text exposition format (version 0.0.4), written with exact values.
 *
 * prom-client renders numbers only, so a counter past 2^53 would lose digits; `vmm-metrics serve`
 * holds its totals as integers (a `bigint` when they outgrow a double) and writes them here as
 * exact decimals, seconds included (`1250000` µs → `1.25`).
 */

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** `# HELP` and `# TYPE` of a family. */
export function familyHeader(name: string, type: 'counter' | 'gauge', help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

/** `{a="x",b="y"}` for the given pairs, or `''` for none; values escaped. */
export function labelSet(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** `value / 10^scale` as an exact decimal: `decimal(1250000n, 6)` is `1.25`. */
export function exactDecimal(value: number | bigint, scale: number): string {
  if (scale === 0) return typeof value === 'number' ? integerText(value) : value.toString();
  const digits = (typeof value === 'number' ? integerText(value) : value.toString()).padStart(scale + 1, '0');
  const fraction = digits.slice(-scale).replace(/0+$/, '');
  return `${digits.slice(0, -scale)}${fraction === '' ? '' : `.${fraction}`}`;
}

/** A sample value of any double: Prometheus spells the special ones `+Inf`, `-Inf`, `NaN`. */
export function floatText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function integerText(value: number): string {
  // Only whole numbers reach this: String() would write 1e21 for large doubles.
  return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString();
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
