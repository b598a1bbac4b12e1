import * as rtc from '../../../../src/devices/legacy/rtc/metrics.js';
import { testSingleGroupModule } from '../../support/metrics-file.js';

testSingleGroupModule(
  rtc,
  rtc.RtcDeviceMetrics,
  'rtc',
  [
    ['error_count', 'inc'],
    ['missed_read_count', 'inc'],
    ['missed_write_count', 'inc'],
  ],
  { optional: true },
);
