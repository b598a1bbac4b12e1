/**
 * What the contrib tests need of PromQL: the metric names a query names (plain, or as a
 * `__name__` regex). Grafana's variables are filled in by scripts/contrib/variables.ts.
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
