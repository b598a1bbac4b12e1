/**
 * Latency aggregates (Firecracker's `LatencyAggregateMetrics`): the least, greatest and summed
 * duration of an operation, in microseconds. `min_us` 0 means "nothing recorded yet", as in
 * Firecracker. A 0 µs sample (an operation shorter than a microsecond) leaves `min_us` as it is:
 * stored, it would read as "unset" and let the next sample replace it, so the least nonzero
 * duration is the more useful minimum.
 */
import type { IncMetric, StoreMetric } from './metric.js';
import { runTimed } from './timed.js';
import { toU64 } from './u64.js';

/** A running measurement; stop it once, or let `using` stop it at the end of the scope. */
export interface LatencyRecorder extends Disposable {
  /** Records the elapsed whole microseconds and returns them; later calls change nothing. */
  stop(): number;
}

export class LatencyAggregateMetrics {
  constructor(
    readonly name: string,
    /** Least duration recorded, 0 until one is. */
    readonly min_us: StoreMetric,
    /** Greatest duration recorded. */
    readonly max_us: StoreMetric,
    /** Sum of the durations recorded. */
    readonly sum_us: IncMetric,
  ) {}

  /** Starts timing on the monotonic clock. */
  record(): LatencyRecorder {
    const start = process.hrtime.bigint();
    let elapsedUs: number | undefined;
    const stop = (): number => {
      elapsedUs ??= this.#recordChecked(Number((process.hrtime.bigint() - start) / 1000n));
      return elapsedUs;
    };
    return { stop, [Symbol.dispose]: stop };
  }

  /** Records a duration measured elsewhere; a bad value throws and records nothing. */
  recordUs(durationUs: number | bigint): void {
    const value = toU64(durationUs, `${this.name}.recordUs()`);
    this.#recordChecked(value);
  }

  /**
   * Times `operation`, recording its duration whether it returns or throws; for an operation
   * that returns a promise, until the promise settles.
   */
  time<T>(operation: () => T): T {
    return runTimed(this.record(), operation);
  }

  /** The JSON object a line carries for this field: what `serialize()` would write. */
  toJSON(): { min_us: number; max_us: number; sum_us: number } {
    return { min_us: this.min_us.fetch(), max_us: this.max_us.fetch(), sum_us: this.sum_us.fetchDiff() };
  }

  #recordChecked<V extends number | bigint>(durationUs: V): V {
    this.sum_us.add(durationUs);
    const min = this.min_us.fetchBigInt();
    if (durationUs !== 0 && (min === 0n || BigInt(durationUs) < min)) this.min_us.store(durationUs);
    if (BigInt(durationUs) > this.max_us.fetchBigInt()) this.max_us.store(durationUs);
    return durationUs;
  }
}
