/**
 * The human view of `vmm-metrics tail`: what a person comes to see in a metrics file — each
 * counter's total since the file began, each store's value, and the last line that moved
 * something (its deltas and rates) — in units a person reads (`quantity.ts`: MiB/s, not
 * 58810959.5). A session's last line, written at exit, usually moves nothing: the view keeps
 * showing the line before it that did.
 *
 * ```
 * metrics.json  |  id "vm-1"  |  31 lines from 2025-01-01T00:00:00.000Z over 30.2 s
 * last line that moved something: line 30, 1.000 s after line 29 (line 31 moved nothing)
 *   METRIC                        DELTA    PER SEC      VALUE
 *   balloon
 *     inflate_count                  +1      1.0/s        256
 *     free_page_report_freed   +2.0 MiB  2.0 MiB/s    1.4 GiB
 *   VALUE: a counter's total since line 1, a store's last value. DELTA, PER SEC: line 30's.
 *   3 moved in line 30; 12 values moved since line 1 in 2 entries, 226 never
 * ```
 *
 * Counters (`inc`) are written as deltas since the previous flush: a counter's delta is its value
 * in the line, its total the sum of its lines, its rate the delta divided by the seconds between
 * the line's timestamp and the previous line's. Stores are compared with their value in the
 * previous line. `storyLine` tells one line in one line of text, for `--from-start`'s replay.
 */
import { unitFromName, type MetricUnit } from '../metrics/units.js';
import type { MetricsReading } from '../reader/record.js';
import { recordNumbers } from '../reader/record.js';
import { formatProblem } from '../reader/problems.js';
import { groupLayout, type MetricsSchema } from '../reader/schema.js';
import { formatChange, formatQuantity, formatRate } from './quantity.js';

type Kind = 'inc' | 'store' | 'unknown';

/** One value of the lines, by its place in them. */
interface Value {
  /** The line's top-level key: `balloon`, `block_rootfs`. */
  readonly entry: string;
  /** The field, and the member of a latency field: `read_agg.sum_us`. */
  readonly name: string;
  readonly kind: Kind;
  readonly unit: MetricUnit;
  /** A counter's total since the first line read; a store's last value. */
  value: bigint;
}

/** What one line moved: each value's delta (a store's change), by key. */
export interface LineMoves {
  readonly lineNumber: number;
  readonly timestamp: number;
  /** Seconds since the previous line; undefined for the first line read. */
  readonly seconds: number | undefined;
  readonly deltas: ReadonlyMap<string, bigint>;
}

interface Row {
  readonly name: string;
  readonly delta: string;
  readonly rate: string;
  readonly value: string;
}

const MAX_PROBLEMS_SHOWN = 10;
/** How many moved values a story line names before it says how many more. */
const STORY_ITEMS = 6;

export class TailView {
  readonly #schema: MetricsSchema;
  readonly #source: string;
  /** What the totals count from: `line 1` for a file read from its start, else since tail started. */
  readonly #fromStart: boolean;
  readonly #values = new Map<string, Value>();
  #lines = 0;
  #brokenLines = 0;
  #firstTimestamp: number | undefined;
  #id: string | undefined;
  #latest: MetricsReading | undefined;
  #previousTimestamp: number | undefined;
  #lastMoving: LineMoves | undefined;

  /** `fromStart`: whether the source is read from its first line, so that totals are the file's. */
  constructor(schema: MetricsSchema, source: string, options: { readonly fromStart?: boolean } = {}) {
    this.#schema = schema;
    this.#source = source;
    this.#fromStart = options.fromStart ?? true;
  }

  /** Forgets everything: the source started over (a file truncated or replaced). */
  reset(): void {
    this.#values.clear();
    this.#lines = 0;
    this.#brokenLines = 0;
    this.#firstTimestamp = undefined;
    this.#id = undefined;
    this.#latest = undefined;
    this.#previousTimestamp = undefined;
    this.#lastMoving = undefined;
  }

  /** Takes one line into the totals; returns what it moved (empty for a broken line or one that moved nothing). */
  take(reading: MetricsReading): LineMoves | undefined {
    this.#latest = reading;
    const record = reading.record;
    if (record === undefined) {
      this.#brokenLines++;
      return undefined;
    }
    this.#lines++;
    const timestamp = record.utc_timestamp_ms;
    this.#firstTimestamp ??= timestamp;
    if (record.id !== undefined) this.#id = record.id;
    const seconds = this.#previousTimestamp === undefined ? undefined : (timestamp - this.#previousTimestamp) / 1000;
    this.#previousTimestamp = timestamp;
    const deltas = new Map<string, bigint>();
    for (const { path, value } of recordNumbers(record)) {
      const key = JSON.stringify(path);
      let known = this.#values.get(key);
      const number = BigInt(value);
      if (known === undefined) {
        known = this.#describe(path);
        this.#values.set(key, known);
        // A store seen first counts as moved when it is not 0: nothing said it was 0 before.
        if (number !== 0n) deltas.set(key, number);
        known.value = number;
        continue;
      }
      if (known.kind === 'store') {
        if (number !== known.value) deltas.set(key, number - known.value);
        known.value = number;
      } else if (number !== 0n) {
        deltas.set(key, number);
        known.value += number;
      }
    }
    const moves: LineMoves = { lineNumber: reading.lineNumber, timestamp, seconds, deltas };
    if (deltas.size > 0) this.#lastMoving = moves;
    return moves;
  }

  /** The block of text for the lines taken so far, ending with a newline. */
  render(): string {
    const out = [this.#header()];
    const latest = this.#latest;
    const moving = this.#lastMoving;
    if (this.#lines === 0) {
      out.push('  no line read yet');
    } else {
      if (moving === undefined) {
        out.push(`no line moved anything since ${this.#origin()}`);
      } else {
        const after = moving.seconds === undefined ? 'the first line read' : `${moving.seconds.toFixed(3)} s after the line before it`;
        const latestNote = latest !== undefined && latest.lineNumber !== moving.lineNumber ? ` (line ${latest.lineNumber}, the latest, moved nothing)` : '';
        out.push(`last line that moved something: line ${moving.lineNumber}, ${after}${latestNote}`);
      }
      // A loop, not a spread: a line of 150,000 values makes as many rows.
      for (const row of this.#table(moving)) out.push(row);
    }
    if (latest !== undefined) {
      if (latest.record === undefined) out.push(`  line ${latest.lineNumber}: broken line, skipped`);
      for (const p of latest.problems.slice(0, MAX_PROBLEMS_SHOWN)) out.push(`  ! ${formatProblem(p)}`);
      if (latest.problems.length > MAX_PROBLEMS_SHOWN) out.push(`  ! ... and ${latest.problems.length - MAX_PROBLEMS_SHOWN} more problems`);
    }
    return `${out.join('\n')}\n`;
  }

  /**
   * One line of text for what a line moved: `line 12  t+11.0 s  balloon: inflate_count +1,
   * free_page_report_freed +2.0 MiB`; undefined when it moved nothing (the caller tells runs of
   * those in one line).
   */
  storyLine(moves: LineMoves): string | undefined {
    if (moves.deltas.size === 0) return undefined;
    const byEntry = new Map<string, string[]>();
    let shown = 0;
    for (const [key, delta] of moves.deltas) {
      if (shown === STORY_ITEMS) break;
      const value = this.#values.get(key);
      if (value === undefined) continue;
      const items = byEntry.get(value.entry) ?? [];
      items.push(`${value.name} ${formatChange(delta, value.unit)}`);
      byEntry.set(value.entry, items);
      shown++;
    }
    const more = moves.deltas.size - shown;
    const since = this.#firstTimestamp === undefined ? 0 : (moves.timestamp - this.#firstTimestamp) / 1000;
    const told = [...byEntry].map(([entry, items]) => `${entry}: ${items.join(', ')}`).join('; ');
    return `line ${moves.lineNumber}  t+${since.toFixed(1)} s  ${told}${more > 0 ? `; and ${more} more` : ''}`;
  }

  #header(): string {
    const parts = [this.#source];
    if (this.#id !== undefined) parts.push(`id ${JSON.stringify(this.#id)}`);
    if (this.#firstTimestamp !== undefined && this.#previousTimestamp !== undefined) {
      const span = (this.#previousTimestamp - this.#firstTimestamp) / 1000;
      const lines = `${this.#lines} ${this.#lines === 1 ? 'line' : 'lines'}${this.#brokenLines > 0 ? ` (and ${this.#brokenLines} broken)` : ''}`;
      parts.push(`${lines} from ${isoTime(this.#firstTimestamp)} over ${span.toFixed(1)} s`);
    }
    return parts.join('  |  ');
  }

  /** What the totals count from. */
  #origin(): string {
    return this.#fromStart ? 'line 1' : 'tail started';
  }

  /** Every value that moved since the origin, per entry, with the last moving line's deltas and rates. */
  #table(moving: LineMoves | undefined): string[] {
    const groups = new Map<string, Row[]>();
    let movedSince = 0;
    let never = 0;
    let unknown = false;
    for (const [key, value] of this.#values) {
      const delta = moving?.deltas.get(key);
      if (delta === undefined && value.value === 0n) {
        never++;
        continue;
      }
      movedSince++;
      if (value.kind === 'unknown') unknown = true;
      const seconds = moving?.seconds;
      const rate = delta === undefined || value.kind === 'store' ? '' : seconds !== undefined && seconds > 0 ? formatRate(Number(delta) / seconds, value.unit) : '-';
      const row: Row = {
        name: value.name + (value.kind === 'unknown' ? ' *' : ''),
        delta: delta === undefined ? '' : formatChange(delta, value.unit),
        rate,
        value: formatQuantity(value.value, value.unit),
      };
      const rows = groups.get(value.entry) ?? [];
      rows.push(row);
      groups.set(value.entry, rows);
    }
    const out = groups.size === 0 ? ['  nothing moved'] : table(groups);
    const line = moving === undefined ? 'the latest line' : `line ${moving.lineNumber}`;
    out.push(`  VALUE: a counter's total since ${this.#origin()}, a store's last value. DELTA, PER SEC: ${line}'s.`);
    const entries = groups.size;
    out.push(
      `  ${moving?.deltas.size ?? 0} moved in ${line}; ${movedSince} ${movedSince === 1 ? 'value' : 'values'} moved since ${this.#origin()} ` +
        `in ${entries} ${entries === 1 ? 'entry' : 'entries'}, ${never} never`,
    );
    if (unknown) out.push('  * not in the schema: added up as a counter');
    return out;
  }

  #describe(path: readonly string[]): Value {
    const [entry = '', field = '', member] = path;
    const name = path.slice(1).join('.');
    const role = this.#schema.roleOf(entry);
    const layout = role === undefined ? undefined : groupLayout(role.schema).byName.get(field);
    const info = layout === undefined ? undefined : layout.value ?? layout.members?.find((m) => m.member === member);
    const fits = info !== undefined && path.length === (layout?.value === undefined ? 3 : 2);
    if (!fits) return { entry, name, kind: 'unknown', unit: unitFromName(path.at(-1) ?? ''), value: 0n };
    return { entry, name, kind: info.kind, unit: info.unit, value: 0n };
  }
}

/** Rows aligned in columns: metric names left, numbers right. */
function table(groups: ReadonlyMap<string, readonly Row[]>): string[] {
  const all = [...groups.values()].flat();
  const heading: Row = { name: 'METRIC', delta: 'DELTA', rate: 'PER SEC', value: 'VALUE' };
  const nameWidth = Math.max(widest(all, (r) => r.name.length + 2, heading.name.length), widest([...groups.keys()], (k) => k.length, 0));
  const deltaWidth = widest(all, (r) => r.delta.length, heading.delta.length);
  const rateWidth = widest(all, (r) => r.rate.length, heading.rate.length);
  const valueWidth = widest(all, (r) => r.value.length, heading.value.length);
  const format = (name: string, row: Row): string =>
    `  ${name.padEnd(nameWidth)}  ${row.delta.padStart(deltaWidth)}  ${row.rate.padStart(rateWidth)}  ${row.value.padStart(valueWidth)}`.trimEnd();
  const lines = [format(heading.name, heading)];
  for (const [key, rows] of groups) {
    lines.push(`  ${key}`);
    for (const row of rows) lines.push(format(`  ${row.name}`, row));
  }
  return lines;
}

/** The greatest width of `items`, at least `least`; a loop, as a spread of a line's many rows would overflow the stack. */
function widest<T>(items: readonly T[], width: (item: T) => number, least: number): number {
  let most = least;
  for (const item of items) most = Math.max(most, width(item));
  return most;
}

function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}
