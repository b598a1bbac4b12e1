/**
 * A growable byte buffer that a metrics line is written into: pre-encoded pieces of JSON, u64
 * digits and escaped strings.
 *
 * Why bytes rather than a string built with `+=`: V8 keeps such a string as a rope of hundreds
 * of pieces, and joining and encoding it before it is written costs more than building it did.
 * Why words: copying pre-encoded text four bytes at a time through `DataView`s is about three
 * times faster than a byte loop or `Uint8Array.set()` for pieces of a few dozen bytes, which is
 * what a line is made of (`,"free_page_report_count":`). A word may read and write up to three
 * bytes past the text; they lie in reserved space and are overwritten by what follows.
 */
import type { U64 } from './u64.js';

/** JSON text encoded once as UTF-8, with room to read a whole word past its end. */
export interface JsonPiece {
  readonly view: DataView;
  readonly length: number;
}

const ZERO = 0x30;
/** "18446744073709551615".length: the most digits a u64 has. */
const MAX_DIGITS = 20;
const WORD_SLACK = 3;
const E8 = 100_000_000;

export function encodeJson(text: string): JsonPiece {
  const encoded = Buffer.from(text);
  const bytes = new Uint8Array(encoded.length + WORD_SLACK);
  bytes.set(encoded);
  return { view: new DataView(bytes.buffer), length: encoded.length };
}

/** The piece `,"<key>":` with `key` escaped, whatever it holds. */
export function encodeMemberKey(key: string): JsonPiece {
  return encodeJson(`,${JSON.stringify(key)}:`);
}

/**
 * Memory a `JsonBytes` writes into. Allocating it costs more than writing a small line does
 * (typed arrays of more than 64 bytes live outside V8's heap), so a writer reuses one.
 */
export interface ByteStorage {
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

export function allocateStorage(capacity: number): ByteStorage {
  const buffer = new ArrayBuffer(Math.max(capacity, 256));
  return { bytes: new Uint8Array(buffer), view: new DataView(buffer) };
}

/**
 * A JSON object's text with every value 0, and where each value's `0` is: the object is then
 * written with one copy per run of zero values (most values of most lines) rather than one per
 * value, and digits only where a value is not 0.
 */
export class JsonTemplate {
  readonly text: JsonPiece;
  /** `zeroAt[i]`: the offset of value i's `0` in the text. */
  readonly zeroAt: Int32Array;

  /** `pieces[i]` precedes value i; `suffix` closes the object. */
  constructor(pieces: readonly string[], suffix: string) {
    this.text = encodeJson(`${pieces.join('0')}${pieces.length > 0 ? '0' : ''}${suffix}`);
    const zeroAt = new Int32Array(pieces.length);
    let at = 0;
    pieces.forEach((piece, i) => {
      at += Buffer.byteLength(piece);
      zeroAt[i] = at;
      at += 1;
    });
    this.zeroAt = zeroAt;
  }
}

export class JsonBytes {
  #storage: ByteStorage;
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  /** Writes into `storage` (overwriting it) or into new memory of `capacity` bytes. */
  constructor(storage: ByteStorage | number = 256) {
    this.#storage = typeof storage === 'number' ? allocateStorage(storage) : storage;
    this.#bytes = this.#storage.bytes;
    this.#view = this.#storage.view;
  }

  /** How many bytes are written: `storage.bytes[0 … length − 1]`. */
  get length(): number {
    return this.#length;
  }

  /** The memory written into: the one given, or a larger one if it had to grow. */
  get storage(): ByteStorage {
    return this.#storage;
  }

  writePiece(piece: JsonPiece): void {
    this.#copy(piece.view, 0, piece.length);
  }

  /** Appends the template's text with `values[i]` in place of its i-th `0`. */
  writeTemplate(template: JsonTemplate, values: ArrayLike<U64>): void {
    const { text, zeroAt } = template;
    let from = 0;
    for (let i = 0; i < zeroAt.length; i++) {
      const value = values[i] as U64;
      if (value === 0) continue;
      const at = zeroAt[i] as number;
      this.#copy(text.view, from, at);
      this.writeU64(value);
      from = at + 1;
    }
    this.#copy(text.view, from, text.length);
  }

  /** Appends bytes `from … to − 1` of `source`, a word at a time. */
  #copy(source: DataView, from: number, to: number): void {
    const length = to - from;
    const at = this.#reserve(length + WORD_SLACK);
    this.#length = at + length;
    const view = this.#view;
    for (let k = 0; k < length; k += 4) view.setUint32(at + k, source.getUint32(from + k, true), true);
  }

  /** Appends the decimal digits of a u64. */
  writeU64(value: U64): void {
    if (typeof value === 'bigint') {
      this.writeText(value.toString());
    } else if (value < E8) {
      this.#writeSmall(value, 0);
    } else {
      // Two halves that each fit int32 arithmetic, far cheaper than dividing a double.
      const high = Math.floor(value / E8);
      this.#writeSmall(high, 0);
      this.#writeSmall(value - high * E8, 8);
    }
  }

  /** Appends text that is already JSON, UTF-8 encoded here. */
  writeText(text: string): void {
    const at = this.#reserve(Buffer.byteLength(text));
    this.#length = at + Buffer.from(this.#bytes.buffer).write(text, at);
  }

  writeByte(byte: number): void {
    const at = this.#reserve(1);
    this.#bytes[at] = byte;
    this.#length = at + 1;
  }

  /**
   * The bytes written so far: a view of the storage, valid until the storage is written again
   * (copy it to keep it).
   */
  bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  toString(): string {
    return Buffer.from(this.#bytes.buffer, 0, this.#length).toString('utf8');
  }

  /** The digits of `value` (< 10^8), left-padded with zeros to `width`. */
  #writeSmall(value: number, width: number): void {
    let digits = value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : value < 10_000 ? 4 : value < 100_000 ? 5 : value < 1_000_000 ? 6 : value < 10_000_000 ? 7 : 8;
    if (digits < width) digits = width;
    const at = this.#reserve(MAX_DIGITS);
    let end = at + digits;
    this.#length = end;
    const bytes = this.#bytes;
    let rest = value | 0;
    while (end > at) {
      const quotient = (rest / 10) | 0;
      bytes[--end] = ZERO + rest - quotient * 10;
      rest = quotient;
    }
  }

  /** Makes room for `size` more bytes past the length and returns where they start. */
  #reserve(size: number): number {
    const at = this.#length;
    if (at + size > this.#bytes.length) {
      const grown = allocateStorage(Math.max(2 * this.#bytes.length, at + size));
      grown.bytes.set(this.#bytes.subarray(0, at));
      this.#storage = grown;
      this.#bytes = grown.bytes;
      this.#view = grown.view;
    }
    return at;
  }
}
