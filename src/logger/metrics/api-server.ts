/**
 * Metrics of the API server: how long the process took to become ready to serve its API.
 *
 * Both fields are durations in microseconds, written as they are (not as deltas):
 *
 * ```json
 * "api_server": {"process_startup_time_us":11873,"process_startup_time_cpu_us":6120}
 * ```
 *
 * Design notes: they are set once, when the API socket is about to accept requests, by a
 * `ProcessTimeReporter` (see `../process-time.ts`) from start times the launcher passed in. Until
 * then, and when no start time was given, they stay 0.
 */
import { defineGroup, store, type GroupOf } from '../../metrics/group.js';

export const ApiServerMetrics = defineGroup('api_server', {
  process_startup_time_us: store('Wall-clock time from the process start to the API server being ready.'),
  process_startup_time_cpu_us: store('CPU time the process (and its launcher, if given) used until the API server was ready.'),
});

export type ApiServerMetrics = GroupOf<typeof ApiServerMetrics>;

/** The API server's metrics, set at start-up and flushed by the global document. */
export const METRICS: ApiServerMetrics = ApiServerMetrics.create();
