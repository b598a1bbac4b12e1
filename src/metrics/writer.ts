/**
 * The metrics writer (Firecracker's `Metrics<T, M>`): owns a document and, once initialized with
 * a destination, writes it as one compact JSON line per flush — every 60 s by default, on
 * demand with `write()`, and optionally once more when the process exits.
 */
import type { MetricsDocument } from './document.js';
import { openDestination, type LineSink, type MetricsDestination } from './destination.js';
import { MetricsAlreadyInitializedError, type MetricsError } from './errors.js';
import { allocateStorage, type ByteStorage } from './json-bytes.js';
import { compareKeys } from './key-order.js';
import { MetricsLine } from './line.js';
import type { IncMetric } from './metric.js';

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
   * Write a last line when the process exits. Works for paths and file descriptors, whose
   * writes are synchronous; a stream cannot be written to at exit.
   * @default false
   */
  readonly flushOnExit?: boolean;
  /**
   * Receives the failures of writes nobody awaits: the periodic and exit flushes, and streams.
   * @default process.emitWarning
   */
  readonly onError?: (error: MetricsError) => void;
}

export interface MetricsOptions {
  /**
   * Counts every line that could not be written, as Firecracker counts its failed flushes in
   * `logger.missed_metrics_count`.
   */
  readonly missedLinesMetric?: IncMetric;
}

export class Metrics<T extends MetricsDocument> {
  #sink: LineSink | undefined;
  #initialized = false;
  #headerFields = '';
  #storage: ByteStorage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #exitHandler: (() => void) | undefined;
  #report: (error: MetricsError) => void = (error) => {
    process.emitWarning(error);
  };

  readonly #missedLines: IncMetric | undefined;

  constructor(
    readonly document: T,
    options: MetricsOptions = {},
  ) {
    this.#missedLines = options.missedLinesMetric;
  }

  /**
   * Opens the destination and starts the periodic flush. Once only: a second call throws
   * "Reinitialization of metrics not allowed.", even after `close()`.
   */
  init(destination: MetricsDestination, options: MetricsInitOptions = {}): void {
    if (this.#initialized) throw new MetricsAlreadyInitializedError();
    const headerFields = serializeHeaderFields(options);
    const interval = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < 0) {
      throw new RangeError(`flushIntervalMs: expected a duration of 0 or more milliseconds, got ${interval}`);
    }
    if (options.onError) this.#report = options.onError;
    this.#sink = openDestination(destination, (error) => {
      this.#missedLines?.inc();
      this.#report(error);
    });
    this.#initialized = true;
    this.#headerFields = headerFields;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.#writeReporting();
      }, interval).unref();
    }
    if (options.flushOnExit === true) {
      this.#exitHandler = () => {
        this.#writeReporting();
      };
      process.on('exit', this.#exitHandler);
    }
  }

  get initialized(): boolean {
    return this.#initialized;
  }

  /**
   * Writes one line. Returns `false` if the writer has no destination (before `init()` or after
   * `close()`): then nothing is written and nothing is committed. Returns `true` once a complete
   * line is out and its deltas are committed; with a stream, once the stream took the line.
   * Throws `MetricsWriteError` on failure; its deltas then go to the next line.
   */
  write(): boolean {
    const sink = this.#sink;
    if (sink === undefined) return false;
    try {
      sink.finishPending();
      const line = this.#newLine(false);
      this.document.appendTo(line);
      const length = line.finish();
      this.#storage = line.storage;
      sink.writeLine(this.#storage.bytes, length, line);
    } catch (error) {
      this.#missedLines?.inc();
      throw error;
    }
    return true;
  }

  /** The line a write would produce now, without committing or changing anything. */
  render(): string {
    const line = this.#newLine(true);
    this.document.appendTo(line);
    return line.text();
  }

  /**
   * Stops the timers and closes a destination opened from a path. Deltas of a line that was not
   * completely written stay pending; call `write()` first for a last line.
   */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#exitHandler) process.off('exit', this.#exitHandler);
    this.#exitHandler = undefined;
    this.#sink?.close();
    this.#sink = undefined;
  }

  #newLine(peek: boolean): MetricsLine {
    // Every line is written into the same memory: sinks copy what they keep past writeLine().
    this.#storage ??= allocateStorage(1024);
    return new MetricsLine({ timestampMs: Date.now(), headerFields: this.#headerFields }, { peek, storage: this.#storage });
  }

  #writeReporting(): void {
    try {
      this.write();
    } catch (error) {
      this.#report(error as MetricsError);
    }
  }
}

function serializeHeaderFields({ id, properties }: MetricsInitOptions): string {
  let json = '';
  if (id !== undefined) {
    if (typeof id !== 'string') throw new TypeError(`id: expected a string, got ${typeof id}`);
    json += `,"id":${JSON.stringify(id)}`;
  }
  if (properties !== undefined) {
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
