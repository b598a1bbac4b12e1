/**
 * Metrics of the virtio-block devices.
 *
 * Each drive has its own group, written as `block_<drive_id>` (the id of the `/drives/{drive_id}`
 * API resource), in id order; the `block` entry that follows is the aggregate of all drives, kept
 * for readers of the time when Firecracker wrote block metrics only as a whole. Counters are
 * written as their delta since the last flush; `read_agg` and `write_agg` are latency aggregates
 * in microseconds:
 *
 * ```json
 * "block_rootfs": {"activate_fails":0,"cfg_fails":0,"no_avail_buffer":0,…,"read_bytes":524288,
 *                  "write_bytes":4096,"read_count":128,"write_count":1,
 *                  "read_agg":{"min_us":18,"max_us":950,"sum_us":7311},…,"remaining_reqs_count":0},
 * "block_scratch": {…},
 * "block": {"activate_fails":0,…,"read_bytes":528384,…}
 * ```
 *
 * Design notes:
 * - A drive calls `alloc(driveId)` once, keeps the group and increments it directly; the same id
 *   gives the same group while the drive is present.
 * - `remove(driveId)` is hot-unplug: the drive's entry is written until a committed line has
 *   carried its last deltas, then its group is released, so hot-plug churn holds no memory. Ids are ordered by code point, which
 *   for well-formed ids is the UTF-8 byte order of Firecracker's `BTreeMap`.
 * - The aggregate is computed from the deltas the device entries of the same line carry, so it
 *   always equals their sum; its latency `min_us`/`max_us` are the least set minimum and the
 *   greatest maximum of the drives (Firecracker leaves them at 0).
 */
import { DeviceFamily } from '../../../metrics/device-family.js';
import { defineGroup, inc, latency, type GroupOf } from '../../../metrics/group.js';

export const BlockDeviceMetrics = defineGroup('block', {
  activate_fails: inc('Number of times the block device failed to activate.'),
  cfg_fails: inc('Number of failed accesses to the block device configuration space.'),
  no_avail_buffer: inc('Number of times the request queue had no descriptor chain available to process.'),
  event_fails: inc('Number of block device events whose handling failed.'),
  execute_fails: inc('Number of requests whose execution against the backing file failed.'),
  invalid_reqs_count: inc('Number of malformed or unsupported requests the guest submitted.'),
  flush_count: inc('Number of flush requests executed.'),
  queue_event_count: inc('Number of notifications received on the request queue.'),
  rate_limiter_event_count: inc('Number of rate limiter events (a throttled budget refilled).'),
  update_count: inc('Number of times the drive was updated through the API (backing file or limits).'),
  update_fails: inc('Number of drive updates through the API that failed.'),
  read_bytes: inc('Bytes read from the backing file on behalf of the guest.'),
  write_bytes: inc('Bytes written to the backing file on behalf of the guest.'),
  read_count: inc('Number of read requests completed successfully.'),
  write_count: inc('Number of write requests completed successfully.'),
  read_agg: latency('Duration of read requests.'),
  write_agg: latency('Duration of write requests.'),
  rate_limiter_throttled_events: inc('Number of times request processing stopped because the rate limiter ran out of budget.'),
  io_engine_throttled_events: inc('Number of times request processing stopped because the I/O engine submission queue was full.'),
  remaining_reqs_count: inc('Number of times processing stopped with requests still pending in the queue.'),
});

export type BlockDeviceMetrics = GroupOf<typeof BlockDeviceMetrics>;

/** The block devices' metrics: one group per drive, then their aggregate. */
export const METRICS = new DeviceFamily('block', BlockDeviceMetrics);

/**
 * The group of drive `driveId` (a non-empty string), created on first use; the same id
 * gives the same group while the device is present.
 */
export function alloc(driveId: string): BlockDeviceMetrics {
  return METRICS.alloc(driveId);
}

/** Hot-unplug of drive `driveId`: see `DeviceFamily.remove`. Returns false if it is not present. */
export function remove(driveId: string): boolean {
  return METRICS.remove(driveId);
}
