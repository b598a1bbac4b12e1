import * as group from '../../../src/logger/metrics/patch-api-requests.js';
import { testSingleGroupModule } from '../../devices/support/metrics-file.js';

testSingleGroupModule(group, group.PatchRequestsMetrics, 'patch_api_requests', [
  ['drive_count', 'inc'],
  ['drive_fails', 'inc'],
  ['network_count', 'inc'],
  ['network_fails', 'inc'],
  ['machine_cfg_count', 'inc'],
  ['machine_cfg_fails', 'inc'],
  ['mmds_count', 'inc'],
  ['mmds_fails', 'inc'],
  ['hotplug_memory_count', 'inc'],
  ['hotplug_memory_fails', 'inc'],
  ['pmem_count', 'inc'],
  ['pmem_fails', 'inc'],
]);
