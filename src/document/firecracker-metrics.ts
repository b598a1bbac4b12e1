/**
 * Firecracker's metrics document: every group of the VMM in Firecracker's order.
 *
 * ```json
 * {"utc_timestamp_ms":1541591155180,"api_server":{"process_startup_time_us":11873,…},
 *  "balloon":{…},"block_rootfs":{…},"block":{…},"deprecated_api":{…},"get_api_requests":{…},
 *  "i8042":{…},"uart":{…},"latencies_us":{…},"logger":{…},"mmds":{…},"net_eth0":{…},"net":{…},
 *  "patch_api_requests":{…},"put_api_requests":{…},"seccomp":{…},"vcpu":{…},"vmm":{…},
 *  "signals":{…},"vsock":{…},"entropy":{…},"pmem":{…},"interrupts":{…},"memory_hotplug":{…}}
 * ```
 *
 * Each group is declared in the module of the component it measures (devices under `devices/`,
 * the others under `logger/metrics/`), which also holds the process-wide instance device code
 * increments by default (`METRICS`). This module only lists those modules, in order, and builds
 * documents of them: it depends on the groups, and nothing in the core or the groups depends on it.
 *
 * Design notes:
 * - A document per VM: `new FirecrackerMetrics()` owns fresh groups (and device families) of its
 *   own, so that one process can host several VMs, each written by its own `Metrics`. The global
 *   document (`METRICS` in `global-metrics.ts`) is built from the module-level groups instead
 *   (`FirecrackerMetrics.moduleGroups()`); any group can be given this way.
 * - A writer of a `FirecrackerMetrics` counts its missed and failed lines in the document's own
 *   `logger.missed_metrics_count` and `logger.metrics_fails`, as Firecracker does.
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
import { DeviceFamily } from '../metrics/device-family.js';
import { EntryDocument, groupEntry, type DocumentEntry, type WriterMetrics } from '../metrics/document.js';
import { schemaOf, type GroupFields, type MetricGroup } from '../metrics/group.js';

/**
 * The component modules in Firecracker's document order, under their entry names: the one list
 * from which the entries, the typed access and the fresh groups of a document are derived.
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

type ComponentName = keyof typeof COMPONENTS;

/**
 * Each component's metrics by entry name: a group (`vcpu.exit_io_in`), or for devices with
 * several instances their `DeviceFamily` (`block.alloc(driveId)`).
 */
export type FirecrackerGroups = { readonly [K in ComponentName]: (typeof COMPONENTS)[K]['METRICS'] };

export interface FirecrackerMetricsOptions {
  /**
   * Write the `rtc` entry after `i8042`, as Firecracker does on aarch64.
   * @default false
   */
  readonly rtc?: boolean;
  /**
   * Groups (or device families) to write instead of fresh ones, e.g. groups shared with other
   * documents, or `FirecrackerMetrics.moduleGroups()` for the process-wide ones.
   * @default fresh groups of this document's own
   */
  readonly groups?: Partial<FirecrackerGroups>;
}

type AnyMetrics = MetricGroup<GroupFields> | DeviceFamily<GroupFields>;

// The class gets one property per component, assigned from COMPONENTS in the constructor; the
// interface declares them so that the list is not written a second time.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface FirecrackerMetrics extends FirecrackerGroups {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class FirecrackerMetrics extends EntryDocument {
  /** Whether the `rtc` entry is written. */
  readonly rtcEnabled: boolean;
  readonly writerMetrics: WriterMetrics;

  /** The process-wide groups each component module holds (`METRICS`), which device code increments by default. */
  static moduleGroups(): FirecrackerGroups {
    return Object.fromEntries(Object.entries(COMPONENTS).map(([name, module]) => [name, module.METRICS])) as unknown as FirecrackerGroups;
  }

  constructor(options: FirecrackerMetricsOptions = {}) {
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new TypeError(`FirecrackerMetrics: options must be an object, got ${given === null ? 'null' : typeof given}`);
    }
    const withRtc: unknown = options.rtc ?? false;
    if (typeof withRtc !== 'boolean') {
      throw new TypeError(`FirecrackerMetrics: options.rtc must be a boolean, got ${typeof withRtc}`);
    }
    const groups = (options.groups ?? {}) as Partial<Record<ComponentName, AnyMetrics>>;
    const metrics = new Map<ComponentName, AnyMetrics>();
    for (const [name, module] of Object.entries(COMPONENTS) as [ComponentName, { METRICS: AnyMetrics }][]) {
      metrics.set(name, checkedGroup(name, groups[name], module.METRICS) ?? freshLike(module.METRICS));
    }
    const entries: DocumentEntry[] = [];
    for (const [name, m] of metrics) {
      if (name === 'rtc' && !withRtc) continue;
      entries.push(m instanceof DeviceFamily ? m : groupEntry(schemaOf(m), m, { optional: name === 'rtc' }));
    }
    super(entries);
    this.rtcEnabled = withRtc;
    for (const [name, m] of metrics) Object.defineProperty(this, name, { value: m, enumerable: true });
    const ownLogger = metrics.get('logger') as logger.LoggerSystemMetrics;
    this.writerMetrics = { missedLines: ownLogger.missed_metrics_count, failedLines: ownLogger.metrics_fails };
  }
}

/** A fresh, empty instance of the same declaration as `metrics`. */
function freshLike(metrics: AnyMetrics): AnyMetrics {
  return metrics instanceof DeviceFamily ? metrics.createEmpty() : schemaOf(metrics).create();
}

/** `given`, if it is metrics of the same declaration as the module's; undefined if not given. */
function checkedGroup(name: string, given: AnyMetrics | undefined, declared: AnyMetrics): AnyMetrics | undefined {
  if (given === undefined) return undefined;
  const same =
    declared instanceof DeviceFamily
      ? given instanceof DeviceFamily && given.schema === declared.schema && given.prefix === declared.prefix && given.aggregate === declared.aggregate
      : !(given instanceof DeviceFamily) && schemaOf(declared).owns(given);
  if (!same) throw new TypeError(`FirecrackerMetrics: options.groups.${name} is not a ${name} ${declared instanceof DeviceFamily ? 'device family' : 'group'}`);
  return given;
}
