/**
 * Lines of any Firecracker release, read without being told which: each line is read against
 * the releases' schemas, and what it fits is part of its reading.
 *
 * ```ts
 * const reader = new AnyReleaseReader();
 * for await (const reading of readMetrics('vm.fifo', { follow: true, readLine: reader.read })) {
 *   const { fits, nearest, unknown } = reading as AnyReleaseReading;
 *   console.log(fits?.name ?? `no release's (nearest ${nearest.name})`, unknown.length);
 * }
 * ```
 *
 * A line is first offered to the fast path of each release's schema (`readCleanLineAmong`: one
 * `JSON.parse`, then a walk per schema, the source's last release's first), which takes a line
 * exactly as that release writes it. Any other line is read whole by the exact path against
 * every release's fields at once (`everyReleaseSchema`), missing parts and key order allowed,
 * and is refused only when it is not JSON, a value has the wrong type or is out of range (or, with
 * `strict`, when it is no release's line exactly). It is then
 * - checked against the releases nearest to it, exactly, when its keys are theirs (a line the
 *   fast path leaves to the exact path: whitespace, a value at a power of ten past 10^16, …);
 * - read as the nearest release's (`nearest`): which of them knows most of its keys and
 *   fields and misses fewest, the newest on a tie;
 * - searched for what no release knows (`unknown`): each such value must be an integer from
 *   0 to 2^64 − 1 or a latency object (`min_us`, `max_us`, `sum_us`), else the line is refused.
 */
import { U64_MAX } from '../metrics/u64.js';
import { readCleanLineAmong } from './clean-line.js';
import { JsonDecimal, JsonLongInteger, type ExactJson, type ExactJsonObject } from './exact-json.js';
import { everyReleaseSchema } from './every-release.js';
import { hasErrors, type Problem } from './problems.js';
import type { MetricsReading, MetricsRecord } from './record.js';
import { releaseLineSets, type ReleaseLineSet } from './release-lines.js';
import { groupLayout, type MetricsSchema } from './schema.js';
import { LineClock, type TimestampOptions } from './timestamps.js';
import { readMetricsLineExact, readMetricsLinePartial } from './validate.js';

export interface AnyReleaseReading extends MetricsReading {
  /** The releases whose lines this one is, exactly as they write them; undefined when it is none's. */
  readonly fits: ReleaseLineSet | undefined;
  /**
   * The releases it is read as: `fits` when it fits, else the nearest (see the module doc). It
   * says whether `block` and `net` are single groups (up to v1.5) or aggregates.
   */
  readonly nearest: ReleaseLineSet;
  /** Where the record holds values no release declares: `[key, field]`, each a u64 or a latency object. */
  readonly unknown: readonly UnknownValue[];
}

/** A value no release declares: the line's key and the field in its object. */
export type UnknownValue = readonly [key: string, field: string];

export interface AnyReleaseOptions extends TimestampOptions {
  /** A line that is no release's exactly is refused (its problems against the nearest release). @default false */
  readonly strict?: boolean;
  /** Optional entries every release's lines must carry (`['rtc']` on aarch64). */
  readonly require?: readonly string[];
  /** @default `DEFAULT_MAX_PROBLEMS_PER_LINE` */
  readonly maxProblemsPerLine?: number;
}

const NONE: readonly UnknownValue[] = Object.freeze([]);
/** Shapes of lines that fit no release, remembered with their nearest release; more are forgotten at once. */
const MAX_REMEMBERED_SHAPES = 32;

/** Reads lines of any release; one per source, since it remembers the source's last release. */
export class AnyReleaseReader {
  readonly sets: readonly ReleaseLineSet[];
  readonly #schemas: readonly MetricsSchema[];
  readonly #options: AnyReleaseOptions;
  /** The index of the set the last fitting line was; the newest before any. */
  #hint: number;
  readonly #nearestByShape = new Map<string, number>();

  constructor(options: AnyReleaseOptions = {}) {
    this.#options = options;
    this.sets = releaseLineSets(options.require === undefined ? {} : { require: options.require });
    this.#schemas = this.sets.map((s) => s.schema);
    this.#hint = this.sets.length - 1;
  }

  /** Reads one line (without its newline); never throws for bad input. Bound: pass it as `readLine`. */
  readonly read = (text: string, lineNumber: number): AnyReleaseReading => {
    const clock = new LineClock(this.#options);
    const fast = readCleanLineAmong(text, this.#schemas, this.#hint, clock);
    if (fast !== undefined) {
      this.#hint = fast.index;
      const set = this.sets[fast.index] as ReleaseLineSet;
      return { lineNumber, record: fast.record, problems: [], valid: true, fits: set, nearest: set, unknown: NONE };
    }
    const reading = readMetricsLinePartial(text, lineNumber, everyReleaseSchema(), this.#options, clock);
    const record = reading.record;
    if (!reading.valid || record === undefined) return { ...reading, fits: undefined, nearest: this.sets[this.#hint] as ReleaseLineSet, unknown: NONE };
    const problems: Problem[] = [...reading.problems];
    const unknown = unknownValues(record, problems);
    const nearestIndex = this.#nearest(record);
    const nearest = this.sets[nearestIndex] as ReleaseLineSet;
    let fits: ReleaseLineSet | undefined;
    if (reading.problems.length === 0 && coversExactly(record, nearest.schema)) {
      if (readMetricsLineExact(text, lineNumber, nearest.schema, { ...this.#options, strict: true }, clock).valid) fits = nearest;
    }
    if (fits !== undefined) this.#hint = nearestIndex;
    else if (this.#options.strict === true && !hasErrors(problems)) {
      const against = readMetricsLineExact(text, lineNumber, nearest.schema, { ...this.#options, strict: true }, clock);
      problems.unshift({ severity: 'error', path: [], message: `not a line of any Firecracker release (nearest: ${nearest.name})` }, ...against.problems);
    }
    const valid = !hasErrors(problems);
    return { lineNumber, record, problems, valid, fits, nearest, unknown: valid ? unknown : NONE };
  };

  /** The index of the set nearest to a line that fits none: see the module doc. */
  #nearest(record: MetricsRecord): number {
    const groups = record.groups;
    let shape = '';
    for (const key in groups) shape += `${key}:${String(fieldCount(groups[key]))},`;
    const remembered = this.#nearestByShape.get(shape);
    if (remembered !== undefined) return remembered;
    let best = this.sets.length - 1;
    let bestScore = -Infinity;
    this.#schemas.forEach((schema, index) => {
      const score = closeness(groups, schema);
      if (score >= bestScore) {
        best = index;
        bestScore = score;
      }
    });
    if (this.#nearestByShape.size >= MAX_REMEMBERED_SHAPES) this.#nearestByShape.clear();
    this.#nearestByShape.set(shape, best);
    return best;
  }
}

function isObject(value: ExactJson | undefined): value is ExactJsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonDecimal) && !(value instanceof JsonLongInteger);
}

function fieldCount(value: ExactJson | undefined): number {
  return isObject(value) ? Object.keys(value).length : -1;
}

/** Fields of the line the schema knows, less those it does not and those it expects but the line lacks. */
function closeness(groups: MetricsRecord['groups'], schema: MetricsSchema): number {
  let score = 0;
  for (const key in groups) {
    const value = groups[key];
    const role = schema.roleOf(key);
    if (role === undefined || !isObject(value)) {
      score -= Math.max(1, fieldCount(value));
      continue;
    }
    const { byName, fields } = groupLayout(role.schema);
    let known = 0;
    for (const field in value) if (byName.has(field)) known++;
    score += known - (Object.keys(value).length - known) - (fields.length - known);
  }
  for (const entry of schema.entries) {
    const key = entry.kind === 'group' ? (entry.required ? entry.key : undefined) : entry.aggregate ? entry.prefix : undefined;
    if (key !== undefined && !Object.hasOwn(groups, key)) score -= groupLayout(entry.schema).fields.length;
  }
  return score;
}

/** Whether the record has exactly the schema's keys and fields (order aside): then it may be its line. */
function coversExactly(record: MetricsRecord, schema: MetricsSchema): boolean {
  if ((record.id !== undefined && !schema.header.has('id')) || (record.properties !== undefined && !schema.header.has('properties'))) return false;
  let required = 0;
  for (const key in record.groups) {
    const role = schema.roleOf(key);
    const value = record.groups[key];
    if (role === undefined || !isObject(value)) return false;
    const { byName, fields } = groupLayout(role.schema);
    let count = 0;
    for (const field in value) {
      if (!byName.has(field)) return false;
      count++;
    }
    if (count !== fields.length) return false;
    if (role.role === 'aggregate' || (role.entry.kind === 'group' && role.entry.required)) required++;
  }
  let expected = 0;
  for (const entry of schema.entries) if (entry.kind === 'group' ? entry.required : entry.aggregate) expected++;
  return required === expected;
}

/**
 * The values no release declares; a problem for each that is neither a u64 nor a latency
 * object (which makes the line invalid: it cannot be served).
 */
function unknownValues(record: MetricsRecord, problems: Problem[]): UnknownValue[] {
  const union = everyReleaseSchema();
  const unknown: UnknownValue[] = [];
  for (const key in record.groups) {
    const value = record.groups[key];
    const role = union.roleOf(key);
    if (!isObject(value)) {
      // A known entry's type was checked by the exact path.
      if (role === undefined) problems.push({ severity: 'error', path: [key], message: 'expected an object of metrics (an entry no Firecracker release writes)' });
      continue;
    }
    const byName = role === undefined ? undefined : groupLayout(role.schema).byName;
    for (const field in value) {
      if (byName?.has(field) === true) continue;
      if (isMetricValue(value[field])) unknown.push([key, field]);
      else problems.push({ severity: 'error', path: [key, field], message: 'expected an integer from 0 to 2^64-1 or an object of min_us, max_us and sum_us (a field no Firecracker release writes)' });
    }
  }
  return unknown;
}

function isU64(value: ExactJson | undefined): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 && !Object.is(value, -0);
  return typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
}

/** A u64, or exactly `{min_us, max_us, sum_us}` of u64s, in that order. */
function isMetricValue(value: ExactJson | undefined): boolean {
  if (isU64(value)) return true;
  if (!isObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 3 && keys[0] === 'min_us' && keys[1] === 'max_us' && keys[2] === 'sum_us' && keys.every((k) => isU64(value[k]));
}
