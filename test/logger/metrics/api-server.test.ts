import * as group from '../../../src/logger/metrics/api-server.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.ApiServerMetrics, 'api_server', [
  ['process_startup_time_us', 'store', 'microseconds'],
  ['process_startup_time_cpu_us', 'store', 'microseconds'],
]);
