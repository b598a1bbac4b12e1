/**
 * One metrics line being built: the flush transaction.
 *
 * Building a line takes every counter's delta; `commit()` after the line was written in full
 * makes those deltas flushed, `rollback()` after a failure returns them to the next line. A line
 * built with `{ peek: true }` takes nothing: it renders what a flush would write.
 *
 * The line is written as UTF-8 bytes as it is built (see `JsonBytes`); `bytes()` gives them with
 * the closing brace and newline, ready for a file or pipe.
 */
import type { GroupFields, GroupSchema, MetricGroup } from './group.js';
import { encodeJson, encodeMemberKey, JsonBytes, type ByteStorage, type JsonPiece } from './json-bytes.js';
import type { IncMetric } from './metric.js';
import { COMMIT, PEEK, ROLLBACK, TAKE, TAKE_SLOT, type DeltaSlot } from './slots.js';
import type { U64 } from './u64.js';

export interface LineHeader {
  readonly timestampMs: number;
  /** Already-serialized members that follow the timestamp (`,"id":…,"properties":{…}`). */
  readonly headerFields?: string;
}

export interface LineOptions {
  /** Render without taking anything. */
  readonly peek?: boolean;
  /**
   * Memory to write the line into, e.g. the previous line's (see `storage`); by default new
   * memory. `bytes()` is then valid until that memory is written again.
   */
  readonly storage?: ByteStorage;
}

const TIMESTAMP_KEY = encodeJson('{"utc_timestamp_ms":');
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;

export class MetricsLine extends JsonBytes {
  #settled = false;
  #closed = false;
  readonly #peek: boolean;
  readonly #taken: DeltaSlot[] = [];
  readonly #amounts: U64[] = [];
  #afterCommit: (() => void)[] | undefined;

  constructor(header: LineHeader, options: LineOptions = {}) {
    super(options.storage);
    this.#peek = options.peek ?? false;
    this.writePiece(TIMESTAMP_KEY);
    this.writeU64(header.timestampMs);
    if (header.headerFields !== undefined && header.headerFields !== '') this.writeText(header.headerFields);
  }

  /** Whether this line only renders, taking and committing nothing. */
  get peek(): boolean {
    return this.#peek;
  }

  /** Runs `callback` when the line is committed (never for a peek line, nor on rollback). */
  afterCommit(callback: () => void): void {
    if (this.#peek) return;
    (this.#afterCommit ??= []).push(callback);
  }

  /** Takes the delta of a counter made by this library into this line, and returns it. */
  takeDelta(metric: IncMetric): U64 {
    const slot = metric as DeltaSlot;
    if (typeof slot[TAKE] !== 'function') throw new TypeError(`${metric.name}: not a counter made by vmm-metrics`);
    return this[TAKE_SLOT](slot);
  }

  /** `takeDelta()` for a slot known to be a counter of this library (the groups' own). */
  [TAKE_SLOT](slot: DeltaSlot): U64 {
    if (this.#peek) return slot[PEEK]();
    const amount = slot[TAKE]();
    if (amount !== 0) {
      this.#taken.push(slot);
      this.#amounts.push(amount);
    }
    return amount;
  }

  /** Appends the member `"key":json`; `key` may hold any characters, `json` must be JSON. */
  entry(key: string, json: string): void {
    this.writePiece(encodeMemberKey(key));
    this.writeText(json);
  }

  /** Takes a group's values and appends them as the member `key` (`keyPiece`, if given, its encoding). */
  group<F extends GroupFields>(key: string, schema: GroupSchema<F>, group: MetricGroup<F>, keyPiece?: JsonPiece): void {
    this.#group(key, schema, group, keyPiece, undefined);
  }

  /** As `group()`, and returns the values written, in `schema.values` order, for aggregation. */
  groupRow<F extends GroupFields>(key: string, schema: GroupSchema<F>, group: MetricGroup<F>, keyPiece?: JsonPiece): U64[] {
    const row: U64[] = [];
    this.#group(key, schema, group, keyPiece, row);
    return row;
  }

  #group<F extends GroupFields>(
    key: string,
    schema: GroupSchema<F>,
    group: MetricGroup<F>,
    keyPiece: JsonPiece | undefined,
    row: U64[] | undefined,
  ): void {
    this.writePiece(keyPiece ?? encodeMemberKey(key));
    schema.writeGroup(this, group, row);
  }

  /**
   * Closes the line with its brace and newline, after which nothing can be appended, and
   * returns its length: the line is `storage.bytes[0 … length − 1]`.
   */
  finish(): number {
    if (!this.#closed) {
      this.#closed = true;
      this.writeByte(CLOSE_BRACE);
      this.writeByte(NEWLINE);
    }
    return this.length;
  }

  /** The complete line, with its closing brace and newline. */
  override bytes(): Uint8Array {
    this.finish();
    return super.bytes();
  }

  /** The complete line as text, without its newline. */
  text(): string {
    const bytes = this.bytes();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length - 1).toString('utf8');
  }

  commit(): void {
    this.#settle(COMMIT);
    if (this.#afterCommit) for (const callback of this.#afterCommit) callback();
  }

  rollback(): void {
    this.#settle(ROLLBACK);
  }

  #settle(how: typeof COMMIT | typeof ROLLBACK): void {
    if (this.#settled) throw new Error('A metrics line is committed or rolled back once');
    this.#settled = true;
    const taken = this.#taken;
    const amounts = this.#amounts;
    for (let i = 0; i < taken.length; i++) (taken[i] as DeltaSlot)[how](amounts[i] as U64);
  }
}
