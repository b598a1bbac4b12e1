/**
 * What a reader finds wrong with a line, and how it is printed.
 */

/**
 * `error`: the line does not match the schema (missing, malformed, misplaced or out-of-range
 * values). `warning`: something the schema does not know, such as a group or field added by a
 * newer Firecracker; it is kept in the record.
 */
export type Severity = 'error' | 'warning';

export interface Problem {
  readonly severity: Severity;
  /**
   * Where in the line: the keys from the top, e.g. `['block_rootfs', 'read_agg', 'min_us']`;
   * empty for the line as a whole.
   */
  readonly path: readonly string[];
  readonly message: string;
  /**
   * Only on the last problem of a line that had more than `maxProblemsPerLine`: how many were
   * left out of the list, so that totals stay exact.
   */
  readonly omitted?: { readonly errors: number; readonly warnings: number };
}

const PLAIN_KEY = /^[A-Za-z0-9_]+$/;

/** `block_rootfs.read_agg.min_us`; a key with other characters is quoted: `properties["a.b"]`. */
export function formatPath(path: readonly string[]): string {
  let text = '';
  for (const key of path) {
    if (PLAIN_KEY.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text;
}

/** `where: path: message`, with `warning: ` before the message of a warning. */
export function formatProblem(problem: Problem, where?: string): string {
  const parts: string[] = [];
  if (where !== undefined) parts.push(where);
  if (problem.path.length > 0) parts.push(formatPath(problem.path));
  parts.push(problem.severity === 'warning' ? `warning: ${problem.message}` : problem.message);
  return parts.join(': ');
}

/** Whether any problem is an error. */
export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}
