/**
 * Metrics of the virtio-net devices.
 *
 * Each interface has its own group, written as `net_<iface_id>` (the id of the
 * `/network-interfaces/{iface_id}` API resource, not the tap name), in id order; the `net` entry
 * that follows is the aggregate of all interfaces. Counters are written as their delta since the
 * last flush; `tap_write_agg` is a latency aggregate in microseconds:
 *
 * ```json
 * "net_eth0": {"activate_fails":0,"cfg_fails":0,"no_rx_avail_buffer":0,…,"rx_bytes_count":91244,
 *              "rx_packets_count":310,…,"tap_write_agg":{"min_us":3,"max_us":61,"sum_us":1540},
 *              "tx_bytes_count":30122,…,"tx_remaining_reqs_count":0},
 * "net_eth1": {…},
 * "net": {"activate_fails":0,…,"rx_bytes_count":98002,…}
 * ```
 *
 * Design notes:
 * - An interface calls `alloc(ifaceId)` once and increments its group directly; the same id
 *   gives the same group while the interface is present. `remove(ifaceId)` is hot-unplug: the
 *   entry is written until a committed line has carried its last deltas, then the group is
 *   released (see `DeviceFamily`).
 * - The aggregate is computed from the very deltas the interface entries of the same line carry,
 *   so it always equals their sum; its latency `min_us`/`max_us` are the least set minimum and the
 *   greatest maximum (Firecracker leaves them at 0).
 * - Firecracker has also counted `mac_address_updates` and `tx_partial_reads` here; this schema
 *   follows the current field list, which no longer has them.
 */
import { DeviceFamily } from '../../../metrics/device-family.js';
import { defineGroup, inc, latency, type GroupOf } from '../../../metrics/group.js';

export const NetDeviceMetrics = defineGroup('net', {
  activate_fails: inc('Number of times the network device failed to activate.'),
  cfg_fails: inc('Number of failed accesses to the network device configuration space.'),
  no_rx_avail_buffer: inc('Number of times a received frame waited because the guest had posted no receive buffer.'),
  no_tx_avail_buffer: inc('Number of times the transmit queue had no descriptor chain available to process.'),
  event_fails: inc('Number of network device events whose handling failed.'),
  rx_queue_event_count: inc('Number of notifications received on the receive queue.'),
  rx_event_rate_limiter_count: inc('Number of events of the receive rate limiter (a throttled budget refilled).'),
  rx_rate_limiter_throttled: inc('Number of times receiving stopped because the receive rate limiter ran out of budget.'),
  rx_tap_event_count: inc('Number of readiness events received from the tap device.'),
  rx_bytes_count: inc('Bytes delivered to the guest.'),
  rx_packets_count: inc('Number of frames delivered to the guest.'),
  rx_fails: inc('Number of errors while delivering frames to the guest.'),
  rx_count: inc('Number of successful receive operations.'),
  tap_read_fails: inc('Number of failed reads from the tap device.'),
  tap_write_fails: inc('Number of failed writes to the tap device.'),
  tap_write_agg: latency('Duration of writes to the tap device.'),
  tx_bytes_count: inc('Bytes the guest transmitted.'),
  tx_malformed_frames: inc('Number of frames from the guest that were malformed and dropped.'),
  tx_fails: inc('Number of errors while transmitting frames from the guest.'),
  tx_count: inc('Number of successful transmit operations.'),
  tx_packets_count: inc('Number of frames the guest transmitted.'),
  tx_queue_event_count: inc('Number of notifications received on the transmit queue.'),
  tx_rate_limiter_event_count: inc('Number of events of the transmit rate limiter (a throttled budget refilled).'),
  tx_rate_limiter_throttled: inc('Number of times transmitting stopped because the transmit rate limiter ran out of budget.'),
  tx_spoofed_mac_count: inc('Number of frames the guest sent with a source MAC address other than the configured one.'),
  tx_remaining_reqs_count: inc('Number of times transmit processing stopped with frames still pending in the queue.'),
});

export type NetDeviceMetrics = GroupOf<typeof NetDeviceMetrics>;

/** The network interfaces' metrics: one group per interface, then their aggregate. */
export const METRICS = new DeviceFamily('net', NetDeviceMetrics);

/**
 * The group of interface `ifaceId` (a non-empty string), created on first use; the same id
 * gives the same group while the interface is present.
 */
export function alloc(ifaceId: string): NetDeviceMetrics {
  return METRICS.alloc(ifaceId);
}

/** Hot-unplug of interface `ifaceId`: see `DeviceFamily.remove`. Returns false if not present. */
export function remove(ifaceId: string): boolean {
  return METRICS.remove(ifaceId);
}
