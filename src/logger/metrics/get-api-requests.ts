/**
 * Metrics of the API's GET requests, one counter per resource that can be read.
 *
 * ```json
 * "get_api_requests": {"instance_info_count":4,"machine_cfg_count":1,"mmds_count":0,
 *                      "vmm_version_count":1,"hotplug_memory_count":0}
 * ```
 *
 * Every field is a counter, written as its delta since the last flush. GET requests do not change
 * anything, so unlike PUT and PATCH they have no `_fails` counters.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const GetRequestsMetrics = defineGroup('get_api_requests', {
  instance_info_count: inc('Number of GET requests for the instance description (`/`).'),
  machine_cfg_count: inc('Number of GET requests for the machine configuration.'),
  mmds_count: inc('Number of GET requests for the MMDS data store contents.'),
  vmm_version_count: inc('Number of GET requests for the VMM version.'),
  hotplug_memory_count: inc('Number of GET requests for the status of hot-pluggable memory.'),
});

export type GetRequestsMetrics = GroupOf<typeof GetRequestsMetrics>;

/** The GET request metrics, incremented by the API server and flushed by the global document. */
export const METRICS: GetRequestsMetrics = GetRequestsMetrics.create();
