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
  LatencyMember,
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
export type { MetricsInitOptions, MetricsOptions } from './metrics/writer.js';
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

// The groups of the global document, by the module of the component each measures.
export type { FirecrackerGroups, FirecrackerMetricsOptions } from './metrics/firecracker-metrics.js';
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
