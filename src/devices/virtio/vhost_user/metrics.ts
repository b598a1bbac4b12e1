/**
 * Metrics of the vhost-user devices (devices whose data path runs in a separate backend process).
 *
 * Each device has its own group, written as `vhost_user_<id>`, in id order. By Firecracker's
 * convention the id names the device kind and its API id, e.g. `block_rootfs` for the vhost-user
 * drive `/drives/rootfs`, giving `vhost_user_block_rootfs`. The counters are written as their delta
 * since the last flush; the three `_time_us` fields are durations in microseconds, written as they
 * are:
 *
 * ```json
 * "vhost_user_block_rootfs": {"activate_fails":0,"cfg_fails":0,"init_time_us":1830,
 *                             "activate_time_us":412,"config_change_time_us":0}
 * ```
 *
 * Design notes:
 * - There is no aggregate `vhost_user` entry, as in Firecracker: the family has no history of a
 *   combined entry to stay compatible with, and devices of different kinds do not add up.
 * - A device calls `alloc(id)` once and updates its group directly; the same id gives the
 *   same group while the device is present. `remove(id)` is hot-unplug: the entry is written
 *   until a committed line has carried its last deltas, then the group is released.
 */
import { DeviceFamily } from '../../../metrics/device-family.js';
import { defineGroup, inc, store, type GroupOf } from '../../../metrics/group.js';

export const VhostUserDeviceMetrics = defineGroup('vhost_user', {
  activate_fails: inc('Number of times the vhost-user device failed to activate.'),
  cfg_fails: inc('Number of failed accesses to the vhost-user device configuration space.'),
  init_time_us: store('Time the device took to connect to its backend and negotiate features.'),
  activate_time_us: store('Time the last activation of the device took.'),
  config_change_time_us: store('Time the last configuration change of the device took.'),
});

export type VhostUserDeviceMetrics = GroupOf<typeof VhostUserDeviceMetrics>;

/** The vhost-user devices' metrics: one group per device, no aggregate. */
export const METRICS = new DeviceFamily('vhost_user', VhostUserDeviceMetrics, { aggregate: false });

/**
 * The group of vhost-user device `id` (a non-empty string such as `block_rootfs`), created on
 * first use; the same id gives the same group while the device is present.
 */
export function alloc(id: string): VhostUserDeviceMetrics {
  return METRICS.alloc(id);
}

/** Hot-unplug of vhost-user device `id`: see `DeviceFamily.remove`. Returns false if not present. */
export function remove(id: string): boolean {
  return METRICS.remove(id);
}
