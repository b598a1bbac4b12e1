/**
 * Metrics of the use of deprecated parts of the API, so that operators can see whether clients
 * still depend on something about to go away.
 *
 * ```json
 * "deprecated_api": {"deprecated_http_api_calls":2}
 * ```
 *
 * The field is a counter, written as its delta since the last flush. The API server increments it
 * for every request that used a deprecated endpoint or field.
 */
import { defineGroup, inc, type GroupOf } from '../../metrics/group.js';

export const DeprecatedApiMetrics = defineGroup('deprecated_api', {
  deprecated_http_api_calls: inc('Number of API requests that used a deprecated endpoint or field.'),
});

export type DeprecatedApiMetrics = GroupOf<typeof DeprecatedApiMetrics>;

/** The deprecated-API metrics, incremented by the API server and flushed by the global document. */
export const METRICS: DeprecatedApiMetrics = DeprecatedApiMetrics.create();
