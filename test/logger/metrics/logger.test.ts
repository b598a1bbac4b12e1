import * as group from '../../../src/logger/metrics/logger.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.LoggerSystemMetrics, 'logger', [
  ['missed_metrics_count', 'inc'],
  ['metrics_fails', 'inc'],
  ['missed_log_count', 'inc'],
  ['rate_limited_log_count', 'inc'],
]);
