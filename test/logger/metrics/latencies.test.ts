import * as group from '../../../src/logger/metrics/latencies.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.PerformanceMetrics, 'latencies_us', [
  ['full_create_snapshot', 'store', 'microseconds'],
  ['diff_create_snapshot', 'store', 'microseconds'],
  ['load_snapshot', 'store', 'microseconds'],
  ['pause_vm', 'store', 'microseconds'],
  ['resume_vm', 'store', 'microseconds'],
  ['vmm_full_create_snapshot', 'store', 'microseconds'],
  ['vmm_diff_create_snapshot', 'store', 'microseconds'],
  ['vmm_load_snapshot', 'store', 'microseconds'],
  ['vmm_pause_vm', 'store', 'microseconds'],
  ['vmm_resume_vm', 'store', 'microseconds'],
]);
