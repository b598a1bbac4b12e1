/**
 * Metrics of the virtio-vsock device: the device itself, its connection multiplexer (muxer) and
 * every connection it carries.
 *
 * A VM has at most one vsock device, so there are no per-device entries: the `vsock` entry covers
 * the device and all its connections together. Every field is a counter, written as its delta
 * since the last flush:
 *
 * ```json
 * "vsock": {"activate_fails":0,"cfg_fails":0,"rx_queue_event_fails":0,…,"rx_bytes_count":20480,
 *           "tx_bytes_count":4096,"rx_packets_count":12,"tx_packets_count":9,"conns_added":2,
 *           "conns_killed":0,"conns_removed":1,…,"rx_read_fails":0}
 * ```
 *
 * The device, the muxer and the connections increment `METRICS` directly; a VM's
 * document writes the entry (all zeros before the device exists, as in Firecracker).
 */
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const VsockDeviceMetrics = defineGroup('vsock', {
  activate_fails: inc('Number of times the vsock device failed to activate.'),
  cfg_fails: inc('Number of failed accesses to the vsock device configuration space.'),
  rx_queue_event_fails: inc('Number of receive queue notifications whose handling failed.'),
  tx_queue_event_fails: inc('Number of transmit queue notifications whose handling failed.'),
  ev_queue_event_fails: inc('Number of event queue notifications whose handling failed.'),
  muxer_event_fails: inc('Number of connection multiplexer events whose handling failed.'),
  conn_event_fails: inc('Number of events on individual connections whose handling failed.'),
  rx_queue_event_count: inc('Number of notifications received on the receive queue.'),
  tx_queue_event_count: inc('Number of notifications received on the transmit queue.'),
  rx_bytes_count: inc('Bytes delivered to the guest.'),
  tx_bytes_count: inc('Bytes the guest sent.'),
  rx_packets_count: inc('Number of packets delivered to the guest.'),
  tx_packets_count: inc('Number of packets the guest sent.'),
  conns_added: inc('Number of connections set up.'),
  conns_killed: inc('Number of connections forcibly terminated, for example after a shutdown timed out.'),
  conns_removed: inc('Number of connections torn down and forgotten.'),
  killq_resync: inc('Number of times the queue of connections awaiting termination was rebuilt.'),
  tx_flush_fails: inc('Number of failures flushing buffered guest data to a host socket.'),
  tx_write_fails: inc('Number of failures writing guest data to a host socket.'),
  rx_read_fails: inc('Number of failures reading data from a host socket for the guest.'),
});

export type VsockDeviceMetrics = GroupOf<typeof VsockDeviceMetrics>;

/** The vsock device's metrics, incremented by the device and flushed by the global document. */
export const METRICS: VsockDeviceMetrics = VsockDeviceMetrics.create();
