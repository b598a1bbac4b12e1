/**
 * Splitting a byte stream into lines, whatever the chunking.
 *
 * Bytes are split at `\n` before any decoding, so a chunk boundary inside a multi-byte UTF-8
 * character or inside a line never matters: a line is handed out only once its newline has
 * arrived, and each complete line is decoded on its own.
 */

/** One complete line: its 1-based number in the source, its bytes without the `\n`. */
export interface RawLine {
  readonly lineNumber: number;
  readonly bytes: Buffer;
  /** The line grew past the limit: `bytes` holds only its start, the rest was dropped. */
  readonly overlong: boolean;
}

import { constants } from 'node:buffer';

/**
 * Lines longer than this are cut short (their start kept) so a newline-less stream cannot
 * exhaust memory. 32 MiB holds the largest line the writer produces for 10,000 devices of each
 * kind at once, every value at its 20-digit maximum and every id 64 characters long: 987 bytes
 * per block entry, 1,196 per net, 322 per pmem, 272 per vhost-user, and about 9.6 KB for the
 * fixed groups, 27.8 MB in all (measured with `Metrics.render()`; README "Reading metrics").
 */
export const DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024;

/** A line becomes one string, and V8 allows no longer string (2^29 − 24 on 64-bit Node 20). */
export const MAX_LINE_BYTES_LIMIT = constants.MAX_STRING_LENGTH;

const NEWLINE = 0x0a;

const EMPTY = Buffer.alloc(0);

export class LineSplitter {
  /**
   * The line being received, before its newline arrives: its first `#pendingBytes` bytes. One
   * buffer that doubles as needed, not a list of the chunks: a writer that trickles a line a
   * byte at a time would otherwise cost a Buffer object (about 140 bytes of heap) per byte.
   */
  #pending: Buffer = EMPTY;
  #pendingBytes = 0;
  /** The current line went over the limit; bytes are dropped until its newline. */
  #overlong = false;
  #lineNumber: number;
  readonly #maxLineBytes: number;

  constructor(options: { readonly maxLineBytes?: number; readonly firstLineNumber?: number } = {}) {
    this.#maxLineBytes = checkMaxLineBytes(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.#lineNumber = (options.firstLineNumber ?? 1) - 1;
  }

  /** The number of the last complete line handed out (0 before the first). */
  get lineNumber(): number {
    return this.#lineNumber;
  }

  /** Whether part of a line is waiting for its newline. */
  get hasPartialLine(): boolean {
    return this.#pendingBytes > 0 || this.#overlong;
  }

  /** Takes a chunk; returns the lines it completes, in order. */
  push(chunk: Uint8Array): RawLine[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const lines: RawLine[] = [];
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(NEWLINE, start);
      if (end === -1) break;
      lines.push(this.#complete(bytes.subarray(start, end)));
      start = end + 1;
    }
    if (start < bytes.length) this.#keep(bytes.subarray(start));
    return lines;
  }

  /**
   * Ends the current stream: returns what was received after the last newline (a line that
   * never ended), or undefined. Line numbering goes on.
   */
  end(): RawLine | undefined {
    if (!this.hasPartialLine) return undefined;
    return this.#complete(Buffer.alloc(0));
  }

  /** Drops any partial line and numbers the next line `firstLineNumber` (a source that started over). */
  reset(firstLineNumber = 1): void {
    this.#pending = EMPTY;
    this.#pendingBytes = 0;
    this.#overlong = false;
    this.#lineNumber = firstLineNumber - 1;
  }

  #keep(piece: Buffer): void {
    if (this.#overlong) return;
    if (this.#pendingBytes + piece.length > this.#maxLineBytes) {
      this.#overlong = true;
      const room = this.#maxLineBytes - this.#pendingBytes;
      piece = piece.subarray(0, room);
    }
    // Copy: the caller may reuse its buffer for the next read.
    if (piece.length > 0) this.#append(piece);
  }

  #append(piece: Buffer): void {
    const size = this.#pendingBytes + piece.length;
    if (size > this.#pending.length) {
      // At most the limit: a line never needs more (the overlong part is dropped).
      const grown = Buffer.allocUnsafe(Math.min(this.#maxLineBytes, Math.max(size, 2 * this.#pending.length, 4096)));
      this.#pending.copy(grown, 0, 0, this.#pendingBytes);
      this.#pending = grown;
    }
    piece.copy(this.#pending, this.#pendingBytes);
    this.#pendingBytes = size;
  }

  #complete(last: Buffer): RawLine {
    let bytes: Buffer;
    const overlong = this.#overlong || this.#pendingBytes + last.length > this.#maxLineBytes;
    if (this.#pendingBytes === 0) {
      bytes = overlong ? last.subarray(0, this.#maxLineBytes) : last;
    } else {
      const room = Math.max(0, this.#maxLineBytes - this.#pendingBytes);
      this.#append(overlong ? last.subarray(0, room) : last);
      // Handed out as it is: the next line starts in a buffer of its own.
      bytes = this.#pending.subarray(0, this.#pendingBytes);
    }
    this.#pending = EMPTY;
    this.#pendingBytes = 0;
    this.#overlong = false;
    this.#lineNumber++;
    return { lineNumber: this.#lineNumber, bytes, overlong };
  }
}

/** `value` if it is a usable line limit; a RangeError naming the option otherwise. */
export function checkMaxLineBytes(value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_LINE_BYTES_LIMIT) {
    throw new RangeError(`maxLineBytes: expected an integer from 1 to ${MAX_LINE_BYTES_LIMIT}, got ${String(value)}`);
  }
  return value;
}
