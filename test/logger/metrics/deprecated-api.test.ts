import * as group from '../../../src/logger/metrics/deprecated-api.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.DeprecatedApiMetrics, 'deprecated_api', [
  ['deprecated_http_api_calls', 'inc'],
]);
