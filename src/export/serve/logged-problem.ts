/**
 * A skipped line's problem as serve's log words it: never more of a source's content than its
 * writer wrote in the metrics format.
 *
 * The reader's messages quote what they found (`invalid JSON: expected a JSON value (found "r"
 * at column 1)`), which is right for `validate` on one's own file but not for a log: a followed
 * path may be made to name another file (a link put in its place), and its bytes must not reach
 * the log. A line that is no JSON object is not in the metrics format at all: it is said to be
 * not JSON (and where it broke) or not an object, quoting nothing. A line that is one is the
 * writer's metrics line, and its problems are said as the reader words them, the whole clipped to
 * `MAX_LOGGED_PROBLEM_CHARS` (an id or a key may be megabytes long).
 */
import { formatProblem, type Problem } from '../../reader/problems.js';

/** Longer messages are clipped: the log line stays a line. */
export const MAX_LOGGED_PROBLEM_CHARS = 200;

/** `problem`, for serve's log. */
export function loggedProblem(problem: Problem): string {
  if (problem.path.length === 0) {
    // The reader's wording of a line that is not JSON, and of JSON that is not an object (pinned by its tests).
    if (problem.message.startsWith('invalid JSON:')) {
      const column = /at column (\d+)\)$/.exec(problem.message)?.[1];
      return `not JSON${column === undefined ? '' : ` (from column ${column})`}: not a metrics line`;
    }
    if (problem.message.startsWith('expected a JSON object')) return 'JSON, but not an object: not a metrics line';
  }
  return clippedForLog(formatProblem(problem));
}

/** `text` (a writer's words, or words quoting them) clipped to `MAX_LOGGED_PROBLEM_CHARS`, saying how long it was. */
export function clippedForLog(text: string): string {
  return text.length <= MAX_LOGGED_PROBLEM_CHARS ? text : `${text.slice(0, MAX_LOGGED_PROBLEM_CHARS - 1)}… (${String(text.length)} characters)`;
}
