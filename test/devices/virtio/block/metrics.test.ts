import * as block from '../../../../src/devices/virtio/block/metrics.js';
import { testDeviceFamilyModule } from '../../support/metrics-file.js';

testDeviceFamilyModule(
  block,
  block.BlockDeviceMetrics,
  'block',
  [
    ['activate_fails', 'inc'],
    ['cfg_fails', 'inc'],
    ['no_avail_buffer', 'inc'],
    ['event_fails', 'inc'],
    ['execute_fails', 'inc'],
    ['invalid_reqs_count', 'inc'],
    ['flush_count', 'inc'],
    ['queue_event_count', 'inc'],
    ['rate_limiter_event_count', 'inc'],
    ['update_count', 'inc'],
    ['update_fails', 'inc'],
    ['read_bytes', 'inc', 'bytes'],
    ['write_bytes', 'inc', 'bytes'],
    ['read_count', 'inc'],
    ['write_count', 'inc'],
    ['read_agg', 'latency'],
    ['write_agg', 'latency'],
    ['rate_limiter_throttled_events', 'inc'],
    ['io_engine_throttled_events', 'inc'],
    ['remaining_reqs_count', 'inc'],
  ],
  { aggregate: true },
);
