/**
 * Lines to a `Writable` stream, or to any object with a `write` method.
 *
 * A stream takes one line at a time: while the previous line is still queued in it (a slow or
 * stalled consumer), a new line is refused, so the writer keeps its deltas for the next line and
 * counts a missed one, and the stream never holds more than one line of ours. A stream's line is
 * out when the stream calls back; a `write` that throws has taken nothing.
 *
 * An object that is not a stream (no `writable` state) is taken to have written the line when its
 * `write` returns.
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

export class StreamSink implements LineSink {
  readonly #stream: LineWritable;
  readonly #isStream: boolean;
  /** The line handed to the stream whose callback has not come yet. */
  #queued = false;
  #lastSettledError: unknown;
  readonly #onError: (error: Error) => void;

  /** `onError` hears the stream's own errors that no line's callback reports. */
  constructor(stream: LineWritable, onError: (error: unknown) => void) {
    this.#stream = stream;
    const events = stream as Partial<Writable>;
    this.#isStream = typeof events.writableLength === 'number' && typeof events.on === 'function';
    // A stream error with no listener would crash the process; a metrics failure must not. A
    // failed write emits the error its callback gets too: reported once, by the callback.
    this.#onError = (error) => {
      if (!this.#queued && error !== this.#lastSettledError) onError(error);
    };
    if (typeof events.on === 'function') events.on.call(stream, 'error', this.#onError);
  }

  write(bytes: Uint8Array, _rest: boolean, settled: (error?: unknown) => void): SinkResult {
    const stream = this.#stream as Partial<Writable>;
    if (stream.destroyed === true || stream.writableEnded === true) return failed(new Error('the stream is closed'));
    if (this.#queued) return failed(new Error('the stream has not taken the previous line yet (its consumer is slow or stalled)'));
    // Copied: the writer reuses its memory for the next line.
    const chunk = Buffer.from(bytes);
    if (!this.#isStream) {
      try {
        this.#stream.write(chunk);
      } catch (cause) {
        return failed(cause);
      }
      return WRITTEN;
    }
    this.#queued = true;
    let threw = false;
    try {
      this.#stream.write(chunk, (error) => {
        // After a throw the line is already given up: a late callback changes nothing.
        if (threw) return;
        this.#queued = false;
        if (error) this.#lastSettledError = error;
        settled(error ?? undefined);
      });
    } catch (cause) {
      threw = true;
      this.#queued = false;
      return failed(cause);
    }
    return { status: 'queued' };
  }

  close(): void {
    const events = this.#stream as Partial<Writable>;
    if (typeof events.off === 'function') events.off.call(this.#stream, 'error', this.#onError);
  }
}
