import * as group from '../../../src/logger/metrics/get-api-requests.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.GetRequestsMetrics, 'get_api_requests', [
  ['instance_info_count', 'inc'],
  ['machine_cfg_count', 'inc'],
  ['mmds_count', 'inc'],
  ['vmm_version_count', 'inc'],
  ['hotplug_memory_count', 'inc'],
]);
