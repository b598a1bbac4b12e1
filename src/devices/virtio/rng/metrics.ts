/**
 * Metrics of the virtio-rng (entropy) device, which hands the guest random bytes from the host.
 *
 * A VM has at most one entropy device, so there are no per-device entries: the `entropy` entry is
 * the device's own. Every field is a counter, written as its delta since the last flush:
 *
 * ```json
 * "entropy": {"activate_fails":0,"entropy_event_fails":0,"entropy_event_count":6,
 *             "entropy_bytes":384,"host_rng_fails":0,"entropy_rate_limiter_throttled":0,
 *             "rate_limiter_event_count":0}
 * ```
 *
 * The device increments `METRICS` (the global document's group) or the group of its VM's
 * document. Firecracker creates this group when the device is built and writes zeros until then;
 * here it exists from the start, which serializes the same.
 */
import { defineGroup, inc, type GroupOf } from '../../../metrics/group.js';

export const EntropyDeviceMetrics = defineGroup('entropy', {
  activate_fails: inc('Number of times the entropy device failed to activate.'),
  entropy_event_fails: inc('Number of entropy queue notifications whose handling failed.'),
  entropy_event_count: inc('Number of entropy requests from the guest that were handled.'),
  entropy_bytes: inc('Bytes of randomness given to the guest.'),
  host_rng_fails: inc('Number of times reading random bytes on the host failed.'),
  entropy_rate_limiter_throttled: inc('Number of entropy requests held back because the rate limiter ran out of budget.'),
  rate_limiter_event_count: inc('Number of rate limiter events (a throttled budget refilled).'),
});

export type EntropyDeviceMetrics = GroupOf<typeof EntropyDeviceMetrics>;

/** The entropy device's metrics, incremented by the device and flushed by the global document. */
export const METRICS: EntropyDeviceMetrics = EntropyDeviceMetrics.create();
