/**
 * The human view of `vmm-metrics tail`: for one line, per group, the counters that moved with
 * their deltas and per-second rates, and the stores whose value changed.
 *
 * Counters (`inc`) are written as deltas since the previous flush, so a counter's delta is its
 * value in the line; its rate is that delta divided by the seconds between this line's timestamp
 * and the previous line's. Stores are compared with their value in the previous line.
 */
import type { MetricsReading } from '../reader/record.js';
import { recordNumbers } from '../reader/record.js';
import { formatProblem } from '../reader/problems.js';
import { groupLayout, type MetricsSchema } from '../reader/schema.js';

type Kind = 'inc' | 'store' | 'unknown';

interface Row {
  readonly name: string;
  readonly delta: string;
  readonly rate: string;
  readonly value: string;
}

const MAX_PROBLEMS_SHOWN = 10;

export class TailView {
  #previousTimestamp: number | undefined;
  #previousStores = new Map<string, number | bigint>();

  constructor(private readonly schema: MetricsSchema) {}

  /** Forget the previous line (the source started over). */
  reset(): void {
    this.#previousTimestamp = undefined;
    this.#previousStores = new Map();
  }

  /** The block of text for one reading, ending with a newline. */
  render(reading: MetricsReading, source: string): string {
    const out: string[] = [];
    const record = reading.record;
    if (record === undefined) {
      out.push(`line ${reading.lineNumber}: broken line, skipped`);
      for (const p of reading.problems.slice(0, MAX_PROBLEMS_SHOWN)) out.push(`  ${formatProblem(p)}`);
      return `${out.join('\n')}\n`;
    }
    const timestamp = record.utc_timestamp_ms;
    const seconds = this.#previousTimestamp === undefined ? undefined : (timestamp - this.#previousTimestamp) / 1000;
    const header = [`${source} line ${reading.lineNumber}`, isoTime(timestamp)];
    header.push(seconds === undefined ? 'first line shown: no rates' : `${seconds.toFixed(3)} s after the previous line`);
    if (record.id !== undefined) header.push(`id ${JSON.stringify(record.id)}`);
    out.push(header.join('  |  '));

    const groups = new Map<string, Row[]>();
    let moved = 0;
    let unchanged = 0;
    let unknownShown = false;
    const stores = new Map<string, number | bigint>();
    for (const { path, value } of recordNumbers(record)) {
      const key = path[0] ?? '';
      const name = path.slice(1).join('.');
      const kind = this.#kindOf(path);
      const marker = kind === 'unknown' ? ' *' : '';
      let row: Row | undefined;
      if (kind === 'store') {
        const id = JSON.stringify(path);
        stores.set(id, value);
        const before = this.#previousStores.get(id);
        const changed = before === undefined ? value !== 0 && value !== 0n : before !== value;
        if (changed) {
          const change = before === undefined ? '' : signed(BigInt(value) - BigInt(before));
          row = { name: name + marker, delta: change, rate: '', value: value.toString() };
        }
      } else if (value !== 0 && value !== 0n) {
        const rate = seconds !== undefined && seconds > 0 ? formatRate(Number(value) / seconds) : '-';
        row = { name: name + marker, delta: signed(BigInt(value)), rate, value: '' };
      }
      if (row === undefined) {
        unchanged++;
        continue;
      }
      moved++;
      if (kind === 'unknown') unknownShown = true;
      let rows = groups.get(key);
      if (rows === undefined) {
        rows = [];
        groups.set(key, rows);
      }
      rows.push(row);
    }
    this.#previousTimestamp = timestamp;
    this.#previousStores = stores;

    if (groups.size === 0) {
      out.push('  nothing moved');
    } else {
      for (const line of table(groups)) out.push(line);
    }
    out.push(`  ${moved} moved in ${groups.size} ${groups.size === 1 ? 'entry' : 'entries'}, ${unchanged} unchanged`);
    if (unknownShown) out.push('  * not in the schema');
    const problems = reading.problems;
    for (const p of problems.slice(0, MAX_PROBLEMS_SHOWN)) out.push(`  ! ${formatProblem(p)}`);
    if (problems.length > MAX_PROBLEMS_SHOWN) out.push(`  ! ... and ${problems.length - MAX_PROBLEMS_SHOWN} more problems`);
    return `${out.join('\n')}\n`;
  }

  #kindOf(path: readonly string[]): Kind {
    const [key, field, member] = path;
    if (key === undefined || field === undefined) return 'unknown';
    const role = this.schema.roleOf(key);
    if (role === undefined) return 'unknown';
    const layout = groupLayout(role.schema).byName.get(field);
    if (layout === undefined) return 'unknown';
    if (layout.value !== undefined) return path.length === 2 ? layout.value.kind : 'unknown';
    const info = layout.members?.find((m) => m.member === member);
    return info !== undefined && path.length === 3 ? info.kind : 'unknown';
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

function signed(value: bigint): string {
  return value < 0n ? value.toString() : `+${value.toString()}`;
}

function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return '-';
  if (rate >= 1e15) return rate.toExponential(3);
  return rate.toFixed(rate >= 100 ? 1 : 3);
}

function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}
