/**
 * Metrics of the PL031 real-time clock, the RTC Firecracker gives aarch64 guests.
 *
 * There is one clock, so the `rtc` entry is the device's own. Every field is a counter, written as
 * its delta since the last flush:
 *
 * ```json
 * "rtc": {"error_count":0,"missed_read_count":0,"missed_write_count":0}
 * ```
 *
 * Design notes:
 * - Firecracker writes this entry only in its aarch64 build. Here the entry is optional: the
 *   global document includes it when built with `new FirecrackerMetrics({ rtc: true })`, and its
 *   shape says `optional: true` so that validators know it may be absent.
 * - An access at an offset the clock does not implement counts as missed and as an error; an
 *   access of a width other than four bytes counts as an error only.
 */
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const RtcDeviceMetrics = defineGroup('rtc', {
  error_count: inc('Number of invalid guest accesses to the clock, of any kind.'),
  missed_read_count: inc('Number of guest reads at an offset the clock does not implement.'),
  missed_write_count: inc('Number of guest writes at an offset the clock does not implement or that is read-only.'),
});

export type RtcDeviceMetrics = GroupOf<typeof RtcDeviceMetrics>;

/** The RTC's metrics, incremented by the device and flushed by the global document. */
export const METRICS: RtcDeviceMetrics = RtcDeviceMetrics.create();
