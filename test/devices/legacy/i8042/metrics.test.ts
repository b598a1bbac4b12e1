import * as i8042 from '../../../../src/devices/legacy/i8042/metrics.js';
import { testSingleGroupModule } from '../../support/metrics-file.js';

testSingleGroupModule(i8042, i8042.I8042DeviceMetrics, 'i8042', [
  ['error_count', 'inc'],
  ['missed_read_count', 'inc'],
  ['missed_write_count', 'inc'],
  ['read_count', 'inc'],
  ['reset_count', 'inc'],
  ['write_count', 'inc'],
]);
