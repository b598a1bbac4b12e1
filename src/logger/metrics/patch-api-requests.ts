/**
 * Metrics of the API's PATCH requests, which change a resource of a running (or configured) VM:
 * for each resource, how many requests came and how many of them failed.
 *
 * ```json
 * "patch_api_requests": {"drive_count":1,"drive_fails":0,"network_count":0,"network_fails":0,
 *                        "machine_cfg_count":0,…,"pmem_count":0,"pmem_fails":0}
 * ```
 *
 * Every field is a counter, written as its delta since the last flush. A failed request counts in
 * both its `_count` and its `_fails` field.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const PatchRequestsMetrics = defineGroup('patch_api_requests', {
  drive_count: inc('Number of PATCH requests to update a block device.'),
  drive_fails: inc('Number of PATCH requests to update a block device that failed.'),
  network_count: inc('Number of PATCH requests to update a network interface.'),
  network_fails: inc('Number of PATCH requests to update a network interface that failed.'),
  machine_cfg_count: inc('Number of PATCH requests to update the machine configuration.'),
  machine_cfg_fails: inc('Number of PATCH requests to update the machine configuration that failed.'),
  mmds_count: inc('Number of PATCH requests to update the MMDS data store.'),
  mmds_fails: inc('Number of PATCH requests to update the MMDS data store that failed.'),
  hotplug_memory_count: inc('Number of PATCH requests to resize hot-plugged memory.'),
  hotplug_memory_fails: inc('Number of PATCH requests to resize hot-plugged memory that failed.'),
  pmem_count: inc('Number of PATCH requests to update a pmem device.'),
  pmem_fails: inc('Number of PATCH requests to update a pmem device that failed.'),
});

export type PatchRequestsMetrics = GroupOf<typeof PatchRequestsMetrics>;

/** The PATCH request metrics, incremented by the API server and flushed by the global document. */
export const METRICS: PatchRequestsMetrics = PatchRequestsMetrics.create();
