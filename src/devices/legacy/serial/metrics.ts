/**
 * Metrics of the serial console, an emulated 16550 UART.
 *
 * There is one serial port, written under the key `uart`. Every field is a counter, written as its
 * delta since the last flush:
 *
 * ```json
 * "uart": {"error_count":0,"flush_count":3,"missed_read_count":0,"missed_write_count":0,
 *          "read_count":0,"write_count":1874,"rate_limiter_dropped_bytes":0}
 * ```
 *
 * Design notes: `read_count` and `write_count` count register accesses, each of which moves one
 * byte. The output can be rate limited; bytes over the limit are dropped rather
 * than queued (the guest is never slowed down by its console), and `rate_limiter_dropped_bytes`
 * counts them. The device increments `METRICS` (the global document's
 * group) or its VM's document's.
 */
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const SerialDeviceMetrics = defineGroup('uart', {
  error_count: inc('Number of errors while handling guest writes to the serial port.'),
  flush_count: inc('Number of times the serial output was flushed.'),
  missed_read_count: inc('Number of guest reads of the wrong width, which were ignored.'),
  missed_write_count: inc('Number of guest writes that were ignored or whose byte was lost.'),
  read_count: inc('Number of guest reads from the receive buffer, one byte each.'),
  write_count: inc('Number of guest writes to the serial output, one byte each.'),
  rate_limiter_dropped_bytes: inc('Bytes of serial output dropped because the output rate limiter ran out of budget.'),
});

export type SerialDeviceMetrics = GroupOf<typeof SerialDeviceMetrics>;

/** The serial port's metrics, incremented by the device and flushed by the global document. */
export const METRICS: SerialDeviceMetrics = SerialDeviceMetrics.create();
