/**
 * The metrics writer (Firecracker's `Metrics<T, M>`): owns a document and, once initialized with
 * a destination, writes it as one compact JSON line per flush — every 60 s by default, on
 * demand with `write()`, and optionally once more when the process exits.
 *
 * The writer alone decides when a line's deltas count as written. A line takes every counter's
 * delta as it is built; the sink then reports what became of its bytes, and the writer commits
 * the deltas (all out), keeps the rest of the line to offer first next time (part out, the rest
 * can follow), or rolls them back to the next line (nothing out). Each flush whose line does not
 * get out counts once in the missed-lines metric.
 */
import type { MetricsDocument } from './document.js';
import { openDestination, type MetricsDestination } from './destination.js';
import { MetricsAlreadyInitializedError, MetricsWriteError, MetricsWriteInProgressError, type MetricsError } from './errors.js';
import { flushAtExit } from './exit-flush.js';
import { allocateStorage, JsonBytes, type ByteStorage } from './json-bytes.js';
import { compareKeys } from './key-order.js';
import { FlushLedger } from './ledger.js';
import { beginLine, endLine } from './line.js';
import type { IncMetric } from './metric.js';
import type { LineSink, SinkResult } from './sink.js';

/** Firecracker's flush period. */
export const DEFAULT_FLUSH_INTERVAL_MS = 60_000;

export interface MetricsInitOptions {
  /** Written as `"id"` after the timestamp, to tell the lines of several VMMs apart. */
  readonly id?: string;
  /** Written as `"properties"` after the id, keys sorted. */
  readonly properties?: Readonly<Record<string, string>>;
  /**
   * Period of the automatic flush; `0` turns it off. The timer never keeps the process alive.
   * @default 60000
   */
  readonly flushIntervalMs?: number;
  /**
   * Write a last line when the process exits, and one on SIGTERM, SIGINT or SIGHUP. If the
   * application handles that signal itself, the process goes on and the exit line carries what
   * is counted until it exits; otherwise the signal is raised again and ends the process. Works
   * for paths and file descriptors, whose writes are synchronous; a stream cannot be written to
   * at exit.
   * @default false
   */
  readonly flushOnExit?: boolean;
  /**
   * Receives the failures of writes nobody awaits: the periodic and exit flushes, and streams.
   * @default process.emitWarning
   */
  readonly onError?: (error: MetricsError) => void;
  /**
   * The clock each line's `utc_timestamp_ms` is read from, in milliseconds since the epoch. Given
   * so that a caller (a test, a replay) can stamp lines with a time of its own.
   * @default Date.now
   */
  readonly now?: () => number;
}

export interface MetricsOptions {
  /**
   * Counts every flush whose line did not get out, as Firecracker counts them in
   * `logger.missed_metrics_count`.
   * @default the document's `writerMetrics.missedLines`
   */
  readonly missedLinesMetric?: IncMetric;
  /**
   * Counts every flush whose line could not be built because a section of the document threw,
   * as Firecracker counts serialization failures in `logger.metrics_fails`.
   * @default the document's `writerMetrics.failedLines`
   */
  readonly failedLinesMetric?: IncMetric;
}

/** A line part of which is out; its rest is offered first at the next write. */
interface PendingRest {
  bytes: Uint8Array;
  readonly ledger: FlushLedger;
}

export class Metrics<T extends MetricsDocument> {
  #sink: LineSink | undefined;
  #initialized = false;
  #headerFields = '';
  #storage: ByteStorage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #pending: PendingRest | undefined;
  /** The ledger of the line being built, while `write()` runs the document. */
  #building: FlushLedger | undefined;
  #stopFlushingAtExit: () => void = () => undefined;
  #now: () => number = Date.now;
  #report: (error: MetricsError) => void = (error) => {
    process.emitWarning(error);
  };

  readonly #missedLines: IncMetric | undefined;
  readonly #failedLines: IncMetric | undefined;

  constructor(
    readonly document: T,
    options: MetricsOptions = {},
  ) {
    this.#missedLines = options.missedLinesMetric ?? document.writerMetrics?.missedLines;
    this.#failedLines = options.failedLinesMetric ?? document.writerMetrics?.failedLines;
  }

  /**
   * Opens the destination and starts the periodic flush. Once only: a second call throws
   * "Reinitialization of metrics not allowed.", even after `close()`.
   */
  init(destination: MetricsDestination, options: MetricsInitOptions = {}): void {
    if (this.#initialized) throw new MetricsAlreadyInitializedError();
    const headerFields = serializeHeaderFields(options);
    const interval = checkInterval(options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    const { onError, flushOnExit = false, now } = options as { onError?: unknown; flushOnExit?: unknown; now?: unknown };
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError(`onError: expected a function, got ${typeof onError}`);
    if (now !== undefined && typeof now !== 'function') throw new TypeError(`now: expected a function, got ${typeof now}`);
    if (typeof flushOnExit !== 'boolean') throw new TypeError(`flushOnExit: expected a boolean, got ${typeof flushOnExit}`);
    if (options.onError) this.#report = options.onError;
    if (options.now) this.#now = options.now;
    this.#sink = openDestination(destination, (cause) => {
      this.#report(new MetricsWriteError(0, { cause }));
    });
    this.#initialized = true;
    this.#headerFields = headerFields;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.#writeReporting();
      }, interval).unref();
    }
    if (flushOnExit) this.#stopFlushingAtExit = flushAtExit(() => {
      this.#flushAtExit();
    });
  }

  get initialized(): boolean {
    return this.#initialized;
  }

  /**
   * Writes one line. Returns `false` if the writer has no destination (before `init()` or after
   * `close()`): then nothing is written and nothing is committed. Returns `true` once a complete
   * line is out and its deltas are committed; with a stream, once the stream took the line (its
   * deltas commit when the stream reports it written). Throws `MetricsWriteError` when the line
   * does not get out; its deltas then go to the next line. Throws `MetricsWriteInProgressError`
   * when called while this writer is building a line (from a section of its document).
   */
  write(): boolean {
    const sink = this.#sink;
    if (sink === undefined) return false;
    if (this.#building !== undefined) throw new MetricsWriteInProgressError();
    if (this.#pending !== undefined) this.#offerPendingRest(sink, this.#pending);
    const ledger = new FlushLedger(false);
    const out = new JsonBytes((this.#storage ??= allocateStorage(1024)));
    this.#building = ledger;
    try {
      this.document.appendTo(beginLine(out, ledger, { timestampMs: this.#timestamp(), headerFields: this.#headerFields }));
    } catch (cause) {
      if (this.#building === ledger) {
        // What the sections before the failing one took goes back, to the next line.
        ledger.rollback();
        this.#failedLines?.inc();
        this.#missedLines?.inc();
      }
      throw new MetricsWriteError(0, { cause });
    } finally {
      if (this.#building === ledger) this.#building = undefined;
    }
    // The exit flush gave this line up while a section ran (the section called process.exit()).
    if (ledger.settled) throw new MetricsWriteError(0, { cause: new Error('the line was given up while it was built') });
    const length = endLine(out);
    // Sinks copy what they keep: every line is built in the same memory.
    this.#storage = out.storage;
    const bytes = out.storage.bytes.subarray(0, length);
    const result = sink.write(bytes, false, (error) => {
      this.#settleQueued(ledger, error);
    });
    this.#settle(ledger, bytes, result);
    return true;
  }

  /** The line a write would produce now, without committing or changing anything. */
  render(): string {
    // Memory of its own: render() may be called from a section while a line is being built.
    const out = new JsonBytes(256);
    const ledger = new FlushLedger(true);
    this.document.appendTo(beginLine(out, ledger, { timestampMs: this.#timestamp(), headerFields: this.#headerFields }));
    endLine(out);
    return out.toString().slice(0, -1);
  }

  /**
   * Stops the timers and closes a destination opened from a path; call `write()` first for a
   * last line. A line part of which is out in a full pipe is finished first, in the background:
   * its rest is offered every 50 ms for up to 10 s (on a timer that does not keep the process
   * alive), and the pipe is closed after. A stream's line still queued is settled by the stream.
   */
  close(): void {
    if (this.#building !== undefined) throw new MetricsWriteInProgressError();
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopFlushingAtExit();
    this.#stopFlushingAtExit = () => undefined;
    const sink = this.#sink;
    const pending = this.#pending;
    this.#sink = undefined;
    this.#pending = undefined;
    if (sink === undefined) return;
    if (pending === undefined) sink.close();
    else this.#finishThenClose(sink, pending, performance.now() + CLOSE_DEADLINE_MS);
  }

  /**
   * The rest of a line, offered until it is out or the deadline passes: a new writer of the
   * same pipe must not append its first line to our fragment.
   */
  #finishThenClose(sink: LineSink, pending: PendingRest, deadline: number): void {
    const result = sink.write(pending.bytes, true, () => undefined);
    if (result.status === 'partial' && performance.now() < deadline) {
      pending.bytes = pending.bytes.subarray(result.written);
      setTimeout(() => {
        this.#finishThenClose(sink, pending, deadline);
      }, CLOSE_RETRY_MS).unref();
      return;
    }
    if (result.status === 'written') {
      pending.ledger.commit();
    } else {
      pending.ledger.rollback();
      this.#missedLines?.inc();
      const cause = result.status === 'failed' || result.status === 'partial' ? result.cause : new Error('unexpected sink result');
      this.#report(new MetricsWriteError(0, { cause }));
    }
    sink.close();
  }

  /** Offers the rest of a line; throws if the new line cannot follow it yet. */
  #offerPendingRest(sink: LineSink, pending: PendingRest): void {
    const result = sink.write(pending.bytes, true, () => undefined);
    if (result.status === 'written') {
      this.#pending = undefined;
      pending.ledger.commit();
      return;
    }
    if (result.status === 'partial') {
      pending.bytes = pending.bytes.subarray(result.written);
      this.#missedLines?.inc();
      throw new MetricsWriteError(pending.bytes.length, { cause: result.cause });
    }
    // The rest can never follow (the sink ends the fragment with a newline of its own): that
    // line is missed and its deltas go to the one written now.
    this.#pending = undefined;
    pending.ledger.rollback();
    this.#missedLines?.inc();
    this.#report(new MetricsWriteError(0, { cause: result.status === 'failed' ? result.cause : new Error('unexpected sink result') }));
  }

  /** The line's timestamp; a clock that gives something else fails the line, not the file. */
  #timestamp(): number {
    const ms = this.#now();
    if (!Number.isSafeInteger(ms) || ms < 0) throw new TypeError(`now: expected a whole number of milliseconds since the epoch, got ${String(ms)}`);
    return ms;
  }

  #settle(ledger: FlushLedger, bytes: Uint8Array, result: SinkResult): void {
    switch (result.status) {
      case 'written':
        ledger.commit();
        return;
      case 'queued':
        return;
      case 'partial':
        // Not missed (yet): the line gets out once its rest does.
        this.#pending = { bytes: bytes.slice(result.written), ledger };
        throw new MetricsWriteError(bytes.length - result.written, { cause: result.cause });
      case 'failed':
        ledger.rollback();
        this.#missedLines?.inc();
        throw new MetricsWriteError(0, { cause: result.cause });
    }
  }

  #settleQueued(ledger: FlushLedger, error: unknown): void {
    if (error === undefined) {
      ledger.commit();
      return;
    }
    ledger.rollback();
    this.#missedLines?.inc();
    this.#report(new MetricsWriteError(0, { cause: error }));
  }

  /**
   * The exit flush. When the process exits from inside a section (`process.exit()` called while
   * a line is built), that line can never be finished: it is given up and a whole new one is
   * written, or none if the document exits again.
   */
  #flushAtExit(): void {
    const building = this.#building;
    if (building !== undefined) {
      building.rollback();
      this.#building = undefined;
      this.#missedLines?.inc();
    }
    this.#writeReporting();
  }

  #writeReporting(): void {
    try {
      this.write();
    } catch (error) {
      this.#report(error as MetricsError);
    }
  }
}

/** How long, and how often, `close()` goes on offering the rest of a line to a full pipe. */
const CLOSE_DEADLINE_MS = 10_000;
const CLOSE_RETRY_MS = 50;

/** setInterval's longest delay; a longer one would silently become 1 ms. */
const MAX_INTERVAL_MS = 2 ** 31 - 1;

function checkInterval(interval: unknown): number {
  if (typeof interval !== 'number') throw new TypeError(`flushIntervalMs: expected a number of milliseconds, got ${typeof interval}`);
  if (!Number.isFinite(interval) || interval < 0) {
    throw new RangeError(`flushIntervalMs: expected a duration of 0 or more milliseconds, got ${interval}`);
  }
  if (interval > MAX_INTERVAL_MS) throw new RangeError(`flushIntervalMs: expected at most ${MAX_INTERVAL_MS} ms, got ${interval}`);
  return interval;
}

function serializeHeaderFields({ id, properties }: MetricsInitOptions): string {
  let json = '';
  if (id !== undefined) {
    if (typeof id !== 'string') throw new TypeError(`id: expected a string, got ${typeof id}`);
    json += `,"id":${JSON.stringify(id)}`;
  }
  if (properties !== undefined) {
    const given: unknown = properties;
    if (typeof given !== 'object' || given === null || Array.isArray(given)) {
      throw new TypeError(`properties: expected an object of strings, got ${given === null ? 'null' : Array.isArray(given) ? 'an array' : typeof given}`);
    }
    const entries = Object.entries(properties);
    for (const [key, value] of entries) {
      if (typeof value !== 'string') {
        throw new TypeError(`properties.${key}: expected a string, got ${typeof value}`);
      }
    }
    entries.sort(([a], [b]) => compareKeys(a, b));
    json += `,"properties":{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`;
  }
  return json;
}
