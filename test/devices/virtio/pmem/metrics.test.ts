import * as pmem from '../../../../src/devices/virtio/pmem/metrics.js';
import { testDeviceFamilyModule } from '../../support/metrics-file.js';

testDeviceFamilyModule(
  pmem,
  pmem.PmemMetrics,
  'pmem',
  [
    ['activate_fails', 'inc'],
    ['cfg_fails', 'inc'],
    ['event_fails', 'inc'],
    ['queue_event_count', 'inc'],
    ['rate_limiter_throttled_events', 'inc'],
    ['rate_limiter_event_count', 'inc'],
  ],
  { aggregate: true },
);
