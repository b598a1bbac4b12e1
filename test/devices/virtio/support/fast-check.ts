/**
 * Test support: fast-check parameters shared by the virtio property tests, so every run can be
 * reproduced. fast-check prints the seed and the counterexample's path when a property fails;
 * `VMM_METRICS_SEED=<seed>` (and `VMM_METRICS_PATH=<path>` to go straight to the shrunk case)
 * replays it. The failing assertion is included in the report (`includeErrorInReport`).
 */
import type { Parameters } from 'fast-check';

/** `fc.assert` parameters: `numRuns` as given, the seed and path from the environment if set. */
export function propertyParameters<T>(numRuns: number): Parameters<T> {
  const seed = process.env['VMM_METRICS_SEED'];
  const path = process.env['VMM_METRICS_PATH'];
  const parameters: Parameters<T> = { numRuns, includeErrorInReport: true };
  if (seed !== undefined && seed !== '') {
    const parsed = Number(seed);
    if (!Number.isInteger(parsed)) throw new RangeError(`VMM_METRICS_SEED must be an integer, got ${seed}`);
    parameters.seed = parsed;
    if (path !== undefined && path !== '') parameters.path = path;
  }
  return parameters;
}
