/**
 * Metrics of the API's PUT requests, which configure the VM before boot or trigger actions: for
 * each resource, how many requests came and how many of them failed.
 *
 * ```json
 * "put_api_requests": {"actions_count":1,"actions_fails":0,"boot_source_count":1,
 *                      "boot_source_fails":0,"drive_count":2,"drive_fails":0,…,
 *                      "hotplug_memory_count":0,"hotplug_memory_fails":0}
 * ```
 *
 * Every field is a counter, written as its delta since the last flush. A failed request counts in
 * both its `_count` and its `_fails` field.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const PutRequestsMetrics = defineGroup('put_api_requests', {
  actions_count: inc('Number of PUT requests for an action (start the instance, flush metrics, send Ctrl+Alt+Del).'),
  actions_fails: inc('Number of PUT requests for an action that failed.'),
  boot_source_count: inc('Number of PUT requests to set the boot source (kernel, initrd, command line).'),
  boot_source_fails: inc('Number of PUT requests to set the boot source that failed.'),
  drive_count: inc('Number of PUT requests to attach a block device.'),
  drive_fails: inc('Number of PUT requests to attach a block device that failed.'),
  logger_count: inc('Number of PUT requests to configure the logger.'),
  logger_fails: inc('Number of PUT requests to configure the logger that failed.'),
  machine_cfg_count: inc('Number of PUT requests to set the machine configuration.'),
  machine_cfg_fails: inc('Number of PUT requests to set the machine configuration that failed.'),
  cpu_cfg_count: inc('Number of PUT requests to set a custom CPU template.'),
  cpu_cfg_fails: inc('Number of PUT requests to set a custom CPU template that failed.'),
  metrics_count: inc('Number of PUT requests to configure the metrics system.'),
  metrics_fails: inc('Number of PUT requests to configure the metrics system that failed.'),
  network_count: inc('Number of PUT requests to attach a network interface.'),
  network_fails: inc('Number of PUT requests to attach a network interface that failed.'),
  mmds_count: inc('Number of PUT requests to set the MMDS contents or configuration.'),
  mmds_fails: inc('Number of PUT requests to set the MMDS contents or configuration that failed.'),
  vsock_count: inc('Number of PUT requests to attach the vsock device.'),
  vsock_fails: inc('Number of PUT requests to attach the vsock device that failed.'),
  pmem_count: inc('Number of PUT requests to attach a pmem device.'),
  pmem_fails: inc('Number of PUT requests to attach a pmem device that failed.'),
  serial_count: inc('Number of PUT requests to configure the serial console.'),
  serial_fails: inc('Number of PUT requests to configure the serial console that failed.'),
  hotplug_memory_count: inc('Number of PUT requests to configure hot-pluggable memory.'),
  hotplug_memory_fails: inc('Number of PUT requests to configure hot-pluggable memory that failed.'),
});

export type PutRequestsMetrics = GroupOf<typeof PutRequestsMetrics>;

/** The PUT request metrics, incremented by the API server and flushed by the global document. */
export const METRICS: PutRequestsMetrics = PutRequestsMetrics.create();
