import * as mem from '../../../../src/devices/virtio/mem/metrics.js';
import { testSingleGroupModule } from '../../support/metrics-file.js';

testSingleGroupModule(mem, mem.VirtioMemDeviceMetrics, 'memory_hotplug', [
  ['activate_fails', 'inc'],
  ['queue_event_fails', 'inc'],
  ['queue_event_count', 'inc'],
  ['plug_agg', 'latency'],
  ['plug_count', 'inc'],
  ['plug_bytes', 'inc', 'bytes'],
  ['plug_fails', 'inc'],
  ['unplug_agg', 'latency'],
  ['unplug_count', 'inc'],
  ['unplug_bytes', 'inc', 'bytes'],
  ['unplug_fails', 'inc'],
  ['unplug_discard_fails', 'inc'],
  ['unplug_all_agg', 'latency'],
  ['unplug_all_count', 'inc'],
  ['unplug_all_fails', 'inc'],
  ['state_agg', 'latency'],
  ['state_count', 'inc'],
  ['state_fails', 'inc'],
]);
