/**
 * Lines to a file descriptor: a regular file, a named pipe, or whatever descriptor was given.
 *
 * A named pipe is opened read-write and non-blocking, as Firecracker does, so `init()` succeeds
 * before any reader has opened it and a slow reader never blocks the VMM. When the pipe fills up
 * part way through a line, the sink reports the bytes written and the writer offers the rest
 * first next time.
 *
 * A regular file the sink opened from a path is kept free of torn lines and follows rotation:
 * - A write that fails part way (ENOSPC, EFBIG) is taken back by truncating the file to where the
 *   line began, so the file holds only whole lines and the line's deltas go to the next one.
 * - Before each line, the path is checked: when it names another file than the one open (rename
 *   and create) or none (removed), it is opened anew, created if missing. Copy-and-truncate needs
 *   nothing: lines are appended (`O_APPEND`), so the next one lands at the new end.
 * A regular file given as a descriptor is kept free of torn lines too, and each line is written
 * at the file's end (at its size, as `O_APPEND` would: the descriptor's own offset may point
 * elsewhere, and would after a take-back). Any other descriptor (a pipe, a socket, a terminal) is
 * written as it is: after a full buffer the rest follows later, like a named pipe's; after any
 * other failure part way, a newline ends the fragment before the next line.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, statSync, writeSync, type Stats } from 'node:fs';
import { MetricsDestinationError } from './errors.js';
import { failed, WRITTEN, type LineSink, type SinkResult } from './sink.js';

/** Failures after which the rest of a line can still be written later. */
const TRANSIENT = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR', 'ENOSPC', 'EDQUOT']);
const NEWLINE = new Uint8Array([0x0a]);

export class FdSink implements LineSink {
  #fd: number;
  /** The path of a regular file this sink opened, whose rotation it follows. */
  readonly #path: string | undefined;
  /** The regular file open (undefined for a pipe or other descriptor): failed lines are taken back. */
  #identity: Stats | undefined;
  /** Write at the file's size rather than at the descriptor's offset (a file given by descriptor). */
  readonly #atEnd: boolean;
  /**
   * Part of a line is out that can never be completed: a newline goes first next time, so the
   * fragment stays one broken line of its own instead of swallowing the next one.
   */
  #torn = false;

  private constructor(
    fd: number,
    /** Opened here from a path, so closed here too. */
    private readonly owned: boolean,
    path: string | undefined,
    identity: Stats | undefined,
  ) {
    this.#fd = fd;
    this.#path = path;
    this.#identity = identity;
    this.#atEnd = identity !== undefined && path === undefined;
  }

  /** Opens `path`: a named pipe read-write and non-blocking, anything else appended to and created when missing. */
  static open(path: string): FdSink {
    const fd = openPath(path);
    const stats = fstatSync(fd);
    return stats.isFile() ? new FdSink(fd, true, path, stats) : new FdSink(fd, true, undefined, undefined);
  }

  /** A descriptor the caller owns, never closed here. */
  static of(fd: number): FdSink {
    let stats: Stats;
    try {
      if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`not a file descriptor: ${fd}`);
      stats = fstatSync(fd);
    } catch (cause) {
      throw new MetricsDestinationError(`file descriptor ${fd}`, { cause });
    }
    return new FdSink(fd, false, undefined, stats.isFile() ? stats : undefined);
  }

  write(bytes: Uint8Array, rest: boolean): SinkResult {
    try {
      if (this.#path !== undefined) this.#followRotation(this.#path);
      if (this.#torn && !rest) {
        const { written, cause } = writeAll(this.#fd, NEWLINE, this.#atEnd ? fstatSync(this.#fd).size : null);
        if (written === 0) return failed(cause);
        this.#torn = false;
      }
    } catch (cause) {
      return failed(cause);
    }
    let position: number | null = null;
    if (this.#atEnd) {
      try {
        position = fstatSync(this.#fd).size;
      } catch (cause) {
        return failed(cause);
      }
    }
    const { written, cause } = writeAll(this.#fd, bytes, position);
    return written === bytes.length ? WRITTEN : this.#afterFailure(written, rest, cause);
  }

  close(): void {
    if (this.owned) closeSync(this.#fd);
  }

  #afterFailure(written: number, rest: boolean, cause: unknown): SinkResult {
    if (this.#identity !== undefined && !rest) {
      if (written === 0) return failed(cause);
      try {
        const size = fstatSync(this.#fd).size;
        // A rotation may have moved the fragment away already; then there is nothing to take back.
        if (size >= written) ftruncateSync(this.#fd, size - written);
        return failed(cause);
      } catch {
        this.#torn = true;
        return failed(cause);
      }
    }
    if ((written > 0 || rest) && TRANSIENT.has((cause as NodeJS.ErrnoException).code ?? '')) {
      return { status: 'partial', written, cause };
    }
    if (written > 0 || rest) this.#torn = true;
    return failed(cause);
  }

  #followRotation(path: string): void {
    const current = statSync(path, { throwIfNoEntry: false });
    const open = this.#identity;
    if (current !== undefined && open !== undefined && current.ino === open.ino && current.dev === open.dev) return;
    const fd = openPath(path);
    closeSync(this.#fd);
    this.#fd = fd;
    this.#identity = fstatSync(fd);
    this.#torn = false;
  }
}

/**
 * Writes as much of `bytes` as goes, at `position` (or the descriptor's offset, for `null`): how
 * many went out, and why the rest did not.
 */
function writeAll(fd: number, bytes: Uint8Array, position: number | null): { readonly written: number; readonly cause?: unknown } {
  let written = 0;
  while (written < bytes.length) {
    let n: number;
    try {
      n = writeSync(fd, bytes, written, bytes.length - written, position === null ? null : position + written);
    } catch (cause) {
      return { written, cause };
    }
    if (n <= 0) return { written, cause: new Error('the destination accepted no bytes') };
    written += n;
  }
  return { written };
}
function openPath(path: string): number {
  try {
    const isFifo = statSync(path, { throwIfNoEntry: false })?.isFIFO() ?? false;
    return isFifo
      ? openSync(path, constants.O_RDWR | constants.O_NONBLOCK)
      : openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
  } catch (cause) {
    throw new MetricsDestinationError(path, { cause });
  }
}
