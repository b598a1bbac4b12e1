/**
 * Side-by-side ratios: a subject and its baseline measured in the same process, interleaved.
 *
 * Absolute nanoseconds on a shared, noisy machine mean little; a ratio of two things measured
 * alternately, a few hundred milliseconds apart, cancels most of the noise (frequency scaling,
 * neighbours, thermal drift). Each measurement is one mitata `measure()` (warm-up, batching, the
 * median of many samples); a figure is the median of the per-round ratios.
 */
import { measure } from 'mitata';

/** One figure: `subject` ÷ `baseline`, each doing `opsPerCall` operations per call. */
export interface Figure {
  readonly name: string;
  /** The highest ratio that passes, or `null` for a figure that is only reported. */
  readonly goal: number | null;
  /**
   * How many operations one call of `subject` (and of `baseline`) performs. A ~1 ns operation
   * belongs in an inner loop (e.g. 1000 times), so that the harness's own call does not weigh
   * on it; subject and baseline must use the same loop shape.
   */
  readonly opsPerCall: number;
  /** Both sides must keep their results alive, e.g. with mitata's `do_not_optimize`. */
  readonly subject: () => void;
  readonly baseline: () => void;
  /** Untimed; runs before every measurement of either side (e.g. to keep counts small). */
  readonly reset?: () => void;
}

export interface RatioOptions {
  /** Measured rounds; each round measures both sides once, alternating which goes first. */
  readonly rounds: number;
  /** Minimum measured time of one side in one round. */
  readonly minTimeMs: number;
}

export interface FigureResult {
  readonly name: string;
  readonly goal: number | null;
  /** Median over the rounds of subject ÷ baseline. */
  readonly ratio: number;
  /** Median over the rounds of the per-operation medians. */
  readonly subjectNs: number;
  readonly baselineNs: number;
  /** Least and greatest per-round ratio. */
  readonly minRatio: number;
  readonly maxRatio: number;
  readonly rounds: number;
}

export const DEFAULT_RATIO_OPTIONS: RatioOptions = { rounds: 11, minTimeMs: 60 };

/** Nanoseconds per operation: mitata's median per call, divided by the operations per call. */
async function nsPerOp(fn: () => void, figure: Figure, options: RatioOptions): Promise<number> {
  figure.reset?.();
  const stats = await measure(fn, {
    min_cpu_time: options.minTimeMs * 1e6,
    min_samples: 12,
    // Calls of up to ~65 µs are batched; 256 calls a sample keeps samples short and numerous.
    batch_samples: 256,
  });
  return stats.p50 / figure.opsPerCall;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function measureRatio(figure: Figure, options: RatioOptions = DEFAULT_RATIO_OPTIONS): Promise<FigureResult> {
  // A discarded round first, so that both sides run optimized code before any round counts
  // (mitata warms each measurement up too, but only briefly).
  await nsPerOp(figure.subject, figure, options);
  await nsPerOp(figure.baseline, figure, options);

  const subjectNs: number[] = [];
  const baselineNs: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    let s: number;
    let b: number;
    // Alternate the order, so that a drift in machine speed favours neither side.
    if (round % 2 === 0) {
      s = await nsPerOp(figure.subject, figure, options);
      b = await nsPerOp(figure.baseline, figure, options);
    } else {
      b = await nsPerOp(figure.baseline, figure, options);
      s = await nsPerOp(figure.subject, figure, options);
    }
    subjectNs.push(s);
    baselineNs.push(b);
    ratios.push(s / b);
  }
  return {
    name: figure.name,
    goal: figure.goal,
    ratio: median(ratios),
    subjectNs: median(subjectNs),
    baselineNs: median(baselineNs),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
    rounds: options.rounds,
  };
}
