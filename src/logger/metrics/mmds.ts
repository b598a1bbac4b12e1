/**
 * Metrics of the MMDS (microVM metadata service): the guest reaches it over a network interface,
 * whose frames addressed to it are diverted to a minimal TCP/HTTP stack inside the VMM.
 *
 * ```json
 * "mmds": {"rx_accepted":42,"rx_accepted_err":0,"rx_accepted_unusual":0,"rx_bad_eth":0,
 *          "rx_invalid_token":0,"rx_no_token":0,"rx_count":42,"tx_bytes":9120,"tx_count":40,
 *          "tx_errors":0,"tx_frames":40,"connections_created":3,"connections_destroyed":3}
 * ```
 *
 * Every field is a counter, written as its delta since the last flush. `rx_` counts what the guest
 * sent to the MMDS, `tx_` what the MMDS sent back; the token counters concern MMDS version 2, where
 * GET requests must carry a session token.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const MmdsMetrics = defineGroup('mmds', {
  rx_accepted: inc('Number of guest frames diverted to the MMDS.'),
  rx_accepted_err: inc('Number of diverted frames whose handling by the MMDS failed.'),
  rx_accepted_unusual: inc('Number of unusual events (such as unexpected TCP segments) while the MMDS handled frames.'),
  rx_bad_eth: inc('Number of buffers the MMDS could not parse as Ethernet frames.'),
  rx_invalid_token: inc('Number of GET requests whose session token was invalid or expired.'),
  rx_no_token: inc('Number of GET requests that carried no session token.'),
  rx_count: inc('Number of frames the MMDS received successfully.'),
  tx_bytes: inc('Bytes the MMDS sent to the guest.'),
  tx_count: inc('Number of successful send operations of the MMDS.'),
  tx_errors: inc('Number of errors while the MMDS was sending frames to the guest.'),
  tx_frames: inc('Number of frames the MMDS sent to the guest.'),
  connections_created: inc('Number of TCP connections the MMDS accepted.'),
  connections_destroyed: inc('Number of TCP connections the MMDS closed and cleaned up.'),
});

export type MmdsMetrics = GroupOf<typeof MmdsMetrics>;

/** The MMDS metrics, incremented by the MMDS and flushed by the global document. */
export const METRICS: MmdsMetrics = MmdsMetrics.create();
