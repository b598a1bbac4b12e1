/**
 * Where metrics lines go: a path (a regular file, appended to and created when missing, or a
 * named pipe), a file descriptor, or a `Writable`.
 *
 * A named pipe is opened read-write and non-blocking, as Firecracker does, so `init()` succeeds
 * before any reader has opened it and a slow reader never blocks the VMM: when the pipe is full
 * the part of the line that did not fit is kept and written first next time, so a reader never
 * sees a torn line, and the line's deltas commit only once all of it is out.
 */
import { closeSync, constants, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { MetricsDestinationError, MetricsWriteError } from './errors.js';
import type { MetricsLine } from './line.js';

export type MetricsDestination = string | number | Writable;

export interface LineSink {
  /** Writes what is left of an earlier line; throws `MetricsWriteError` if it is still not out. */
  finishPending(): void;
  /**
   * Writes a line and settles it (commit, or rollback on failure); throws `MetricsWriteError`.
   * A sink that completes asynchronously settles later and reports failures to `onAsyncError`.
   * The line is `bytes[0 … length − 1]`, valid only during the call: a sink copies what it keeps.
   */
  writeLine(bytes: Uint8Array, length: number, line: MetricsLine): void;
  close(): void;
}

export function openDestination(
  destination: MetricsDestination,
  onAsyncError: (error: MetricsWriteError) => void,
): LineSink {
  if (typeof destination === 'string') return new FdSink(openPath(destination), true);
  if (typeof destination === 'number') return new FdSink(checkFd(destination), false);
  if (isWritable(destination)) return new StreamSink(destination, onAsyncError);
  throw new TypeError('Metrics destination must be a path, a file descriptor or a Writable stream');
}

function openPath(path: string): number {
  try {
    const isFifo = statOrUndefined(path)?.isFIFO() ?? false;
    return isFifo
      ? openSync(path, constants.O_RDWR | constants.O_NONBLOCK)
      : openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
  } catch (cause) {
    throw new MetricsDestinationError(path, { cause });
  }
}

function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  return statSync(path, { throwIfNoEntry: false });
}

function checkFd(fd: number): number {
  try {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`not a file descriptor: ${fd}`);
    fstatSync(fd);
    return fd;
  } catch (cause) {
    throw new MetricsDestinationError(`file descriptor ${fd}`, { cause });
  }
}

function isWritable(value: unknown): value is Writable {
  return typeof value === 'object' && value !== null && typeof (value as Writable).write === 'function';
}

/** Failures after which the rest of a line can still be written later. */
const TRANSIENT = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR', 'ENOSPC', 'EDQUOT']);

class FdSink implements LineSink {
  #pending: { bytes: Uint8Array; line: MetricsLine } | undefined;

  constructor(
    private readonly fd: number,
    private readonly owned: boolean,
  ) {}

  finishPending(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#write(pending.bytes, pending.bytes.length, pending.line, true);
  }

  writeLine(bytes: Uint8Array, length: number, line: MetricsLine): void {
    this.#write(bytes, length, line, false);
  }

  /** `started`: the line's first bytes are already out, and this is its rest. */
  #write(bytes: Uint8Array, length: number, line: MetricsLine, started: boolean): void {
    let written = 0;
    try {
      while (written < length) {
        const n = writeSync(this.fd, bytes, written, length - written);
        if (n <= 0) throw new Error('the destination accepted no bytes');
        written += n;
      }
    } catch (cause) {
      if ((started || written > 0) && TRANSIENT.has((cause as NodeJS.ErrnoException).code ?? '')) {
        this.#pending = { bytes: bytes.slice(written, length), line };
        throw new MetricsWriteError(length - written, { cause });
      }
      // Nothing of the line is out, or its rest can never follow: its deltas go to the next line.
      line.rollback();
      throw new MetricsWriteError(0, { cause });
    }
    line.commit();
  }

  close(): void {
    if (this.#pending !== undefined) {
      this.#pending.line.rollback();
      this.#pending = undefined;
    }
    if (this.owned) closeSync(this.fd);
  }
}

class StreamSink implements LineSink {
  readonly #stream: Writable;
  readonly #onError: (error: Error) => void;

  constructor(stream: Writable, onAsyncError: (error: MetricsWriteError) => void) {
    this.#stream = stream;
    // A stream error with no listener would crash the process; a metrics failure must not.
    this.#onError = (cause) => {
      onAsyncError(new MetricsWriteError(0, { cause }));
    };
    stream.on('error', this.#onError);
  }

  finishPending(): void {
    // The stream buffers what it has not written yet; nothing is pending on this side.
  }

  writeLine(bytes: Uint8Array, length: number, line: MetricsLine): void {
    const stream = this.#stream;
    if (stream.destroyed || stream.writableEnded) {
      line.rollback();
      throw new MetricsWriteError(0, { cause: new Error('the stream is closed') });
    }
    stream.write(Buffer.from(bytes.subarray(0, length)), (error) => {
      if (error) line.rollback();
      else line.commit();
    });
  }

  close(): void {
    this.#stream.off('error', this.#onError);
  }
}
