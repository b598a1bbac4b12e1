/**
 * Grafana's variables in a dashboard's queries, filled in as Grafana fills them, so that the
 * queries can run against Prometheus's HTTP API without Grafana: by the contrib tests, and by the
 * script that draws the README's picture.
 */

/** Values for Grafana's variables: each template variable's chosen values, and the built-in intervals. */
export interface VariableValues {
  /** Chosen values by variable name; `'All'` takes the variable's `allValue`. */
  readonly chosen: Readonly<Record<string, readonly string[] | 'All'>>;
  /** The variables' `allValue`s (`.*` here). */
  readonly allValues: Readonly<Record<string, string>>;
  /** The data source's scrape interval, in seconds, which `$__rate_interval` derives from. */
  readonly scrapeIntervalS: number;
  /** The panel's step (`$__interval`), in seconds. */
  readonly intervalS: number;
  /** The dashboard's time range (`$__range`), in seconds. */
  readonly rangeS: number;
}

/** Grafana's regex escaping of a value of a multi-value variable (its Prometheus data source). */
function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&');
}

/**
 * `expr` with Grafana's variables substituted: a multi-value variable as `(a|b)` (its values
 * regex-escaped) or its `allValue`, `$__rate_interval` as Grafana computes it (the larger of
 * four scrape intervals and a step plus one), `$__interval`, `$__range` and their `_ms`/`_s`
 * forms. Throws on a variable it does not know (Grafana would leave it as it is, and the query
 * would fail or match nothing), but for a capture group's `$1`.
 */
export function substitute(expr: string, values: VariableValues): string {
  const rateInterval = Math.max(4 * values.scrapeIntervalS, values.intervalS + values.scrapeIntervalS);
  const builtIns: Record<string, string> = {
    __rate_interval: `${rateInterval}s`,
    __interval: `${values.intervalS}s`,
    __interval_ms: String(values.intervalS * 1000),
    __range: `${values.rangeS}s`,
    __range_s: String(values.rangeS),
    __range_ms: String(values.rangeS * 1000),
  };
  return expr.replace(/\$\{?(\w+)\}?/g, (text, name: string) => {
    const builtIn = builtIns[name];
    if (builtIn !== undefined) return builtIn;
    // label_replace's "$1": Grafana leaves a name no variable has as it is.
    if (/^\d+$/.test(name)) return text;
    const chosen = values.chosen[name];
    if (chosen === undefined) throw new Error(`${expr}: no value for the variable ${text}`);
    if (chosen === 'All') {
      const all = values.allValues[name];
      if (all === undefined) throw new Error(`${expr}: ${text} has no allValue`);
      return all;
    }
    const escaped = chosen.map(escapeRegex);
    return escaped.length === 1 ? (escaped[0] as string) : `(${escaped.join('|')})`;
  });
}
