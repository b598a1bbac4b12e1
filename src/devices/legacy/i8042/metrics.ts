/**
 * Metrics of the i8042 PS/2 controller, which Firecracker emulates only as far as guests need it
 * to reset the machine (the CPU reset command) and to receive a Ctrl+Alt+Del.
 *
 * There is one controller, so the `i8042` entry is the device's own. Every field is a counter,
 * written as its delta since the last flush:
 *
 * ```json
 * "i8042": {"error_count":0,"missed_read_count":0,"missed_write_count":0,"read_count":5,
 *           "reset_count":1,"write_count":7}
 * ```
 *
 * Design notes: the guest accesses the controller one byte at a time through two ports; an access
 * of another width or to another port is "missed" and changes nothing. `read_count` is incremented
 * by the number of bytes read, which is always one per successful access, so it counts reads.
 * The device increments `METRICS` (the global document's group) or its VM's document's.
 */
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const I8042DeviceMetrics = defineGroup('i8042', {
  error_count: inc('Number of errors, such as a failure to signal the reset the guest requested.'),
  missed_read_count: inc('Number of guest reads of the wrong width or from an unknown port, which were ignored.'),
  missed_write_count: inc('Number of guest writes of the wrong width or to an unknown port, which were ignored.'),
  read_count: inc('Number of successful guest reads from the controller.'),
  reset_count: inc('Number of CPU reset commands the guest issued.'),
  write_count: inc('Number of successful guest writes to the controller.'),
});

export type I8042DeviceMetrics = GroupOf<typeof I8042DeviceMetrics>;

/** The i8042 controller's metrics, incremented by the device and flushed by the global document. */
export const METRICS: I8042DeviceMetrics = I8042DeviceMetrics.create();
