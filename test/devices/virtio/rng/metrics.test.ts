import * as entropy from '../../../../src/devices/virtio/rng/metrics.js';
import { testSingleGroupModule } from '../../support/metrics-file.js';

testSingleGroupModule(entropy, entropy.EntropyDeviceMetrics, 'entropy', [
  ['activate_fails', 'inc'],
  ['entropy_event_fails', 'inc'],
  ['entropy_event_count', 'inc'],
  ['entropy_bytes', 'inc', 'bytes'],
  ['host_rng_fails', 'inc'],
  ['entropy_rate_limiter_throttled', 'inc'],
  ['rate_limiter_event_count', 'inc'],
]);
