/**
 * Metrics of the virtio-pmem devices (persistent memory backed by a host file).
 *
 * Each device has its own group, written as `pmem_<id>` (the id of the `/pmem/{id}` API
 * resource), in id order; the `pmem` entry that follows is the aggregate of all devices. Every
 * field is a counter, written as its delta since the last flush:
 *
 * ```json
 * "pmem_data0": {"activate_fails":0,"cfg_fails":0,"event_fails":0,"queue_event_count":14,
 *                "rate_limiter_throttled_events":0,"rate_limiter_event_count":0},
 * "pmem": {"activate_fails":0,"cfg_fails":0,"event_fails":0,"queue_event_count":14,…}
 * ```
 *
 * Design notes: a device calls `alloc(id)` once and increments its group directly; the same id
 * gives the same group while the device is present. `remove(id)` is hot-unplug: the entry is
 * written until a committed line has carried its last deltas, then the group is released. The aggregate is computed from the deltas the device
 * entries of the same line carry, so it always equals their sum.
 */
import { DeviceFamily } from '../../../metrics/device-family.js';
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const PmemMetrics = defineGroup('pmem', {
  activate_fails: inc('Number of times the pmem device failed to activate.'),
  cfg_fails: inc('Number of failed accesses to the pmem device configuration space.'),
  event_fails: inc('Number of pmem device events whose handling failed.'),
  queue_event_count: inc('Number of notifications received on the request (flush) queue.'),
  rate_limiter_throttled_events: inc('Number of times request processing stopped because the rate limiter ran out of budget.'),
  rate_limiter_event_count: inc('Number of rate limiter events (a throttled budget refilled).'),
});

export type PmemMetrics = GroupOf<typeof PmemMetrics>;

/** The pmem devices' metrics: one group per device, then their aggregate. */
export const METRICS = new DeviceFamily('pmem', PmemMetrics);

/**
 * The group of pmem device `id` (a non-empty string), created on first use; the same id
 * gives the same group while the device is present.
 */
export function alloc(id: string): PmemMetrics {
  return METRICS.alloc(id);
}

/** Hot-unplug of pmem device `id`: see `DeviceFamily.remove`. Returns false if not present. */
export function remove(id: string): boolean {
  return METRICS.remove(id);
}
