/**
 * Checks on metrics files after a fault: a file holds only whole lines, each one JSON object that
 * starts with the timestamp and ends in a newline; and sums of a counter's deltas over lines, to
 * check that every increment was written exactly once across all the files a rotation produced.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

export type Line = Readonly<Record<string, unknown>>;

/** The lines of the file at `path`, failing unless it holds only whole, valid lines. */
export function readWholeLines(path: string): Line[] {
  return parseWholeLines(readFileSync(path, 'utf8'), path);
}

/** The lines of `text`, failing (with `where` in the message) unless it is only whole, valid lines. */
export function parseWholeLines(text: string, where: string): Line[] {
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), `${where}: ends in a torn line: …${JSON.stringify(text.slice(-80))}`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line, index) => {
      const at = `${where}:${index + 1}`;
      // A member lost between two others (`,,`) or at the start of an object (`{,`) would still
      // be caught by JSON.parse; these say what went wrong.
      assert.doesNotMatch(line, /,,|\{,|,\}/, `${at}: a member is missing: ${line.slice(0, 200)}`);
      assert.match(line, /^\{"utc_timestamp_ms":\d+[,}]/, `${at}: does not start with the timestamp: ${line.slice(0, 200)}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (error) {
        assert.fail(`${at}: not JSON (${(error as Error).message}): ${line.slice(0, 200)}`);
      }
      assert.ok(isObject(parsed), `${at}: not a JSON object`);
      return parsed;
    });
}

/** Each line's value of `group.field`: a counter's deltas, line by line. */
export function deltasOf(lines: readonly Line[], group: string, field: string): number[] {
  return lines.map((line, index) => {
    const members = line[group];
    assert.ok(isObject(members), `line ${index + 1} has no group ${group}`);
    const value = members[field];
    assert.ok(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, `line ${index + 1}: ${group}.${field} is ${String(value)}`);
    return value;
  });
}

/** The sum of `group.field` over `lines`: what they carry of one counter. */
export function sumOf(lines: readonly Line[], group: string, field: string): number {
  return deltasOf(lines, group, field).reduce((a, b) => a + b, 0);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
