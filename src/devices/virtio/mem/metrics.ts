/**
 * Metrics of the virtio-mem device, through which memory is hot-plugged into and unplugged from
 * the guest.
 *
 * A VM has at most one virtio-mem device, so there are no per-device entries: the
 * `memory_hotplug` entry is the device's own. Counters are written as their delta since the last
 * flush; each `_agg` field is a latency aggregate in microseconds of one kind of guest request
 * (plug, unplug, unplug-all, state query):
 *
 * ```json
 * "memory_hotplug": {"activate_fails":0,"queue_event_fails":0,"queue_event_count":8,
 *                    "plug_agg":{"min_us":40,"max_us":310,"sum_us":702},"plug_count":4,
 *                    "plug_bytes":536870912,"plug_fails":0,…,"state_count":2,"state_fails":0}
 * ```
 *
 * The device increments `METRICS` (the global document's group) or the group of its VM's
 * document.
 */
import { defineGroup, inc, latency, type GroupOf } from '../../../metrics/group.js';

export const VirtioMemDeviceMetrics = defineGroup('memory_hotplug', {
  activate_fails: inc('Number of times the virtio-mem device failed to activate.'),
  queue_event_fails: inc('Number of request queue notifications whose handling failed.'),
  queue_event_count: inc('Number of notifications received on the request queue.'),
  plug_agg: latency('Duration of plug requests.'),
  plug_count: inc('Number of plug requests handled.'),
  plug_bytes: inc('Bytes of memory plugged into the guest.'),
  plug_fails: inc('Number of plug requests that failed.'),
  unplug_agg: latency('Duration of unplug requests.'),
  unplug_count: inc('Number of unplug requests handled.'),
  unplug_bytes: inc('Bytes of memory unplugged from the guest.'),
  unplug_fails: inc('Number of unplug requests that failed.'),
  unplug_discard_fails: inc('Number of times discarding the host memory behind an unplugged range failed.'),
  unplug_all_agg: latency('Duration of unplug-all requests.'),
  unplug_all_count: inc('Number of unplug-all requests handled.'),
  unplug_all_fails: inc('Number of unplug-all requests that failed.'),
  state_agg: latency('Duration of state requests (the guest asking whether a range is plugged).'),
  state_count: inc('Number of state requests handled.'),
  state_fails: inc('Number of state requests that failed.'),
});

export type VirtioMemDeviceMetrics = GroupOf<typeof VirtioMemDeviceMetrics>;

/** The virtio-mem device's metrics, incremented by the device and flushed by the global document. */
export const METRICS: VirtioMemDeviceMetrics = VirtioMemDeviceMetrics.create();
