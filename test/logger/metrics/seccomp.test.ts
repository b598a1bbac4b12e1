import * as group from '../../../src/logger/metrics/seccomp.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.SeccompMetrics, 'seccomp', [
  ['num_faults', 'store'],
]);
