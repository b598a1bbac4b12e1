/**
 * `METRICS`: the process-wide writer of the global document, built from the groups that the
 * component modules hold and device code increments by default. It writes `rtc` on arm64, as
 * Firecracker does on aarch64; a line it fails to write counts in `logger.missed_metrics_count`,
 * one it fails to build in `logger.metrics_fails` too.
 */
import { Metrics } from '../metrics/writer.js';
import { FirecrackerMetrics } from './firecracker-metrics.js';

export const METRICS = new Metrics(new FirecrackerMetrics({ rtc: process.arch === 'arm64', groups: FirecrackerMetrics.moduleGroups() }));
