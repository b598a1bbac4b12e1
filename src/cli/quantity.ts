/**
 * Metric values as a person reads them, by the unit their declaration gives (`MetricUnit`):
 * bytes in binary units (`1.4 GiB`, rates `58.8 MiB/s`), durations in µs, ms or s, counts as
 * exact integers grouped by thousands (`1,524,629`) and rates of counts per second. Below 1 KiB
 * and below 1,000 µs a value is written whole, so small values stay exact.
 */
import type { MetricUnit } from '../metrics/units.js';

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** A value of `unit`, humanised: exact below the first step of its scale, one decimal above it. */
export function formatQuantity(value: number | bigint, unit: MetricUnit): string {
  switch (unit) {
    case 'bytes':
      return bytesText(value);
    case 'microseconds':
      return durationText(Number(value) / 1e6, value, 'µs');
    case 'milliseconds':
      return durationText(Number(value) / 1e3, value, 'ms');
    case 'count':
      return groupThousands(value);
  }
}

/** A change of `unit` with its sign: `+2.0 MiB`, `-3`. */
export function formatChange(delta: number | bigint, unit: MetricUnit): string {
  const negative = typeof delta === 'bigint' ? delta < 0n : delta < 0;
  const magnitude = typeof delta === 'bigint' ? (negative ? -delta : delta) : Math.abs(delta);
  return `${negative ? '-' : '+'}${formatQuantity(magnitude, unit)}`;
}

/** A rate of `unit` per second: `58.8 MiB/s`, `12.5/s`, `2.0 ms/s`. */
export function formatRate(perSecond: number, unit: MetricUnit): string {
  if (!Number.isFinite(perSecond)) return '-';
  switch (unit) {
    case 'bytes':
      return `${bytesText(perSecond, true)}/s`;
    case 'microseconds':
      return `${durationText(perSecond / 1e6, perSecond, 'µs', true)}/s`;
    case 'milliseconds':
      return `${durationText(perSecond / 1e3, perSecond, 'ms', true)}/s`;
    case 'count':
      return `${decimal(perSecond)}/s`;
  }
}

function bytesText(value: number | bigint, fractional = false): string {
  const bytes = Number(value);
  if (Math.abs(bytes) < 1024) return fractional ? `${decimal(bytes)} B` : `${value.toString()} B`;
  let scaled = bytes / 1024;
  let step = 0;
  while (Math.abs(scaled) >= 1024 && step < BYTE_UNITS.length - 1) {
    scaled /= 1024;
    step++;
  }
  return `${scaled.toFixed(1)} ${BYTE_UNITS[step] ?? 'EiB'}`;
}

/** `seconds` as µs, ms or s; `raw` (in `rawUnit`) whole while below 1,000 of it. */
function durationText(seconds: number, raw: number | bigint, rawUnit: 'µs' | 'ms', fractional = false): string {
  const rawNumber = Number(raw);
  if (Math.abs(rawNumber) < 1000) return fractional ? `${decimal(rawNumber)} ${rawUnit}` : `${raw.toString()} ${rawUnit}`;
  if (rawUnit === 'µs' && Math.abs(seconds) < 1) return `${(seconds * 1e3).toFixed(1)} ms`;
  return `${seconds.toFixed(1)} s`;
}

/** A rate's number: one decimal, or three below 1 so that a slow rate does not read as 0. */
function decimal(value: number): string {
  if (value !== 0 && Math.abs(value) < 1) return value.toFixed(3);
  return Math.abs(value) >= 1e15 ? value.toExponential(3) : groupThousands(value.toFixed(1));
}

/** An integer (or a decimal's text) with commas between groups of three digits. */
function groupThousands(value: number | bigint | string): string {
  const text = value.toString();
  const [whole = '', fraction] = text.split('.');
  const sign = whole.startsWith('-') ? '-' : '';
  const digits = sign === '' ? whole : whole.slice(1);
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}
