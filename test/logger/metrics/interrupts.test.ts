import * as group from '../../../src/logger/metrics/interrupts.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.InterruptMetrics, 'interrupts', [
  ['triggers', 'inc'],
  ['config_updates', 'inc'],
]);
