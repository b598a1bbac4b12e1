/**
 * Metrics of the virtio-balloon device.
 *
 * A VM has at most one balloon, so there are no per-device entries: the `balloon` entry is the
 * device's own and the aggregate at once. Every field is a counter, written as its delta since
 * the last flush:
 *
 * ```json
 * "balloon": {"activate_fails":0,"inflate_count":3,"stats_updates_count":12,"stats_update_fails":0,
 *             "deflate_count":1,"event_fails":0,"free_page_report_count":0,…,"free_page_hint_fails":0}
 * ```
 *
 * The device increments `METRICS` (the global document's group) or the group of its VM's
 * document. The fields are those of Firecracker main's `BalloonDeviceMetrics`; older releases
 * have fewer (`src/reader/firecracker-releases.generated.ts`), and none has a `cfg_fails`.
 */
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const BalloonDeviceMetrics = defineGroup('balloon', {
  activate_fails: inc('Number of times the balloon device failed to activate.'),
  inflate_count: inc('Number of inflations of the balloon (page frames the guest gave back).'),
  stats_updates_count: inc('Number of statistics updates received from the guest driver.'),
  stats_update_fails: inc('Number of statistics updates from the guest driver that could not be processed.'),
  deflate_count: inc('Number of deflations of the balloon (page frames returned to the guest).'),
  event_fails: inc('Number of balloon device events whose handling failed.'),
  free_page_report_count: inc('Number of memory ranges the guest driver reported as free.'),
  // The `_freed` counters add descriptor lengths (Firecracker's balloon device.rs), so bytes,
  // though their names carry no unit suffix.
  free_page_report_freed: inc('Bytes of guest memory released through free page reporting.', { unit: 'bytes' }),
  free_page_report_fails: inc('Number of reported free ranges that could not be released.'),
  free_page_hint_count: inc('Number of memory ranges the guest driver hinted as free.'),
  free_page_hint_freed: inc('Bytes of guest memory released through free page hinting.', { unit: 'bytes' }),
  free_page_hint_fails: inc('Number of hinted free ranges that could not be released.'),
});

export type BalloonDeviceMetrics = GroupOf<typeof BalloonDeviceMetrics>;

/** The balloon's metrics, incremented by the device and flushed by the global document. */
export const METRICS: BalloonDeviceMetrics = BalloonDeviceMetrics.create();
