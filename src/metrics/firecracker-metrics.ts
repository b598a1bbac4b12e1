/**
 * The global metrics document: every group of the VMM in Firecracker's order, and `METRICS`,
 * the writer that flushes it.
 *
 * ```json
 * {"utc_timestamp_ms":1541591155180,"api_server":{"process_startup_time_us":11873,…},
 *  "balloon":{…},"block_rootfs":{…},"block":{…},"deprecated_api":{…},"get_api_requests":{…},
 *  "i8042":{…},"uart":{…},"latencies_us":{…},"logger":{…},"mmds":{…},"net_eth0":{…},"net":{…},
 *  "patch_api_requests":{…},"put_api_requests":{…},"seccomp":{…},"vcpu":{…},"vmm":{…},
 *  "signals":{…},"vsock":{…},"entropy":{…},"pmem":{…},"interrupts":{…},"memory_hotplug":{…}}
 * ```
 *
 * Each group lives in the module of the component it measures (devices under `devices/`, the
 * others under `logger/metrics/`); this module only lists their document entries, in order, and
 * gives typed access to them: `METRICS.document.vcpu.exit_io_in.inc()`.
 *
 * Design notes:
 * - The groups are module-level singletons, as in Firecracker: every `FirecrackerMetrics` shares
 *   them, so only one document should be flushed for real (the global `METRICS`).
 * - Firecracker writes `rtc` (the PL031 clock) only on aarch64. Here it is written when the
 *   document is built with `{ rtc: true }`; its group exists either way.
 */
import * as balloon from '../devices/virtio/balloon/metrics.js';
import * as block from '../devices/virtio/block/metrics.js';
import * as memoryHotplug from '../devices/virtio/mem/metrics.js';
import * as net from '../devices/virtio/net/metrics.js';
import * as pmem from '../devices/virtio/pmem/metrics.js';
import * as entropy from '../devices/virtio/rng/metrics.js';
import * as vhostUser from '../devices/virtio/vhost_user/metrics.js';
import * as vsock from '../devices/virtio/vsock/metrics.js';
import * as i8042 from '../devices/legacy/i8042/metrics.js';
import * as rtc from '../devices/legacy/rtc/metrics.js';
import * as uart from '../devices/legacy/serial/metrics.js';
import * as apiServer from '../logger/metrics/api-server.js';
import * as deprecatedApi from '../logger/metrics/deprecated-api.js';
import * as getApiRequests from '../logger/metrics/get-api-requests.js';
import * as interrupts from '../logger/metrics/interrupts.js';
import * as latenciesUs from '../logger/metrics/latencies.js';
import * as logger from '../logger/metrics/logger.js';
import * as mmds from '../logger/metrics/mmds.js';
import * as patchApiRequests from '../logger/metrics/patch-api-requests.js';
import * as putApiRequests from '../logger/metrics/put-api-requests.js';
import * as seccomp from '../logger/metrics/seccomp.js';
import * as signals from '../logger/metrics/signals.js';
import * as vcpu from '../logger/metrics/vcpu.js';
import * as vmm from '../logger/metrics/vmm.js';
import { EntryDocument, type DocumentEntry } from './document.js';
import { Metrics } from './writer.js';

/**
 * The component modules in Firecracker's document order, under their entry names: the one list
 * from which both the entries and the typed access below are derived.
 */
const COMPONENTS = {
  api_server: apiServer,
  balloon,
  block,
  deprecated_api: deprecatedApi,
  get_api_requests: getApiRequests,
  // The legacy devices, in the order Firecracker's `legacy::flush_metrics` writes them.
  i8042,
  rtc,
  uart,
  latencies_us: latenciesUs,
  logger,
  mmds,
  net,
  patch_api_requests: patchApiRequests,
  put_api_requests: putApiRequests,
  seccomp,
  vcpu,
  vmm,
  signals,
  vsock,
  entropy,
  pmem,
  vhost_user: vhostUser,
  interrupts,
  memory_hotplug: memoryHotplug,
} as const;

/**
 * Each component's metrics by entry name: a group (`vcpu.exit_io_in`), or for devices with
 * several instances their `DeviceFamily` (`block.alloc(driveId)`).
 */
export type FirecrackerGroups = { readonly [K in keyof typeof COMPONENTS]: (typeof COMPONENTS)[K]['METRICS'] };

export interface FirecrackerMetricsOptions {
  /**
   * Write the `rtc` entry after `i8042`, as Firecracker does on aarch64.
   * @default false
   */
  readonly rtc?: boolean;
}

// The class gets one property per component, assigned from COMPONENTS in the constructor; the
// interface declares them so that the list is not written a second time.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface FirecrackerMetrics extends FirecrackerGroups {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class FirecrackerMetrics extends EntryDocument {
  /** Whether the `rtc` entry is written. */
  readonly rtcEnabled: boolean;

  constructor(options: FirecrackerMetricsOptions = {}) {
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new TypeError(`FirecrackerMetrics: options must be an object, got ${given === null ? 'null' : typeof given}`);
    }
    const withRtc: unknown = options.rtc ?? false;
    if (typeof withRtc !== 'boolean') {
      throw new TypeError(`FirecrackerMetrics: options.rtc must be a boolean, got ${typeof withRtc}`);
    }
    const components = Object.entries(COMPONENTS).filter(([name]) => withRtc || name !== 'rtc');
    for (const [name, module] of components) {
      const { shape } = module.DOCUMENT_ENTRY;
      // The property name and the wire key must be one name; a mismatch is a bug in this file.
      if ((shape.kind === 'group' ? shape.key : shape.prefix) !== name) throw new Error(`FirecrackerMetrics: ${name} writes another key`);
    }
    super(components.map(([, module]): DocumentEntry => module.DOCUMENT_ENTRY));
    this.rtcEnabled = withRtc;
    for (const [name, module] of Object.entries(COMPONENTS)) Object.defineProperty(this, name, { value: module.METRICS, enumerable: true });
  }
}

/**
 * The process-wide writer of the global document. It writes `rtc` on arm64, as Firecracker does
 * on aarch64; a line it fails to write counts in `logger.missed_metrics_count`, one it fails to
 * build in `logger.metrics_fails` too.
 */
export const METRICS = new Metrics(new FirecrackerMetrics({ rtc: process.arch === 'arm64' }), {
  missedLinesMetric: logger.METRICS.missed_metrics_count,
  failedLinesMetric: logger.METRICS.metrics_fails,
});
