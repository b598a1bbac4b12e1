/**
 * The metrics writer (Firecracker's `Metrics<T, M>`): owns a document and, once initialized with
 * a destination, writes it as one compact JSON line per flush — every 60 s by default, on
 * demand with `write()`, and optionally once more when the process exits.
 */
import type { MetricsDocument } from './document.js';
import { openDestination, type LineSink, type MetricsDestination } from './destination.js';
import { MetricsAlreadyInitializedError, MetricsWriteError, type MetricsError } from './errors.js';
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
   * Write a last line when the process exits, or receives SIGTERM, SIGINT or SIGHUP (then the
   * signal is raised again if nothing else handles it). Works for paths and file descriptors,
   * whose writes are synchronous; a stream cannot be written to at exit.
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
   * Counts every flush whose line could not be written, as Firecracker counts them in
   * `logger.missed_metrics_count`.
   */
  readonly missedLinesMetric?: IncMetric;
  /**
   * Counts every flush whose line could not be built because a section of the document threw,
   * as Firecracker counts serialization failures in `logger.metrics_fails`.
   */
  readonly failedLinesMetric?: IncMetric;
}

export class Metrics<T extends MetricsDocument> {
  #sink: LineSink | undefined;
  #initialized = false;
  #headerFields = '';
  #storage: ByteStorage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopFlushingOnExit: () => void = () => undefined;
  #report: (error: MetricsError) => void = (error) => {
    process.emitWarning(error);
  };

  readonly #missedLines: IncMetric | undefined;
  readonly #failedLines: IncMetric | undefined;

  constructor(
    readonly document: T,
    options: MetricsOptions = {},
  ) {
    this.#missedLines = options.missedLinesMetric;
    this.#failedLines = options.failedLinesMetric;
  }

  /**
   * Opens the destination and starts the periodic flush. Once only: a second call throws
   * "Reinitialization of metrics not allowed.", even after `close()`.
   */
  init(destination: MetricsDestination, options: MetricsInitOptions = {}): void {
    if (this.#initialized) throw new MetricsAlreadyInitializedError();
    const headerFields = serializeHeaderFields(options);
    const interval = checkInterval(options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    const { onError, flushOnExit = false } = options as { onError?: unknown; flushOnExit?: unknown };
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError(`onError: expected a function, got ${typeof onError}`);
    if (typeof flushOnExit !== 'boolean') throw new TypeError(`flushOnExit: expected a boolean, got ${typeof flushOnExit}`);
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
    if (flushOnExit) this.#flushOnExit();
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
    this.#countingMisses(() => {
      sink.finishPending();
    });
    const line = this.#newLine(false);
    let length: number;
    try {
      this.document.appendTo(line);
      length = line.finish();
    } catch (cause) {
      // What the sections before the failing one took goes back, to the next line.
      line.rollback();
      this.#failedLines?.inc();
      this.#missedLines?.inc();
      throw new MetricsWriteError(0, { cause });
    }
    this.#storage = line.storage;
    this.#countingMisses(() => {
      sink.writeLine(line.storage.bytes, length, line);
    });
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
    this.#stopFlushingOnExit();
    this.#sink?.close();
    this.#sink = undefined;
  }

  #newLine(peek: boolean): MetricsLine {
    // Every line is written into the same memory: sinks copy what they keep past writeLine().
    this.#storage ??= allocateStorage(1024);
    return new MetricsLine({ timestampMs: Date.now(), headerFields: this.#headerFields }, { peek, storage: this.#storage });
  }

  /**
   * A last line at exit: on `exit`, and on the signals that end a process by default, after
   * which the signal is raised again if nothing else handles it, so the process still ends as
   * that signal would have ended it.
   */
  #flushOnExit(): void {
    const onExit = (): void => {
      this.#stopFlushingOnExit();
      this.#writeReporting();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      onExit();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on('exit', onExit);
    for (const signal of EXIT_SIGNALS) process.on(signal, onSignal);
    this.#stopFlushingOnExit = () => {
      process.off('exit', onExit);
      for (const signal of EXIT_SIGNALS) process.off(signal, onSignal);
      this.#stopFlushingOnExit = () => undefined;
    };
  }

  #countingMisses(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.#missedLines?.inc();
      throw error;
    }
  }

  #writeReporting(): void {
    try {
      this.write();
    } catch (error) {
      this.#report(error as MetricsError);
    }
  }
}

/** The signals whose default action ends the process and that a VMM is commonly stopped with. */
const EXIT_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

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
