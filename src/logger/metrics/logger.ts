/**
 * Metrics of the logging and metrics systems themselves: what they failed to write.
 *
 * ```json
 * "logger": {"missed_metrics_count":0,"metrics_fails":0,"missed_log_count":0,
 *            "rate_limited_log_count":12}
 * ```
 *
 * Every field is a counter, written as its delta since the last flush. A metrics line that could
 * not be written is not lost: its deltas go out with the next line that is, together with the
 * `missed_metrics_count` and `metrics_fails` that record the failure.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const LoggerSystemMetrics = defineGroup('logger', {
  missed_metrics_count: inc('Number of metrics flushes whose line could not be written to the destination.'),
  metrics_fails: inc('Number of other errors of the metrics system, such as a line that could not be serialized.'),
  missed_log_count: inc('Number of log messages that could not be written.'),
  rate_limited_log_count: inc('Number of log messages dropped by the log rate limiter.'),
});

export type LoggerSystemMetrics = GroupOf<typeof LoggerSystemMetrics>;

/** The logging system's metrics, incremented by the logger and by the code that flushes metrics. */
export const METRICS: LoggerSystemMetrics = LoggerSystemMetrics.create();
