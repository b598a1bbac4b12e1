import * as group from '../../../src/logger/metrics/signals.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.SignalMetrics, 'signals', [
  ['sigbus', 'store'],
  ['sigsegv', 'store'],
  ['sigxfsz', 'store'],
  ['sigxcpu', 'store'],
  ['sigpipe', 'inc'],
  ['sighup', 'store'],
  ['sigill', 'store'],
]);
