/**
 * Prometheus names, types and units of a document's metrics: the one mapping every exporter uses.
 *
 * Derived from the declarations (`GroupSchema.values`: kind, unit, help, aggregation), never from
 * a list of fields kept here. For the value `<field>` of the entry `<group>`:
 *
 * - The family is `<prefix>_<group>_<field>` (`prefix` defaults to `firecracker`). Counters (`inc`)
 *   end in `_total` and carry their cumulative count; stores are gauges.
 * - Microseconds and milliseconds become seconds: a `_us`/`_ms` at the end of the field becomes
 *   `_seconds`, and a field that says no unit gets `_seconds` (`latencies_us.pause_vm` →
 *   `firecracker_latencies_pause_vm_seconds`).
 * - Bytes: a field that says `bytes` keeps it, `_bytes_count` becoming `_bytes` so that the unit
 *   ends the name (`net_<id>.rx_bytes_count` → `firecracker_net_rx_bytes_total`); one that does not
 *   gets `_bytes` (`balloon.free_page_report_freed` → `firecracker_balloon_free_page_report_freed_bytes_total`).
 * - A latency aggregate `x_agg` becomes the counter `…_x_agg_seconds_total` (its `sum_us`) and the
 *   gauges `…_x_agg_min_seconds` and `…_x_agg_max_seconds` (0 until a duration is recorded).
 * - A store named `<x>_count` becomes the gauge `<x>s` (`vmm.panic_count` → `firecracker_vmm_panics`):
 *   Prometheus reserves the suffix for histograms and summaries.
 * - A group whose key ends in a unit (`latencies_us`) loses it: `promtool check metrics` rejects an
 *   abbreviated unit as a token of a name.
 * - The groups of a family of devices are one family with a `device` label; the aggregate entry
 *   (`block`, `net`, …) is not exported, since `sum by` gives it.
 *
 * OpenTelemetry instruments (`openTelemetryInstruments`) are the same families under
 * OpenTelemetry's naming: `<prefix>.<group>.<field>` (`firecracker.balloon.inflate_count`), the
 * field as declared but for a `_us`/`_ms` suffix (the value is in seconds, and the unit says so),
 * the group's unit token dropped as above, a latency aggregate's members as `….x_agg.sum` (a
 * counter) and `….x_agg.min`/`….x_agg.max` (gauges); UCUM units (`s`, `By`, `{count}`); no
 * `_total`, since the instrument's kind says it is a counter.
 *
 * Design notes: names are checked against Prometheus's grammar and for collisions when they are
 * derived, so a group of one's own with an unusable name fails at registration, not at a scrape.
 */
import { FirecrackerMetrics } from '../document/firecracker-metrics.js';
import type { DocumentEntry, EntryShape } from '../metrics/document.js';
import type { Aggregation, ValueInfo } from '../metrics/group.js';
import type { IncMetric, StoreMetric } from '../metrics/metric.js';

export type PrometheusType = 'counter' | 'gauge';

/** One Prometheus family and the declared value it exposes. */
export interface PrometheusFamily {
  readonly name: string;
  readonly type: PrometheusType;
  /** The declared help text. */
  readonly help: string;
  /** The entry's key: a group's name, or a family of devices' prefix. */
  readonly entry: string;
  /** One sample per device, labelled `device`. */
  readonly perDevice: boolean;
  /** The value's place in the schema's `values`. */
  readonly valueIndex: number;
  readonly value: ValueInfo;
  /** The value's wire path: `api_server.process_startup_time_us`, `block_<id>.read_agg.sum_us`. */
  readonly wire: string;
  /** Powers of ten the integer is divided by to give the base unit: 6 for µs, 3 for ms. */
  readonly scale: 0 | 3 | 6;
  readonly aggregation: Aggregation;
}

export interface PrometheusNameOptions {
  /**
   * The first token of every family name; `''` for none.
   * @default 'firecracker'
   */
  readonly prefix?: string;
}

/** A declared field whose families are not `<prefix>_<group>_<field>` (plus `_total` for a counter). */
export interface PrometheusRenaming {
  /** `api_server.process_startup_time_us`; `block_<id>.read_agg` for a device's field. */
  readonly from: string;
  readonly to: readonly string[];
}

/** Prometheus's metric name grammar. */
export const PROMETHEUS_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

const TIME_SUFFIX = /_(?:us|ms)$/;

/** The families of a document's entries, in document order. */
export function prometheusFamilies(
  entries: readonly (DocumentEntry | EntryShape)[],
  options: PrometheusNameOptions = {},
): PrometheusFamily[] {
  const prefix = checkedPrefix(options.prefix);
  const families: PrometheusFamily[] = [];
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const shape = 'shape' in entry ? entry.shape : entry;
    const key = shape.kind === 'group' ? shape.key : shape.prefix;
    const perDevice = shape.kind === 'devices';
    const stem = `${prefix}${key.replace(TIME_SUFFIX, '')}`;
    shape.schema.values.forEach((value, valueIndex) => {
      const name = familyName(stem, value);
      const wire = `${perDevice ? `${key}_<id>` : key}.${value.field}${value.member === undefined ? '' : `.${value.member}`}`;
      if (!PROMETHEUS_NAME.test(name)) throw new TypeError(`Prometheus: ${wire} gives ${JSON.stringify(name)}, which is not a metric name`);
      const other = seen.get(name);
      if (other !== undefined) throw new TypeError(`Prometheus: ${wire} and ${other} both give ${name}`);
      seen.set(name, wire);
      families.push({
        name,
        type: value.kind === 'inc' ? 'counter' : 'gauge',
        help: value.help,
        entry: key,
        perDevice,
        valueIndex,
        value,
        wire,
        scale: value.unit === 'microseconds' ? 6 : value.unit === 'milliseconds' ? 3 : 0,
        aggregation: value.aggregation,
      });
    });
  }
  return families;
}

/**
 * Every declared field whose family names are more than its wire name with the prefix (and
 * `_total`): the list the README gives. Of Firecracker's whole document unless given entries.
 */
export function prometheusRenamings(
  entries: readonly (DocumentEntry | EntryShape)[] = new FirecrackerMetrics({ rtc: true }).entries,
  options: PrometheusNameOptions = {},
): PrometheusRenaming[] {
  const prefix = checkedPrefix(options.prefix);
  const renamings: PrometheusRenaming[] = [];
  for (const family of prometheusFamilies(entries, options)) {
    const plain = `${prefix}${family.entry}_${family.value.field}${family.type === 'counter' ? '_total' : ''}`;
    if (family.value.member === undefined && family.name === plain) continue;
    const from = family.wire.replace(/\.(?:min|max|sum)_us$/, '');
    const last = renamings.at(-1);
    if (last?.from === from) (last.to as string[]).push(family.name);
    else renamings.push({ from, to: [family.name] });
  }
  return renamings;
}

/** One OpenTelemetry observable instrument and the family (the declared value) it reads. */
export interface OpenTelemetryInstrument {
  /** `firecracker.block.read_bytes`, `firecracker.block.read_agg.sum`. */
  readonly name: string;
  /** A monotonic cumulative sum (`createObservableCounter`) or a gauge. */
  readonly kind: 'counter' | 'gauge';
  /** UCUM: `s` (µs and ms values are divided into seconds), `By`, `{count}`. */
  readonly unit: 's' | 'By' | '{count}';
  /** The declared help text. */
  readonly description: string;
  readonly family: PrometheusFamily;
}

/** OpenTelemetry's instrument name grammar (API specification, "Instrument name syntax"). */
export const OPENTELEMETRY_NAME = /^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$/;

/** The OpenTelemetry instruments of a document's entries, in document order: one per Prometheus family. */
export function openTelemetryInstruments(
  entries: readonly (DocumentEntry | EntryShape)[],
  options: PrometheusNameOptions = {},
): OpenTelemetryInstrument[] {
  const prefix: unknown = options.prefix ?? 'firecracker';
  if (typeof prefix !== 'string' || (prefix !== '' && !OPENTELEMETRY_NAME.test(prefix))) {
    throw new TypeError(`OpenTelemetry: prefix must be '' or an instrument name, got ${typeof prefix === 'string' ? JSON.stringify(prefix) : typeof prefix}`);
  }
  const seen = new Map<string, string>();
  return prometheusFamilies(entries, { prefix: '' }).map((family) => {
    const { value } = family;
    const time = value.unit === 'microseconds' || value.unit === 'milliseconds';
    const parts = [prefix, family.entry.replace(TIME_SUFFIX, ''), time ? value.field.replace(TIME_SUFFIX, '') : value.field];
    if (value.member !== undefined) parts.push(value.member.replace(TIME_SUFFIX, ''));
    const name = parts.filter((part) => part !== '').join('.');
    if (!OPENTELEMETRY_NAME.test(name)) throw new TypeError(`OpenTelemetry: ${family.wire} gives ${JSON.stringify(name)}, which is not an instrument name`);
    const other = seen.get(name);
    if (other !== undefined) throw new TypeError(`OpenTelemetry: ${family.wire} and ${other} both give ${name}`);
    seen.set(name, family.wire);
    return {
      name,
      kind: family.type,
      unit: time ? 's' : value.unit === 'bytes' ? 'By' : '{count}',
      description: family.help,
      family,
    };
  });
}

/** A family's value in one group, exact: a counter's `countBigInt()`, a store's `fetchBigInt()`. Reading changes nothing. */
export function readExact(family: PrometheusFamily, group: object): bigint {
  const info = family.value;
  const field = (group as Record<string, unknown>)[info.field];
  const metric = (info.member === undefined ? field : (field as Record<string, unknown>)[info.member]) as IncMetric | StoreMetric;
  return info.kind === 'inc' ? (metric as IncMetric).countBigInt() : (metric as StoreMetric).fetchBigInt();
}

function familyName(stem: string, value: ValueInfo): string {
  const field = value.field;
  if (value.unit === 'microseconds' || value.unit === 'milliseconds') {
    const base = `${stem}_${field.replace(TIME_SUFFIX, '')}`;
    if (value.member === 'sum_us') return `${base}_seconds_total`;
    if (value.member !== undefined) return `${base}_${value.member.replace(TIME_SUFFIX, '')}_seconds`;
    return `${base}_seconds${value.kind === 'inc' ? '_total' : ''}`;
  }
  let name = `${stem}_${field}`;
  if (value.unit === 'bytes') {
    name = name.replace(/_bytes_count$/, '_bytes');
    if (!name.split('_').includes('bytes')) name += '_bytes';
  }
  if (value.kind === 'inc') return name.endsWith('_total') ? name : `${name}_total`;
  return gaugeName(name);
}

/**
 * Prometheus reserves `_count`, `_sum` and `_bucket` for histograms and summaries and `_total` for
 * counters (`promtool check metrics` rejects a gauge named so): a store `<x>_count` is exported as
 * the plural `<x>s` (`vmm.panic_count` → `firecracker_vmm_panics`); the others have no natural
 * name and are refused.
 */
function gaugeName(name: string): string {
  const count = /_([a-z0-9]+)_count$/.exec(name);
  if (count !== null) return `${name.slice(0, count.index)}_${pluralNoun(count[1] as string)}`;
  const reserved = /_(?:sum|bucket|total|count)$/.exec(name);
  if (reserved !== null) throw new TypeError(`Prometheus: the gauge ${name} would end in ${reserved[0]}, which Prometheus reserves for histograms, summaries and counters; rename the field`);
  return name;
}

/** `panic` → `panics`, `entry` → `entries`, `box` → `boxes`: an English noun's plural, for a gauge's name. */
function pluralNoun(noun: string): string {
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  if (/(?:s|x|z|ch|sh)$/.test(noun)) return `${noun}es`;
  return `${noun}s`;
}

function checkedPrefix(prefix: unknown = 'firecracker'): string {
  if (typeof prefix !== 'string' || (prefix !== '' && !PROMETHEUS_NAME.test(prefix))) {
    throw new TypeError(`Prometheus: prefix must be '' or a metric name, got ${typeof prefix === 'string' ? JSON.stringify(prefix) : typeof prefix}`);
  }
  return prefix === '' ? '' : `${prefix}_`;
}
