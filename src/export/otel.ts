/**
 * vmm-metrics/otel: a document's metrics as OpenTelemetry observable instruments, read at collection time.
 *
 * ```ts
 * const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] });
 * const { unregister } = registerOpenTelemetry(provider.getMeter('vmm'), { document: vm, attributes: { vm: 'vm-42' } });
 * // firecracker.block.read_bytes {device="rootfs", vm="vm-42"}: a monotonic cumulative sum, unit By
 * ```
 *
 * Design notes:
 * - The instruments are the Prometheus families under OpenTelemetry's names (`names.ts`,
 *   `openTelemetryInstruments`): counters are `createObservableCounter` (monotonic sums; their
 *   values are the cumulative `count()`, so the SDK's default cumulative temporality is what is
 *   sent), stores are `createObservableGauge`, a latency aggregate is a counter of seconds (its
 *   `sum_us`) and min/max gauges. Per-device groups carry a `device` attribute; the aggregate
 *   entries (`block`, `net`, …) are not exported.
 * - One batch callback (`meter.addBatchObservableCallback`) reads every value of the document
 *   once per collection; nothing is added to the increment path, and reading changes nothing: a
 *   collection never resets a counter or disturbs the deltas the JSON lines carry.
 * - Values past 2^53: OpenTelemetry's API takes numbers, so such a value is observed as the
 *   nearest double (2^60 + 3 → 1152921504606846976); µs and ms are divided into seconds.
 * - The SDK's cardinality limit (2,000 attribute sets per instrument unless a View or the reader
 *   sets another) sums every further set into one `otel.metric.overflow` point, without an
 *   error. Each registration records the sets it gives its meter's instruments, over every
 *   registration on that meter, and warns once when one instrument passes the limit it is told.
 * - `@opentelemetry/api` is imported for its types only: this module never loads it, and the
 *   user's `Meter` comes from whatever API version their SDK uses.
 */
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { DocumentEntry, EntryGroup } from '../metrics/document.js';
import { cardinalityWarning, meterCardinality, SDK_DEFAULT_CARDINALITY_LIMIT } from './otel-cardinality.js';
import { openTelemetryInstruments, readExact, type OpenTelemetryInstrument, type PrometheusNameOptions } from './names.js';

export interface OpenTelemetryOptions extends PrometheusNameOptions {
  /** The document to expose: a `FirecrackerMetrics`, an `EntryDocument`, anything with `entries`. */
  readonly document: { readonly entries: readonly DocumentEntry[] };
  /** Attributes on every point, e.g. `{ vm: 'vm-42' }`; `device` is taken by the per-device groups. */
  readonly attributes?: Readonly<Record<string, string>>;
  /**
   * The cardinality limit the SDK applies to these instruments (a View's
   * `aggregationCardinalityLimit`, or the reader's `cardinalitySelector`). Past it the SDK sums
   * points into one `otel.metric.overflow` point, so `onWarning` hears once when an instrument
   * on this meter, over every registration, holds more attribute sets than the limit keeps.
   * @default 2000, the SDK's default
   */
  readonly cardinalityLimit?: number;
  /**
   * Hears that warning.
   * @default process.emitWarning
   */
  readonly onWarning?: (message: string) => void;
}

/** What `registerOpenTelemetry` created. */
export interface OpenTelemetryRegistration {
  /** The instrument names, in document order. */
  readonly names: readonly string[];
  /** Removes the batch callback: the instruments are observed no more. */
  unregister(): void;
}

interface Bound {
  readonly instrument: OpenTelemetryInstrument;
  readonly observable: Observable;
  readonly entry: DocumentEntry & { groups(): readonly EntryGroup[] };
}

/**
 * Creates one observable instrument per family of `document` on `meter`, and one batch callback
 * that observes them all. Throws, creating nothing, when an entry cannot be read at collection
 * time or an attribute is unusable.
 */
export function registerOpenTelemetry(meter: Meter, options: OpenTelemetryOptions): OpenTelemetryRegistration {
  const attributes = checkedAttributes(options.attributes ?? {});
  const limit = options.cardinalityLimit ?? SDK_DEFAULT_CARDINALITY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`OpenTelemetry: cardinalityLimit must be a whole number of at least 1, got ${String(limit)}`);
  const onWarning: unknown = options.onWarning;
  if (onWarning !== undefined && typeof onWarning !== 'function') throw new TypeError(`OpenTelemetry: onWarning must be a function, got ${typeof onWarning}`);
  const warn = options.onWarning ?? ((message: string) => { process.emitWarning(message, 'CardinalityWarning'); });
  const cardinality = meterCardinality(meter);
  const attributesKey = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const entries = options.document.entries;
  const instruments = openTelemetryInstruments(entries, options.prefix === undefined ? {} : { prefix: options.prefix });
  const byKey = new Map<string, DocumentEntry>();
  for (const entry of entries) byKey.set(entry.shape.kind === 'group' ? entry.shape.key : entry.shape.prefix, entry);
  const readable = instruments.map((instrument) => {
    const entry = byKey.get(instrument.family.entry);
    if (entry?.groups === undefined) throw new TypeError(`OpenTelemetry: the entry ${instrument.family.entry} cannot be read at collection time (it has no groups())`);
    return { instrument, entry: entry as DocumentEntry & { groups(): readonly EntryGroup[] } };
  });
  const bound: Bound[] = readable.map(({ instrument, entry }) => {
    const metadata = { description: instrument.description, unit: instrument.unit };
    const observable = instrument.kind === 'counter' ? meter.createObservableCounter(instrument.name, metadata) : meter.createObservableGauge(instrument.name, metadata);
    return { instrument, observable, entry };
  });
  // The entries read, each with the first of its instruments: the instruments of an entry share
  // their attribute sets, and those of the same prefix and entry share them on the meter.
  const families = new Map<DocumentEntry & { groups(): readonly EntryGroup[] }, { readonly key: string; readonly name: string }>();
  for (const { instrument, entry } of bound) {
    if (!families.has(entry)) families.set(entry, { key: `${options.prefix ?? ''}\u0000${instrument.family.entry}`, name: instrument.name });
  }
  const callback = (result: BatchObservableResult): void => {
    for (const { instrument, observable, entry } of bound) {
      const scale = instrument.family.scale;
      for (const { device, group } of entry.groups()) {
        const exact = readExact(instrument.family, group);
        const value = scale === 0 ? Number(exact) : Number(exact) / 10 ** scale;
        result.observe(observable, value, device === undefined ? attributes : { ...attributes, device });
      }
    }
    for (const [entry, { key, name }] of families) {
      const keys = entry.groups().map(({ device }) => (device === undefined ? attributesKey : `${attributesKey}\u0000${device}`));
      cardinality.observe(key, keys, limit, (sets) => {
        warn(cardinalityWarning(name, sets, limit));
      });
    }
  };
  const observables = bound.map((b) => b.observable);
  meter.addBatchObservableCallback(callback, observables);
  let registered = true;
  return {
    names: bound.map((b) => b.instrument.name),
    unregister: () => {
      if (!registered) return;
      registered = false;
      meter.removeBatchObservableCallback(callback, observables);
    },
  };
}

function checkedAttributes(attributes: Readonly<Record<string, string>>): Attributes {
  for (const [name, value] of Object.entries(attributes)) {
    if (name === '' || name === 'device') throw new TypeError(`OpenTelemetry: ${JSON.stringify(name)} cannot be an attribute of these metrics`);
    if (typeof value !== 'string') throw new TypeError(`OpenTelemetry: attribute ${name} must be a string, got ${typeof value}`);
  }
  return { ...attributes };
}
