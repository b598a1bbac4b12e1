/**
 * One line against the schema: parse it exactly, check it, and build its record.
 *
 * Checked: the line is one JSON object; `utc_timestamp_ms` comes first and is a plausible time;
 * the optional `id` is a string and `properties` an object of strings with sorted keys; every
 * required group and aggregate is present; every declared field is present and holds an integer
 * from 0 to 2^64 − 1 (latency fields an object of `min_us`, `max_us`, `sum_us`); keys are in the
 * order the writer uses; no key repeats. Anything the schema does not know is a warning (an error
 * with `strict`) and is kept in the record.
 *
 * A line is first offered to the fast path (`clean-line.ts`: `JSON.parse` and a walk), which
 * takes only lines with nothing to report; every other line is parsed here, exactly, and this
 * is where every problem is found and worded.
 */
import { compareKeys } from '../metrics/key-order.js';
import { U64_MAX } from '../metrics/u64.js';
import {
  defineMember,
  JsonDecimal,
  JsonLongInteger,
  JsonObjectNode,
  JsonSyntaxError,
  parseJsonNode,
  toExactJson,
  type ExactJson,
  type JsonNode,
} from './exact-json.js';
import { readCleanLine } from './clean-line.js';
import { compareKeyRanks, entryRank, headerRank, misplacedItems, type KeyRank } from './order.js';
import { plural } from './plural.js';
import { hasErrors, type Problem, type Severity } from './problems.js';
import type { MetricsReading, MetricsRecord } from './record.js';
import { groupLayout, type FieldLayout, type MetricsSchema, type OptionalHeaderKey } from './schema.js';
import { LineClock, type TimestampOptions } from './timestamps.js';

export interface ValidateOptions extends TimestampOptions {
  /**
   * Report groups and fields the schema does not know as errors instead of warnings.
   * @default false
   */
  readonly strict?: boolean;
  /**
   * At most this many problems are listed for one line; the rest are counted in one last
   * problem ("… and K more problems on this line"), so that a hostile line of a million bad
   * keys yields a bounded list instead of a million messages.
   * @default 100
   */
  readonly maxProblemsPerLine?: number;
}

/** Enough for every problem of a real line (a whole document of missing groups is about 30). */
export const DEFAULT_MAX_PROBLEMS_PER_LINE = 100;

interface Placed<R> {
  readonly key: string;
  readonly rank: R;
}

/** Parses and checks one line (without its newline). Never throws for bad input. */
export function readMetricsLine(
  text: string,
  lineNumber: number,
  schema: MetricsSchema,
  options: ValidateOptions = {},
): MetricsReading {
  return readMetricsLineTraced(text, lineNumber, schema, options, undefined);
}

/**
 * `readMetricsLine`, calling `onExactPath` for a line the fast path left to the exact one: lets a
 * test or the bench see which path a line took. Not exported by the package.
 */
export function readMetricsLineTraced(
  text: string,
  lineNumber: number,
  schema: MetricsSchema,
  options: ValidateOptions,
  onExactPath: (() => void) | undefined,
): MetricsReading {
  // A bad option fails on every line, the clean ones included.
  maxProblemsOption(options.maxProblemsPerLine);
  const clock = new LineClock(options);
  const record = readCleanLine(text, schema, clock);
  if (record !== undefined) return { lineNumber, record, problems: [], valid: true };
  onExactPath?.();
  return checkLine(text, lineNumber, schema, options, clock);
}

/**
 * `readMetricsLine` without the fast path: the exact parse and every check, whatever the line.
 * The reference the fast path is tested against; not exported by the package.
 */
export function readMetricsLineExact(
  text: string,
  lineNumber: number,
  schema: MetricsSchema,
  options: ValidateOptions = {},
  clock: LineClock = new LineClock(options),
): MetricsReading {
  return checkLine(text, lineNumber, schema, options, clock);
}

/**
 * A line read for what it holds rather than checked for its shape: groups, fields and latency
 * members may be missing and keys in any order; what the schema does not know is kept (a
 * warning, an error with `strict`). Still errors: not JSON, not an object, no plausible
 * `utc_timestamp_ms`, a repeated key, a value of the wrong type or out of range. The exact path
 * only (a schema that is a union of several writers' fits no line exactly, so the fast path
 * would only cost a parse). For `readAnyRelease`; not exported by the package.
 */
export function readMetricsLinePartial(
  text: string,
  lineNumber: number,
  schema: MetricsSchema,
  options: ValidateOptions = {},
  clock: LineClock = new LineClock(options),
): MetricsReading {
  return checkLine(text, lineNumber, schema, options, clock, true);
}

function checkLine(text: string, lineNumber: number, schema: MetricsSchema, options: ValidateOptions, clock: LineClock, partial = false): MetricsReading {
  const check = new LineCheck(schema, options, clock, partial);
  const record = check.line(text);
  check.summarizeOmitted();
  return { lineNumber, record, problems: check.problems, valid: !hasErrors(check.problems) };
}

class LineCheck {
  readonly problems: Problem[] = [];
  readonly #unknown: Severity;
  readonly #maxProblems: number;
  /** Problems past the limit, counted but not listed. */
  #omittedErrors = 0;
  #omittedWarnings = 0;

  constructor(
    readonly schema: MetricsSchema,
    readonly options: ValidateOptions,
    readonly clock: LineClock,
    /** Missing parts and the order of keys are not checked (`readMetricsLinePartial`). */
    readonly partial: boolean,
  ) {
    this.#unknown = options.strict === true ? 'error' : 'warning';
    this.#maxProblems = maxProblemsOption(options.maxProblemsPerLine);
  }

  /** Whether the list is full: further problems are only counted. */
  get full(): boolean {
    return this.problems.length >= this.#maxProblems;
  }

  report(problem: Problem): void {
    if (!this.full) this.problems.push(problem);
    else if (problem.severity === 'error') this.#omittedErrors++;
    else this.#omittedWarnings++;
  }

  error(path: readonly string[], message: string): void {
    this.report({ severity: 'error', path, message });
  }

  unknown(path: readonly string[], message: string): void {
    this.report({ severity: this.#unknown, path, message });
  }

  /** Ends the list with one problem that counts the omitted ones, if any. */
  summarizeOmitted(): void {
    const errors = this.#omittedErrors;
    const warnings = this.#omittedWarnings;
    if (errors + warnings === 0) return;
    const counts = [errors > 0 ? plural(errors, 'error') : '', warnings > 0 ? plural(warnings, 'warning') : ''].filter((c) => c !== '');
    this.problems.push({
      severity: errors > 0 ? 'error' : 'warning',
      path: [],
      message: `… and ${plural(errors + warnings, 'more problem')} on this line (${counts.join(', ')}), not listed: only the first ${this.#maxProblems} are`,
      omitted: { errors, warnings },
    });
  }

  line(text: string): MetricsRecord | undefined {
    let root: JsonNode;
    try {
      root = parseJsonNode(text);
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error;
      this.error([], text.trim() === '' ? 'empty line' : `invalid JSON: ${error.message}`);
      return undefined;
    }
    if (!(root instanceof JsonObjectNode)) {
      this.error([], `expected a JSON object, got ${describeJsonValue(root)}`);
      return undefined;
    }

    let timestamp: number | undefined;
    let id: string | undefined;
    let properties: Record<string, string> | undefined;
    const groups: Record<string, ExactJson> = {};
    const seen = new Set<string>();
    const placed: Placed<KeyRank>[] = [];
    const { keys, values } = root;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const value = values[i] as JsonNode;
      const path = [key];
      if (seen.has(key)) this.error(path, 'repeated key (the last value is kept)');
      seen.add(key);
      const header = headerRank(key);
      if (header !== undefined && (key === 'utc_timestamp_ms' || this.schema.header.has(key as OptionalHeaderKey))) {
        placed.push({ key, rank: header });
        if (key === 'utc_timestamp_ms') timestamp = this.timestamp(value, path);
        else if (key === 'id') id = this.id(value, path);
        else properties = this.properties(value, path);
        continue;
      }
      const role = this.schema.roleOf(key);
      if (role === undefined) {
        this.unknown(path, 'unknown entry, not in the schema (kept as it is)');
        defineMember(groups, key, toExactJson(value));
        continue;
      }
      placed.push({ key, rank: entryRank(role) });
      defineMember(groups, key, this.group(value, role.schema, path));
    }

    if (!this.partial) this.order(placed, compareKeyRanks, 'entry', []);
    if (!seen.has('utc_timestamp_ms')) this.error(['utc_timestamp_ms'], 'missing');
    for (const entry of this.partial ? [] : this.schema.entries) {
      if (entry.kind === 'group') {
        if (entry.required && !seen.has(entry.key)) this.error([entry.key], 'missing group');
      } else if (entry.aggregate && !seen.has(entry.prefix)) {
        this.error([entry.prefix], 'missing aggregate entry');
      }
    }

    if (timestamp === undefined) return undefined;
    const record: { -readonly [K in keyof MetricsRecord]: MetricsRecord[K] } = { utc_timestamp_ms: timestamp, groups };
    if (id !== undefined) record.id = id;
    if (properties !== undefined) record.properties = properties;
    return record;
  }

  /** Reports the keys (members of the object at `path`) that are out of order. */
  order<R>(placed: readonly Placed<R>[], compare: (a: R, b: R) => number, what: string, path: readonly string[]): void {
    if (this.partial) return;
    let sorted = true;
    for (let i = 1; i < placed.length && sorted; i++) {
      sorted = compare((placed[i - 1] as Placed<R>).rank, (placed[i] as Placed<R>).rank) <= 0;
    }
    if (sorted) return;
    const misplaced = misplacedItems(placed, (a, b) => compare(a.rank, b.rank));
    for (const [i, { index, after }] of misplaced.entries()) {
      if (this.full) {
        // Counted, not formatted: a hostile line may misplace every one of a million keys.
        this.#omittedErrors += misplaced.length - i;
        return;
      }
      const where = after === undefined ? 'first' : `after ${JSON.stringify((placed[after] as Placed<R>).key)}`;
      this.error([...path, (placed[index] as Placed<R>).key], `${what} out of order: expected ${where}`);
    }
  }

  timestamp(value: JsonNode, path: readonly string[]): number | undefined {
    const { earliest, latest } = this.clock.read();
    if (value instanceof JsonLongInteger) {
      const why = value.negative ? 'not a positive time' : `after ${iso(latest)} (more than a day ahead)`;
      this.error(path, `implausible time ${describeJsonValue(value)}: ${why}`);
      return undefined;
    }
    if (typeof value !== 'number' && typeof value !== 'bigint') {
      this.error(path, `expected an integer number of milliseconds, got ${describeJsonValue(value)}`);
      return undefined;
    }
    if (typeof value === 'bigint' || value < earliest || value > latest) {
      const why = value <= 0 ? 'not a positive time' : value < earliest ? `before ${iso(earliest)}` : `after ${iso(latest)} (more than a day ahead)`;
      this.error(path, `implausible time ${String(value)}: ${why}`);
    }
    return typeof value === 'number' ? value : undefined;
  }

  id(value: JsonNode, path: readonly string[]): string | undefined {
    if (typeof value === 'string') return value;
    this.error(path, `expected a string, got ${describeJsonValue(value)}`);
    return undefined;
  }

  properties(value: JsonNode, path: readonly string[]): Record<string, string> | undefined {
    if (!(value instanceof JsonObjectNode)) {
      this.error(path, `expected an object of strings, got ${describeJsonValue(value)}`);
      return undefined;
    }
    const properties: Record<string, string> = {};
    const seen = new Set<string>();
    const placed: Placed<string>[] = [];
    for (let i = 0; i < value.keys.length; i++) {
      const key = value.keys[i] as string;
      const member = value.values[i] as JsonNode;
      if (seen.has(key)) this.error([...path, key], 'repeated key (the last value is kept)');
      seen.add(key);
      placed.push({ key, rank: key });
      if (typeof member === 'string') defineMember(properties, key, member);
      else this.error([...path, key], `expected a string, got ${describeJsonValue(member)}`);
    }
    this.order(placed, compareKeys, 'property', path);
    return properties;
  }

  /** Checks a group object; returns its value for the record. */
  group(value: JsonNode, schema: MetricsSchema['entries'][number]['schema'], path: readonly string[]): ExactJson {
    if (!(value instanceof JsonObjectNode)) {
      this.error(path, `expected an object of metrics, got ${describeJsonValue(value)}`);
      return toExactJson(value);
    }
    const layout = groupLayout(schema);
    const fields = layout.fields;
    const { keys, values } = value;
    if (inLayoutOrder(keys, fields)) {
      // The common case: exactly the declared fields, in order. The record's object is a copy
      // of the layout's template (one shape for every line) with the values set.
      const out: Record<string, ExactJson> = { ...layout.template };
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i] as FieldLayout;
        const member = values[i] as JsonNode;
        out[field.name] =
          field.members === undefined
            ? isPlainU64(member)
              ? (member as number | bigint)
              : this.u64(member, path, field.name)
            : this.latency(member, field, path, field.name);
      }
      return out;
    }
    const found = new Array<boolean>(fields.length).fill(false);
    const out: Record<string, ExactJson> = {};
    const placed: Placed<number>[] = [];
    let unknownSeen: Set<string> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const member = values[i] as JsonNode;
      const field: FieldLayout | undefined = layout.byName.get(key);
      if (field === undefined) {
        unknownSeen ??= new Set();
        if (unknownSeen.has(key)) this.error([...path, key], 'repeated key (the last value is kept)');
        else this.unknown([...path, key], 'unknown field, not in the schema (kept as it is)');
        unknownSeen.add(key);
        defineMember(out, key, toExactJson(member));
        continue;
      }
      if (found[field.index] === true) this.error([...path, key], 'repeated key (the last value is kept)');
      found[field.index] = true;
      placed.push({ key, rank: field.index });
      defineMember(out, key, field.members === undefined ? this.u64(member, path, key) : this.latency(member, field, path, key));
    }
    this.order(placed, (a, b) => a - b, 'field', path);
    for (const field of this.partial ? [] : fields) {
      if (found[field.index] !== true) this.error([...path, field.name], 'missing field');
    }
    return out;
  }

  /** Checks the latency object `key` of the group at `parent`. */
  latency(value: JsonNode, field: FieldLayout, parent: readonly string[], key: string): ExactJson {
    const members = field.members ?? [];
    if (!(value instanceof JsonObjectNode)) {
      const names = members.map((m) => m.member).join(', ');
      this.error([...parent, key], `expected an object of ${names}, got ${describeJsonValue(value)}`);
      return toExactJson(value);
    }
    const { keys, values } = value;
    if (keys.length === 3 && keys[0] === 'min_us' && keys[1] === 'max_us' && keys[2] === 'sum_us') {
      const [min, max, sum] = values as [JsonNode, JsonNode, JsonNode];
      if (isPlainU64(min) && isPlainU64(max) && isPlainU64(sum)) {
        return { min_us: min as number | bigint, max_us: max as number | bigint, sum_us: sum as number | bigint };
      }
    }
    const path = [...parent, key];
    const found = new Array<boolean>(members.length).fill(false);
    const out: Record<string, ExactJson> = {};
    const placed: Placed<number>[] = [];
    for (let i = 0; i < keys.length; i++) {
      const name = keys[i] as string;
      const member = values[i] as JsonNode;
      const index = members.findIndex((m) => m.member === name);
      if (index === -1) {
        this.unknown([...path, name], 'unknown field, not in the schema (kept as it is)');
        defineMember(out, name, toExactJson(member));
        continue;
      }
      if (found[index] === true) this.error([...path, name], 'repeated key (the last value is kept)');
      found[index] = true;
      placed.push({ key: name, rank: index });
      defineMember(out, name, this.u64(member, path, name));
    }
    this.order(placed, (a, b) => a - b, 'field', path);
    members.forEach((m, i) => {
      if (found[i] !== true && !this.partial) this.error([...path, m.member ?? ''], 'missing field');
    });
    return out;
  }

  /** Checks that the value `key` of `parent` is an integer from 0 to 2^64 − 1; returns it for the record. */
  u64(value: JsonNode, parent: readonly string[], key: string): ExactJson {
    if (isPlainU64(value)) return value as number | bigint;
    const path = [...parent, key];
    if (typeof value === 'number') {
      this.error(path, `expected a non-negative integer, got ${formatNumber(value)}`);
      return value;
    }
    if (typeof value === 'bigint') {
      if (value < 0n) this.error(path, `expected a non-negative integer, got ${clip(value.toString())}`);
      else this.error(path, `out of range: ${clip(value.toString())} is more than 2^64-1 (18446744073709551615)`);
      return value;
    }
    if (value instanceof JsonLongInteger) {
      if (value.negative) this.error(path, `expected a non-negative integer, got ${describeJsonValue(value)}`);
      else this.error(path, `out of range: ${describeJsonValue(value)} is more than 2^64-1 (18446744073709551615)`);
      return value;
    }
    if (value instanceof JsonDecimal) {
      this.error(path, `expected an integer, got ${clip(value.text)}`);
      return value;
    }
    this.error(path, `expected an integer, got ${describeJsonValue(value)}`);
    return toExactJson(value);
  }
}

/** A parsed integer from 0 to 2^64 − 1 (the parser gives numbers only for integer literals). */
function isPlainU64(value: JsonNode): boolean {
  if (typeof value === 'number') return value > 0 || (value === 0 && 1 / value > 0);
  return typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
}

/** Whether `keys` are exactly the layout's fields, in order. */
function inLayoutOrder(keys: readonly string[], fields: readonly FieldLayout[]): boolean {
  if (keys.length !== fields.length) return false;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== (fields[i] as FieldLayout).name) return false;
  return true;
}

function maxProblemsOption(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_PROBLEMS_PER_LINE;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`maxProblemsPerLine: expected a positive integer, got ${String(value)}`);
  }
  return value;
}

function formatNumber(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/**
 * A parsed value of the line, as a message quotes it: its type and, clipped, its text (a long
 * integer by its digit count and ends, never converted).
 */
function describeJsonValue(value: JsonNode): string {
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `the string ${JSON.stringify(shown)}`;
  }
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof JsonDecimal) return clip(value.text);
  if (value instanceof JsonLongInteger) {
    // Its ends, never its value: the digits are not converted.
    const sign = value.negative ? 'negative ' : '';
    const digits = value.negative ? value.text.slice(1) : value.text;
    return `${article(value.digits)} ${sign}${value.digits}-digit integer (${digits.slice(0, 10)}…${digits.slice(-10)})`;
  }
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

/** "an 8-digit", "an 18-digit", "a 21-digit": by how the number is spoken. */
function article(n: number): string {
  const text = String(n);
  const group = text.length % 3 === 2 ? text.slice(0, 2) : '';
  return text.startsWith('8') || group === '11' || group === '18' ? 'an' : 'a';
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** A number's text as a message quotes it: whole up to 40 characters, else its ends and length. */
function clip(text: string): string {
  return text.length <= 40 ? text : `${text.slice(0, 20)}…${text.slice(-8)} (${text.length} characters)`;
}
