/**
 * Records: the content of a metrics line, with exact values.
 *
 * Numbers follow the metrics core's `U64` convention: a `number` while the value is a safe
 * integer (at most 2^53 − 1), a `bigint` above, so that `value === 0` and arithmetic on the
 * common case need no conversion and no digit is ever lost.
 */
import { compareKeys } from '../metrics/key-order.js';
import type { U64 } from '../metrics/u64.js';
import { formatExactJson, JsonDecimal, JsonLongInteger, type ExactJson, type ExactJsonObject } from './exact-json.js';
import type { Problem } from './problems.js';

export interface MetricsRecord {
  /** Milliseconds since the Unix epoch, when the line was flushed. */
  readonly utc_timestamp_ms: number;
  /** The writer's `id`, when the line carries one (a string). */
  readonly id?: string;
  /** Operator-defined `properties`, when the line carries them (string values only). */
  readonly properties?: Readonly<Record<string, string>>;
  /**
   * Every other top-level entry of the line, by key, in line order: groups (`"balloon"`), device
   * entries (`"block_rootfs"`) and aggregates (`"block"`), plus any entry the schema does not
   * know, kept as it is. In a line without error problems, each declared value is a `U64` and
   * each latency field an object `{ min_us, max_us, sum_us }` of `U64`s. A value written with a
   * fraction or an exponent is a `JsonDecimal`, an integer of more than 20 digits a
   * `JsonLongInteger`.
   */
  readonly groups: Readonly<Record<string, ExactJson>>;
}

/** What a reader gives for each line. */
export interface MetricsReading {
  /** 1-based line number in the source (after a truncated or replaced file, in the new file). */
  readonly lineNumber: number;
  /**
   * The record, or undefined when the line is broken: not JSON, not an object, or without an
   * integer `utc_timestamp_ms`. A broken line is reported (`problems`) and otherwise skipped.
   */
  readonly record: MetricsRecord | undefined;
  /** Errors and warnings, in line order. */
  readonly problems: readonly Problem[];
  /** No error-level problem (warnings allowed). */
  readonly valid: boolean;
}

/**
 * The record as a compact metrics line (without newline), exact digits: the timestamp, `id`,
 * `properties` (keys in the writer's order), then the groups in order. For a valid line written
 * by this library or by Firecracker (compact JSON), this is the line as it was written.
 */
export function formatRecord(record: MetricsRecord): string {
  let json = `{"utc_timestamp_ms":${formatExactJson(record.utc_timestamp_ms)}`;
  if (record.id !== undefined) json += `,"id":${JSON.stringify(record.id)}`;
  if (record.properties !== undefined) {
    const keys = Object.keys(record.properties).sort(compareKeys);
    const props = record.properties;
    json += `,"properties":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(props[k])}`).join(',')}}`;
  }
  for (const [key, value] of Object.entries(record.groups)) json += `,${JSON.stringify(key)}:${formatExactJson(value)}`;
  return `${json}}`;
}

/** Whether a value is a `U64`-shaped number (an integer from 0 to 2^64 − 1). */
export function isU64(value: ExactJson | undefined): value is U64 {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 && !Object.is(value, -0);
  return typeof value === 'bigint' && value >= 0n && value <= 0xffff_ffff_ffff_ffffn;
}

/**
 * One value of a record: `metricValue(r, 'block_rootfs', 'read_count')`, or with a latency
 * member: `metricValue(r, 'vcpu', 'exit_io_in_agg', 'sum_us')`. Undefined when absent or not a u64.
 */
export function metricValue(record: MetricsRecord, key: string, field: string, member?: string): U64 | undefined {
  const group = Object.hasOwn(record.groups, key) ? record.groups[key] : undefined;
  let value = isObject(group) && Object.hasOwn(group, field) ? group[field] : undefined;
  if (member !== undefined) value = isObject(value) && Object.hasOwn(value, member) ? value[member] : undefined;
  return isU64(value) ? value : undefined;
}

/** A numeric value of a record and where it is: `[key, field]` or `[key, field, member]`. */
export interface RecordNumber {
  readonly path: readonly string[];
  readonly value: number | bigint;
}

/** Every integer in the record's groups, depth first in line order (including unknown entries). */
export function recordNumbers(record: MetricsRecord): RecordNumber[] {
  const out: RecordNumber[] = [];
  const walk = (value: ExactJson, path: string[]): void => {
    if (typeof value === 'number' || typeof value === 'bigint') {
      out.push({ path, value });
    } else if (isObject(value)) {
      for (const [key, member] of Object.entries(value)) walk(member, [...path, key]);
    }
  };
  for (const [key, value] of Object.entries(record.groups)) walk(value, [key]);
  return out;
}

function isObject(value: ExactJson | undefined): value is ExactJsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonDecimal) && !(value instanceof JsonLongInteger);
}
