/**
 * The attribute sets a meter's instruments hold, over every registration on that meter, so that
 * a registration can warn before the SDK's cardinality limit folds points into one
 * `otel.metric.overflow` point without a word.
 *
 * The SDK keeps at most `limit − 1` attribute sets per instrument (its default limit is 2,000)
 * and sums every further one into the overflow point. For an observable instrument it remembers
 * every set it has ever been given (its cumulative memo is never trimmed), so a device that is
 * gone, or a registration that was removed, still takes its place. The sets here are kept the
 * same way: by the attributes themselves, so the same VM registered again counts once.
 */
/** The SDK's `aggregationCardinalityLimit` when no view or reader sets one. */
export const SDK_DEFAULT_CARDINALITY_LIMIT = 2000;

/** The attribute sets of one meter, per family of instruments (the instruments of an entry share theirs). */
export class MeterCardinality {
  readonly #sets = new Map<string, Set<string>>();
  #warned = false;

  /**
   * Records the attribute sets `keys` under `family`; calls `warn` once in the meter's life, the
   * first time a family holds more sets than a cardinality limit of `limit` keeps.
   */
  observe(family: string, keys: Iterable<string>, limit: number, warn: (sets: number) => void): void {
    let sets = this.#sets.get(family);
    if (sets === undefined) this.#sets.set(family, (sets = new Set()));
    for (const key of keys) sets.add(key);
    if (sets.size > limit - 1 && !this.#warned) {
      this.#warned = true;
      warn(sets.size);
    }
  }
}

// Keyed by the user's Meter, held weakly: the meter's life is the user's.
const meters = new WeakMap<object, MeterCardinality>();

export function meterCardinality(meter: object): MeterCardinality {
  let state = meters.get(meter);
  if (state === undefined) {
    state = new MeterCardinality();
    meters.set(meter, state);
  }
  return state;
}

/** What an operator reads when the limit is passed, and what to do about it. */
export function cardinalityWarning(instrument: string, sets: number, limit: number): string {
  const prefix = instrument.slice(0, instrument.indexOf('.') + 1) || instrument;
  return (
    `OpenTelemetry: ${instrument} has ${sets} attribute sets on this meter, and a cardinality limit of ${limit} keeps ${limit - 1}: ` +
    `the SDK sums the rest into one otel.metric.overflow point. Raise the limit with a View ` +
    `(new View({ instrumentName: '${prefix}*', aggregationCardinalityLimit: N })) and pass the same N as cardinalityLimit.`
  );
}
