/**
 * vmm-metrics: Firecracker's metrics system for TypeScript.
 *
 * The core (metric kinds, group declarations, the flush line), the writer and the global
 * document. Device groups are imported from their own subpaths, e.g. `vmm-metrics/balloon`.
 */
export type { IncMetric, StoreMetric } from './metrics/metric.js';
export type { MetricUnit } from './metrics/units.js';
export type {
  Aggregation,
  FieldInfo,
  GroupFields,
  GroupOf,
  MetricGroup,
  MetricKind,
  MetricSpec,
  MetricSpecOptions,
  ValueInfo,
} from './metrics/group.js';
export type { LineHeader } from './metrics/line.js';
export type { DocumentEntry, EntryShape, MetricsDocument, MetricsSection } from './metrics/document.js';
export type { DeviceFamilyOptions } from './metrics/device-family.js';
export type { MetricsDestination } from './metrics/destination.js';
export type { MetricsInitOptions } from './metrics/writer.js';
export type { LatencyRecorder } from './metrics/latency.js';
export type { U64 } from './metrics/u64.js';

export { LocalIncMetric } from './metrics/inc-metric.js';
export { LocalStoreMetric } from './metrics/store-metric.js';
export { AtomicIncMetric, AtomicStoreMetric } from './metrics/atomic-metrics.js';
export { LatencyAggregateMetrics } from './metrics/latency.js';
export { defineGroup, GroupSchema, inc, latency, store } from './metrics/group.js';
export { unitFromName } from './metrics/units.js';
export { MetricsLine } from './metrics/line.js';
export { devicesEntry, EntryDocument, groupEntry } from './metrics/document.js';
export { DeviceFamily } from './metrics/device-family.js';
export { DEFAULT_FLUSH_INTERVAL_MS, Metrics } from './metrics/writer.js';
export { FirecrackerMetrics, METRICS } from './metrics/firecracker-metrics.js';
export {
  MetricsAlreadyInitializedError,
  MetricsDestinationError,
  MetricsError,
  MetricsWriteError,
} from './metrics/errors.js';
