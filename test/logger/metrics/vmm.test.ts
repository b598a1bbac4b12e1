import * as group from '../../../src/logger/metrics/vmm.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.VmmMetrics, 'vmm', [
  ['panic_count', 'store'],
]);
