/**
 * Guest memory that an emulator owns: one contiguous byte array from physical address 0 (v86's
 * RAM, a WebAssembly memory), which a device reads and writes through the same checked
 * accessors as `GuestMemory` (`GuestMemoryAccess`), so queues and devices run on it unchanged.
 *
 * Decisions that are not obvious:
 * - **The view is fetched again when it goes stale.** A WebAssembly memory that grows detaches
 *   every view of its old buffer (its length becomes 0); the emulator's own accessor is asked for
 *   a fresh one then, not on every access.
 * - **Every write is reported** (`RamAccess.written`), the bytes of a fixed-width value as much as
 *   a range: an emulator with a JIT must drop code translated from bytes the device changed.
 * - **Discarding zeroes, and releases nothing.** The emulator's RAM cannot give pages back to
 *   the host (a WebAssembly memory neither shrinks nor unmaps a page), so `discardRange` makes the
 *   range read as zeros — what a guest sees after Firecracker's `madvise(MADV_DONTNEED)` — and
 *   returns the whole pages whose contents it dropped; `residentBytes()` stays the whole RAM.
 */
import { checkGuestRange, checkUint, GuestMemoryError, PAGE_SIZE, u64Halves, type GuestAddress, type GuestMemoryAccess } from './memory.js';

/** How `FlatGuestMemory` reaches the emulator's RAM. */
export interface RamAccess {
  /** The guest's RAM from physical address 0, as the emulator holds it now. */
  bytes(): Uint8Array;
  /** The device wrote `start … end − 1` (end exclusive, never empty). */
  written?(start: number, end: number): void;
}

export class FlatGuestMemory implements GuestMemoryAccess {
  /** Size in bytes: the RAM's length when the memory was made, a multiple of the page size. */
  readonly size: number;
  readonly #access: RamAccess;
  readonly #written: ((start: number, end: number) => void) | undefined;
  #view: Uint8Array;
  #data: DataView;

  /** Throws a RangeError if the RAM is empty or not a whole number of pages. */
  constructor(access: RamAccess) {
    const view = access.bytes();
    if (view.length === 0 || view.length % PAGE_SIZE !== 0) {
      throw new RangeError(`FlatGuestMemory: the RAM must be a positive multiple of ${PAGE_SIZE} bytes, got ${view.length}`);
    }
    this.size = view.length;
    this.#access = access;
    this.#written = access.written?.bind(access);
    this.#view = view;
    this.#data = new DataView(view.buffer, view.byteOffset, view.byteLength);
  }

  /** The whole RAM: none of it can be given back to the host. */
  residentBytes(): number {
    return this.size;
  }

  checkRange(address: GuestAddress, length: number): number {
    return checkGuestRange(this.size, address, length);
  }

  read(address: GuestAddress, length: number): Uint8Array {
    const start = this.checkRange(address, length);
    return this.#ram().slice(start, start + length);
  }

  readInto(address: GuestAddress, into: Uint8Array): void {
    const start = this.checkRange(address, into.length);
    into.set(this.#ram().subarray(start, start + into.length));
  }

  write(address: GuestAddress, bytes: Uint8Array): void {
    const start = this.checkRange(address, bytes.length);
    this.#ram().set(bytes, start);
    this.#wrote(start, bytes.length);
  }

  readU16(address: GuestAddress): number {
    const start = this.checkRange(address, 2);
    return this.#dataView().getUint16(start, true);
  }

  readU32(address: GuestAddress): number {
    const start = this.checkRange(address, 4);
    return this.#dataView().getUint32(start, true);
  }

  readU64(address: GuestAddress): bigint {
    const start = this.checkRange(address, 8);
    return this.#dataView().getBigUint64(start, true);
  }

  writeU16(address: GuestAddress, value: number): void {
    const start = this.checkRange(address, 2);
    this.#dataView().setUint16(start, checkUint(value, 0xffff, address, 2), true);
    this.#wrote(start, 2);
  }

  writeU32(address: GuestAddress, value: number): void {
    const start = this.checkRange(address, 4);
    this.#dataView().setUint32(start, checkUint(value, 0xffff_ffff, address, 4), true);
    this.#wrote(start, 4);
  }

  writeU64(address: GuestAddress, value: bigint | number): void {
    const start = this.checkRange(address, 8);
    const [low, high] = u64Halves(address, value);
    const data = this.#dataView();
    data.setUint32(start, low, true);
    data.setUint32(start + 4, high, true);
    this.#wrote(start, 8);
  }

  /**
   * Zeroes the range and returns the whole pages in it (their contents are gone); the host keeps
   * the memory, which the emulator cannot release (see the module's doc).
   */
  discardRange(address: GuestAddress, length: number): number {
    const start = this.checkRange(address, length);
    if (length === 0) return 0;
    this.#ram().fill(0, start, start + length);
    this.#wrote(start, length);
    return Math.max(0, Math.floor((start + length) / PAGE_SIZE) - Math.ceil(start / PAGE_SIZE));
  }

  #ram(): Uint8Array {
    if (this.#view.length === this.size) return this.#view;
    return this.#refresh();
  }

  #dataView(): DataView {
    if (this.#view.length === this.size) return this.#data;
    this.#refresh();
    return this.#data;
  }

  /** A fresh view of the RAM, after the old one was detached. */
  #refresh(): Uint8Array {
    const view = this.#access.bytes();
    if (view.length !== this.size) {
      throw new GuestMemoryError(0, this.size, `the emulator's RAM is now ${view.length} bytes, not ${this.size}`);
    }
    this.#view = view;
    this.#data = new DataView(view.buffer, view.byteOffset, view.byteLength);
    return view;
  }

  #wrote(start: number, length: number): void {
    if (length > 0) this.#written?.(start, start + length);
  }
}
