import { MetricsLine, type IncMetric } from '../../src/index.js';

/** Takes one metric into a line of its own and settles it; returns the delta the line carried. */
export function flushInto(metric: IncMetric, settle: 'commit' | 'rollback' = 'commit'): bigint {
  const line = new MetricsLine({ timestampMs: 0 });
  const amount = line.takeDelta(metric);
  line[settle]();
  return BigInt(amount);
}
