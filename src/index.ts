/**
 * vmm-metrics: Firecracker's metrics system for TypeScript.
 *
 * From this entry point: the core (metric kinds, group declarations, lines, documents, device
 * families, the writer and its errors); Firecracker's document (`FirecrackerMetrics`, one per VM)
 * and the process-wide writer of the global one (`METRICS`); the process time reporter; and the
 * schemas of the groups that have no subpath of their own. The device groups and families are
 * imported from their subpaths (`vmm-metrics/balloon`, `vmm-metrics/block`, …), the reader from
 * `vmm-metrics/reader`.
 */
export type { IncMetric, StoreMetric } from './metrics/metric.js';
export type { MetricUnit } from './metrics/units.js';
export type {
  Aggregation,
  FieldInfo,
  GroupFields,
  GroupOf,
  LatencyMember,
  MetricGroup,
  MetricKind,
  MetricSpec,
  MetricSpecOptions,
  ValueInfo,
} from './metrics/group.js';
export type { DocumentEntry, EntryGroup, EntryShape, MetricsDocument, WriterMetrics } from './metrics/document.js';
export type { DeviceFamilyOptions } from './metrics/device-family.js';
export type { MetricsDestination } from './metrics/destination.js';
export type { LineWritable } from './metrics/stream-sink.js';
export type { MetricsInitOptions, MetricsOptions } from './metrics/writer.js';
export type { LatencyRecorder } from './metrics/latency.js';
export type { U64 } from './metrics/u64.js';

export { LocalIncMetric } from './metrics/inc-metric.js';
export { LocalStoreMetric } from './metrics/store-metric.js';
export { AtomicIncMetric, AtomicStoreMetric } from './metrics/atomic-metrics.js';
export { LatencyAggregateMetrics } from './metrics/latency.js';
export { defineGroup, GroupSchema, inc, latency, schemaOf, store } from './metrics/group.js';
export { unitFromName } from './metrics/units.js';
export type { MetricsLine } from './metrics/line.js';
export { EntryDocument, groupEntry } from './metrics/document.js';
export { DeviceFamily } from './metrics/device-family.js';
export { DEFAULT_FLUSH_INTERVAL_MS, Metrics } from './metrics/writer.js';
export { FirecrackerMetrics } from './document/firecracker-metrics.js';
export { METRICS } from './document/global-metrics.js';
export {
  MetricsAlreadyInitializedError,
  MetricsDestinationError,
  MetricsError,
  MetricsWriteError,
  MetricsWriteInProgressError,
} from './metrics/errors.js';

// The groups of the global document, by the module of the component each measures.
export type { FirecrackerGroups, FirecrackerMetricsOptions } from './document/firecracker-metrics.js';
export type { ProcessClock, ProcessTimeReporterOptions } from './logger/process-time.js';
export {
  measureLatencyUs,
  monotonicTimeUs,
  processCpuTimeUs,
  processStartTimeUs,
  ProcessTimeReporter,
  startLatencyUs,
  storeElapsedUs,
} from './logger/process-time.js';
export { ApiServerMetrics } from './logger/metrics/api-server.js';
export { DeprecatedApiMetrics } from './logger/metrics/deprecated-api.js';
export { GetRequestsMetrics } from './logger/metrics/get-api-requests.js';
export { PatchRequestsMetrics } from './logger/metrics/patch-api-requests.js';
export { PutRequestsMetrics } from './logger/metrics/put-api-requests.js';
export { PerformanceMetrics } from './logger/metrics/latencies.js';
export { LoggerSystemMetrics } from './logger/metrics/logger.js';
export { MmdsMetrics } from './logger/metrics/mmds.js';
export { SeccompMetrics } from './logger/metrics/seccomp.js';
export { VcpuMetrics } from './logger/metrics/vcpu.js';
export { VmmMetrics } from './logger/metrics/vmm.js';
export { SignalMetrics } from './logger/metrics/signals.js';
export { InterruptMetrics } from './logger/metrics/interrupts.js';
export { EntropyDeviceMetrics } from './devices/virtio/rng/metrics.js';
export { VsockDeviceMetrics } from './devices/virtio/vsock/metrics.js';
export { VirtioMemDeviceMetrics } from './devices/virtio/mem/metrics.js';
export { I8042DeviceMetrics } from './devices/legacy/i8042/metrics.js';
export { RtcDeviceMetrics } from './devices/legacy/rtc/metrics.js';
export { SerialDeviceMetrics } from './devices/legacy/serial/metrics.js';
