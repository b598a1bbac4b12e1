/**
 * What the contrib tests need of PromQL: the metric names a query names (plain, or as a
 * `__name__` regex), and Grafana's variables filled in as Grafana fills them.
 */

/** The names an expression asks for: identifiers used as selectors, and `__name__=~"…"` patterns. */
export interface NamedMetrics {
  readonly names: readonly string[];
  /** Regex patterns of `__name__=~` matchers, as written (Prometheus anchors them). */
  readonly patterns: readonly string[];
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

export function namedMetrics(expr: string): NamedMetrics {
  const patterns: string[] = [];
  const names: string[] = [];
  // Label matchers: keep the __name__ ones, drop the rest (their values are strings, not names).
  let rest = expr.replace(/\{([^}]*)\}/g, (_, body: string) => {
    for (const [, op, value] of body.matchAll(/__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      if (op === '=~') patterns.push(value ?? '');
      else names.push(value ?? '');
    }
    return ' ';
  });
  rest = rest
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  for (const match of rest.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    // A function or an aggregation is followed by "(".
    const call = /^\s*\(/.test(rest.slice(match.index + name.length));
    if (!call && !KEYWORDS.has(name.toLowerCase())) names.push(name);
  }
  return { names: [...new Set(names)], patterns: [...new Set(patterns)] };
}

/**
 * The names a pattern made only of literals, `|` and groups stands for (`a_(b|c)` → `a_b`,
 * `a_c`); undefined when it uses anything else (`.+`), which only a list of names can check.
 */
export function expandAlternation(pattern: string): string[] | undefined {
  if (/[.*+?[\]{}^$\\]/.test(pattern)) return undefined;
  let position = 0;
  const alternatives = (): string[] => {
    let results: string[] = [];
    let current = [''];
    while (position < pattern.length) {
      const char = pattern[position++] as string;
      if (char === '(') {
        const inner = alternatives();
        current = current.flatMap((prefix) => inner.map((suffix) => prefix + suffix));
      } else if (char === ')') {
        break;
      } else if (char === '|') {
        results = results.concat(current);
        current = [''];
      } else {
        current = current.map((prefix) => prefix + char);
      }
    }
    return results.concat(current);
  };
  return alternatives();
}

/** Does `pattern` (a `__name__=~` regex, anchored as Prometheus anchors it) match `name`? */
export function matchesName(pattern: string, name: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(name);
}

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
