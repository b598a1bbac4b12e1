import * as uart from '../../../../src/devices/legacy/serial/metrics.js';
import { testSingleGroupModule } from '../../support/metrics-file.js';

testSingleGroupModule(uart, uart.SerialDeviceMetrics, 'uart', [
  ['error_count', 'inc'],
  ['flush_count', 'inc'],
  ['missed_read_count', 'inc'],
  ['missed_write_count', 'inc'],
  ['read_count', 'inc'],
  ['write_count', 'inc'],
  ['rate_limiter_dropped_bytes', 'inc', 'bytes'],
]);
