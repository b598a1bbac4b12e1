/**
 * Lines to a `Writable` stream, or to any object with a `write` method.
 *
 * A stream takes one line at a time: while the previous line is still queued in it (a slow or
 * stalled consumer), a new line is refused, so the writer keeps its deltas for the next line and
 * counts a missed one, and the stream never holds more than one line of ours. A queued line is
 * settled exactly once, by whichever comes first: the stream's callback, an `'error'`, or the
 * stream closing before it called back (a destroyed stream never calls back).
 *
 * What settles a line depends on what the destination is taken to be, in this order:
 * - a Node `Writable` (it has `writableLength` and `on`): its callback, `'error'` or `'close'`;
 * - a `write` that returns a promise (a web stream's writer, a `FileHandle`): the promise;
 * - a `write` that declares a second parameter (`write.length >= 2`), the callback: the line is
 *   out when it is called without an error, and failed when it is called with one;
 * - anything else: the line is out when `write` returns, and failed when it throws (or calls
 *   back with an error before it returns); a callback it calls later changes nothing.
 *
 * A `write` that throws fails that line only; the next line is offered as usual. A `Writable` is
 * refused for good only in the states Node's streams never leave: destroyed, errored, ended, or
 * holding a chunk whose `_write` threw (Node counts that chunk as being written forever, so the
 * stream never calls `_write` again).
 */
import type { Writable } from 'node:stream';
import { failed, WRITTEN, type LineSink, type SinkResult } from './sink.js';

/** Anything with a stream's `write`. */
export interface LineWritable {
  write(chunk: Buffer, callback?: (error?: Error | null) => void): unknown;
}

export function isLineWritable(value: unknown): value is LineWritable {
  return typeof value === 'object' && value !== null && typeof (value as LineWritable).write === 'function';
}

/** The line handed over and not yet settled, and how to settle it once. */
interface QueuedLine {
  settle(error?: unknown): void;
}

export class StreamSink implements LineSink {
  readonly #stream: LineWritable;
  readonly #events: Partial<Writable>;
  readonly #isStream: boolean;
  readonly #takesCallback: boolean;
  #queued: QueuedLine | undefined;
  /** Why every line is refused from now on. */
  #broken: Error | undefined;
  #closed = false;
  /** The error the last line settled with: the stream emits it as `'error'` too, reported once. */
  #lastLineError: unknown;
  readonly #onStreamError: (error: unknown) => void;
  readonly #onError = (error: Error): void => {
    // A queued line takes the error as its own failure; any other error is reported once.
    if (this.#queued !== undefined) this.#queued.settle(error);
    else if (error !== this.#lastLineError) this.#onStreamError(error);
  };
  readonly #onClose = (): void => {
    this.#queued?.settle(new Error('the stream closed before it took the line'));
  };

  /** `onStreamError` hears the stream's own errors that no line reports. */
  constructor(stream: LineWritable, onStreamError: (error: unknown) => void) {
    this.#stream = stream;
    this.#events = stream as Partial<Writable>;
    this.#onStreamError = onStreamError;
    this.#isStream = typeof this.#events.writableLength === 'number' && typeof this.#events.on === 'function';
    this.#takesCallback = this.#isStream || stream.write.length >= 2;
    // A stream error with no listener would crash the process; a metrics failure must not.
    if (typeof this.#events.on === 'function') {
      this.#events.on.call(stream, 'error', this.#onError);
      this.#events.on.call(stream, 'close', this.#onClose);
    }
  }

  write(bytes: Uint8Array, _rest: boolean, settled: (error?: unknown) => void): SinkResult {
    const events = this.#events;
    if (this.#broken !== undefined) return failed(this.#broken);
    const closed = closedState(events);
    if (closed !== undefined) return failed(new Error(`the stream is closed: ${closed}`));
    if (this.#queued !== undefined) return failed(new Error('the stream has not taken the previous line yet (its consumer is slow or stalled)'));
    // Copied: the writer reuses its memory for the next line.
    const chunk = Buffer.from(bytes);
    let done = false;
    const progress = { calledBack: false };
    const line: QueuedLine = {
      settle: (error) => {
        if (done) return;
        done = true;
        if (this.#queued === line) this.#queued = undefined;
        if (error !== undefined && error !== null) this.#lastLineError = error;
        settled(error ?? undefined);
        this.#detachIfClosed();
      },
    };
    this.#queued = line;
    let returned: unknown;
    const lengthBefore = events.writableLength;
    try {
      returned = this.#stream.write(chunk, (error) => {
        progress.calledBack = true;
        line.settle(error ?? undefined);
      });
    } catch (cause) {
      if (progress.calledBack) return { status: 'queued' };
      done = true;
      this.#queued = undefined;
      if (this.#isStream && (events.writableLength ?? 0) > (lengthBefore ?? 0)) {
        this.#broken = new Error(`the stream threw on write and takes no more lines: its _write threw (${causeText(cause)}), and Node counts that chunk as being written forever`);
      }
      return failed(cause);
    }
    if (isThenable(returned)) {
      returned.then(
        () => {
          line.settle();
        },
        (error: unknown) => {
          line.settle(error ?? new Error('the write was rejected'));
        },
      );
      return { status: 'queued' };
    }
    if (this.#takesCallback || progress.calledBack) return { status: 'queued' };
    // Neither a promise nor a callback: the line was taken when write() returned.
    done = true;
    this.#queued = undefined;
    return WRITTEN;
  }

  /**
   * Stops listening, except while a line is queued: its outcome still settles it (a line out
   * after close is still committed, not written twice by another writer of the same groups).
   */
  close(): void {
    this.#closed = true;
    this.#detachIfClosed();
  }

  #detachIfClosed(): void {
    if (!this.#closed || this.#queued !== undefined || typeof this.#events.off !== 'function') return;
    this.#events.off.call(this.#stream, 'error', this.#onError);
    this.#events.off.call(this.#stream, 'close', this.#onClose);
  }
}

/** Why a `Writable` can never take a line again, if it cannot. */
function closedState(stream: Partial<Writable>): string | undefined {
  if (stream.errored !== undefined && stream.errored !== null) return `it errored (${causeText(stream.errored)})`;
  if (stream.writableEnded === true) return 'it was ended';
  if (stream.destroyed === true) return 'it was destroyed';
  return undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
