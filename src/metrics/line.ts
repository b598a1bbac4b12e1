/**
 * The metrics line a document writes itself into.
 *
 * A document's entries (and any section of one's own) append members to the line: a group's
 * values with `group()`, any JSON with `entry()`, a counter's delta with `takeDelta()`. What the
 * line takes is recorded in its ledger, which only the writer settles: it commits once the line
 * is out in full and rolls back otherwise, so a section never decides what counts as written.
 */
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { encodeJson, encodeMemberKey, type JsonBytes, type JsonPiece } from './json-bytes.js';
import type { FlushLedger } from './ledger.js';
import type { IncMetric } from './metric.js';
import { isDeltaSlot } from './slots.js';
import type { U64 } from './u64.js';

export class MetricsLine {
  readonly #out: JsonBytes;
  readonly #ledger: FlushLedger;

  /** Lines are made by the writer (`Metrics`), which settles them; see `beginLine`. */
  constructor(out: JsonBytes, ledger: FlushLedger) {
    this.#out = out;
    this.#ledger = ledger;
  }

  /** Whether this line only renders (`render()`), taking and committing nothing. */
  get peek(): boolean {
    return this.#ledger.peek;
  }

  /** Runs `callback` when the line is committed (never for a peek line, nor on rollback). */
  afterCommit(callback: () => void): void {
    this.#ledger.afterCommit(callback);
  }

  /** Takes the delta of a counter made by this library into this line, and returns it. */
  takeDelta(metric: IncMetric): U64 {
    if (!isDeltaSlot(metric)) throw new TypeError(`${metric.name}: not a counter made by vmm-metrics`);
    return this.#ledger.take(metric);
  }

  /** Appends the member `"key":json`; `key` may hold any characters, `json` must be JSON. */
  entry(key: string, json: string): void {
    this.#out.writePiece(encodeMemberKey(key));
    this.#out.writeText(json);
  }

  /**
   * Takes a group's values and appends them as the member `key`; `keyPiece`, if given, is the
   * key already encoded with `encodeMemberKey(key)`. With `row`, the values written are pushed
   * onto it in `schema.values` order (for an aggregate).
   */
  group<F extends GroupFields>(key: string | JsonPiece, schema: GroupSchema<F>, group: MetricGroup<F>, row?: U64[]): void {
    this.#out.writePiece(typeof key === 'string' ? encodeMemberKey(key) : key);
    schema.writeGroup(this.#out, group, this.#ledger, row);
  }

  /** Takes a group's values without writing them (to combine with others, then `row()`). */
  takeRow<F extends GroupFields>(schema: GroupSchema<F>, group: MetricGroup<F>): U64[] {
    return schema.takeRow(group, this.#ledger);
  }

  /** Appends the member `key` holding one row of values in `schema.values` order. */
  row<F extends GroupFields>(key: string | JsonPiece, schema: GroupSchema<F>, values: readonly U64[]): void {
    this.#out.writePiece(typeof key === 'string' ? encodeMemberKey(key) : key);
    schema.writeRow(this.#out, values);
  }
}

/** What the line starts with: the timestamp, then any header members already serialized. */
export interface LineHeader {
  readonly timestampMs: number;
  /** `,"id":…,"properties":{…}`, or empty. */
  readonly headerFields: string;
}

const TIMESTAMP_KEY = encodeJson('{"utc_timestamp_ms":');
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;

/** Starts a line in `out`: the header, ready for the document's members. */
export function beginLine(out: JsonBytes, ledger: FlushLedger, header: LineHeader): MetricsLine {
  out.writePiece(TIMESTAMP_KEY);
  out.writeU64(header.timestampMs);
  if (header.headerFields !== '') out.writeText(header.headerFields);
  return new MetricsLine(out, ledger);
}

/** Closes the line in `out` with its brace and newline; returns its length in bytes. */
export function endLine(out: JsonBytes): number {
  out.writeByte(CLOSE_BRACE);
  out.writeByte(NEWLINE);
  return out.length;
}
