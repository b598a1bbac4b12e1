/**
 * Guest physical memory, from address 0, as a device sees it (Firecracker's `vstate/memory.rs`):
 * the one place where a device reads or writes the guest, so the bounds checks live here only.
 *
 * Memory is sparse and page-granular: a 4 KiB page holds host memory only once something other
 * than zeros is written into it, so what a guest holds is real and measurable
 * (`residentBytes()`), and `discardRange()` gives it back, as `madvise(MADV_DONTNEED)` does for
 * Firecracker. Every access is checked with 64-bit arithmetic that cannot wrap: an address or a
 * range past the end (or past 2^64) is a `GuestMemoryError`, a value the device catches.
 */

/** The page size of the guest and of the balloon's page frame numbers. */
export const PAGE_SIZE = 4096;
const PAGE_SHIFT = 12n;
/**
 * Pages of a 2 MiB chunk: the first level of the residency counts here (a 1 GiB group is the
 * second), and the guest's unit of free page reporting (Linux's `pageblock_order` 9 on x86).
 */
export const CHUNK_PAGES = 512;
const GROUP_PAGES = 512 * CHUNK_PAGES;
const U64_LIMIT = 1n << 64n;
/**
 * Whether this host's typed arrays hold their numbers little-endian, as guest memory does
 * (virtio is little-endian): then a Uint32Array's bytes are copied to or from the guest as they
 * are, and otherwise swapped.
 */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A guest physical address: a non-negative integer below 2^64, as a number or a bigint. */
export type GuestAddress = number | bigint;

/** An access outside guest memory, or an address or length that is not one. */
export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
  constructor(
    /** The address asked for, as given. */
    readonly address: GuestAddress,
    readonly length: number,
    reason: string,
  ) {
    super(`Guest memory access at ${formatAddress(address)} of ${length} bytes: ${reason}`);
  }
}

/**
 * What a device reads and writes the guest through, wherever the guest's RAM lives: here in
 * `GuestMemory`, or in an emulator's own RAM (`FlatGuestMemory`). Every accessor checks its range
 * as `checkRange` does and throws `GuestMemoryError` outside memory, so the queues and devices
 * keep their one place of bounds checks whichever memory they are given.
 */
export interface GuestMemoryAccess {
  /** Size in bytes, a multiple of the page size. */
  readonly size: number;
  /** Host memory held for the guest, in bytes. */
  residentBytes(): number;
  /** The start of `address … address + length − 1` as a number; throws `GuestMemoryError` outside memory. */
  checkRange(address: GuestAddress, length: number): number;
  /** A copy of `length` bytes at `address`. */
  read(address: GuestAddress, length: number): Uint8Array;
  /** Fills `into` with the `into.length` bytes at `address`. */
  readInto(address: GuestAddress, into: Uint8Array): void;
  /** Writes `bytes` at `address`. */
  write(address: GuestAddress, bytes: Uint8Array): void;
  readU16(address: GuestAddress): number;
  readU32(address: GuestAddress): number;
  readU64(address: GuestAddress): bigint;
  writeU16(address: GuestAddress, value: number): void;
  writeU32(address: GuestAddress, value: number): void;
  writeU64(address: GuestAddress, value: bigint | number): void;
  /**
   * Makes the range read as zeros and gives up what holds it; returns how many whole pages it
   * gave up (what "given up" means is the implementation's to say).
   */
  discardRange(address: GuestAddress, length: number): number;
}

/**
 * The start of `address … address + length − 1` as a number, if the range lies inside memory of
 * `size` bytes; throws `GuestMemoryError` otherwise. 64-bit arithmetic that cannot wrap.
 */
export function checkGuestRange(size: number, address: GuestAddress, length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new GuestMemoryError(address, length, 'the length is not a byte count');
  if (typeof address === 'bigint') {
    if (address < 0n || address >= U64_LIMIT) throw new GuestMemoryError(address, length, 'not a 64-bit address');
    // Below 2^53 the sum is exact as a number, and no BigInt is made (descriptors hold bigints).
    const fits = address <= MAX_SAFE ? Number(address) + length <= size : address + BigInt(length) <= BigInt(size);
    if (!fits) throw new GuestMemoryError(address, length, `past the end of guest memory (${size} bytes)`);
    return Number(address);
  }
  if (!Number.isSafeInteger(address) || address < 0) throw new GuestMemoryError(address, length, 'not a 64-bit address');
  if (address + length > size) throw new GuestMemoryError(address, length, `past the end of guest memory (${size} bytes)`);
  return address;
}

/**
 * `value` as the low and high 32 bits of a u64, for a write of 8 bytes at `address`; throws
 * `GuestMemoryError` if it is not an unsigned 64-bit integer.
 */
export function u64Halves(address: GuestAddress, value: bigint | number): readonly [low: number, high: number] {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    const low = value % 0x1_0000_0000;
    return [low, (value - low) / 0x1_0000_0000];
  }
  if (typeof value === 'bigint' && value >= 0n && value < U64_LIMIT) return [Number(value & 0xffff_ffffn), Number(value >> 32n)];
  throw new GuestMemoryError(address, 8, `${String(value)} is not a 64-bit value`);
}

export class GuestMemory implements GuestMemoryAccess {
  /** Size in bytes, a multiple of the page size. */
  readonly size: number;
  readonly #pages: (Uint8Array | undefined)[];
  #resident = 0;
  /**
   * Resident pages per 2 MiB chunk and per 1 GiB group: a discard skips what holds nothing, so
   * its cost follows the memory it releases, not the length a guest asks for (a guest can ask to
   * discard terabytes in one notification).
   */
  readonly #chunkResident: Uint16Array;
  readonly #groupResident: Uint32Array;

  /** `sizeBytes`: a positive multiple of 4 KiB, up to 2^43 bytes (8 TiB: a page table of 2^31 entries). */
  constructor(sizeBytes: number | bigint) {
    const size = typeof sizeBytes === 'bigint' ? Number(sizeBytes) : sizeBytes;
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || size > 2 ** 43) {
      throw new RangeError(`GuestMemory: size must be a positive multiple of ${PAGE_SIZE} bytes up to 2^43, got ${String(sizeBytes)}`);
    }
    this.size = size;
    const pages = size / PAGE_SIZE;
    this.#pages = new Array<Uint8Array | undefined>(pages);
    this.#chunkResident = new Uint16Array(Math.ceil(pages / CHUNK_PAGES));
    this.#groupResident = new Uint32Array(Math.ceil(pages / GROUP_PAGES));
  }

  /** Host memory held for the guest: the pages written and not discarded since. */
  residentBytes(): number {
    return this.#resident * PAGE_SIZE;
  }

  /**
   * The start of the range `address … address + length − 1` as a number, if it lies inside
   * memory; throws `GuestMemoryError` otherwise.
   */
  checkRange(address: GuestAddress, length: number): number {
    return checkGuestRange(this.size, address, length);
  }

  /** A copy of `length` bytes at `address`. */
  read(address: GuestAddress, length: number): Uint8Array {
    const start = this.checkRange(address, length);
    const out = new Uint8Array(length);
    this.#copy(start, out);
    return out;
  }

  /**
   * Fills `into` with the `into.length` bytes at `address`: `read()` into a buffer the caller
   * keeps, for a device that reads a buffer per request (a new ArrayBuffer per request counts
   * as external memory, and that brings on garbage collections).
   */
  readInto(address: GuestAddress, into: Uint8Array): void {
    this.#copy(this.checkRange(address, into.length), into);
  }

  /** Copies the checked range from `start` into `out`, page by page (no callback, no view of a missing page). */
  #copy(start: number, out: Uint8Array): void {
    const length = out.length;
    for (let at = 0; at < length; ) {
      const index = Math.floor((start + at) / PAGE_SIZE);
      const offset = start + at - index * PAGE_SIZE;
      const count = Math.min(PAGE_SIZE - offset, length - at);
      const page = this.#pages[index];
      if (page === undefined) out.fill(0, at, at + count);
      else out.set(page.subarray(offset, offset + count), at);
      at += count;
    }
  }

  /** Writes `bytes` at `address`; a page gets host memory when something nonzero lands in it. */
  write(address: GuestAddress, bytes: Uint8Array): void {
    const start = this.checkRange(address, bytes.length);
    const length = bytes.length;
    for (let at = 0; at < length; ) {
      const index = Math.floor((start + at) / PAGE_SIZE);
      const offset = start + at - index * PAGE_SIZE;
      const count = Math.min(PAGE_SIZE - offset, length - at);
      // The whole source when it fits one page (most writes): no view to make.
      const source = count === length ? bytes : bytes.subarray(at, at + count);
      const page = this.#pages[index] ?? (isZero(source) ? undefined : this.#materialize(index));
      page?.set(source, offset);
      at += count;
    }
  }

  // The fixed-width accessors below are what the rings are made of: a device and a driver make
  // several per request. Inside one page (an aligned value always is) they read or write the
  // page's bytes in place, allocating nothing; a value that straddles two pages goes through a
  // copy, as `read()` and `write()` do.

  readU16(address: GuestAddress): number {
    const start = this.checkRange(address, 2);
    const page = this.#pageFor(start, 2);
    if (page === STRADDLES) return this.#copyOut(start, 2).getUint16(0, true);
    if (page === undefined) return 0;
    const at = start % PAGE_SIZE;
    return (page[at] ?? 0) | ((page[at + 1] ?? 0) << 8);
  }

  readU32(address: GuestAddress): number {
    const start = this.checkRange(address, 4);
    const page = this.#pageFor(start, 4);
    if (page === STRADDLES) return this.#copyOut(start, 4).getUint32(0, true);
    if (page === undefined) return 0;
    return readU32LE(page, start % PAGE_SIZE);
  }

  readU64(address: GuestAddress): bigint {
    const start = this.checkRange(address, 8);
    const page = this.#pageFor(start, 8);
    if (page === STRADDLES) return this.#copyOut(start, 8).getBigUint64(0, true);
    if (page === undefined) return 0n;
    const at = start % PAGE_SIZE;
    const low = readU32LE(page, at);
    const high = readU32LE(page, at + 4);
    // A value below 2^53 (every address a guest of this size can have) needs one BigInt only.
    return high < 0x20_0000 ? BigInt(high * 0x1_0000_0000 + low) : (BigInt(high) << 32n) | BigInt(low);
  }

  writeU16(address: GuestAddress, value: number): void {
    this.#writeU32Parts(address, 2, checkUint(value, 0xffff, address, 2), 0);
  }

  writeU32(address: GuestAddress, value: number): void {
    this.#writeU32Parts(address, 4, checkUint(value, 0xffff_ffff, address, 4), 0);
  }

  writeU64(address: GuestAddress, value: bigint | number): void {
    const [low, high] = u64Halves(address, value);
    this.#writeU32Parts(address, 8, low, high);
  }

  /** The page holding `size` bytes at `start` (undefined if not resident), or STRADDLES. */
  #pageFor(start: number, size: number): Uint8Array | undefined | typeof STRADDLES {
    const offset = start % PAGE_SIZE;
    if (offset + size > PAGE_SIZE) return STRADDLES;
    return this.#pages[(start - offset) / PAGE_SIZE];
  }

  #copyOut(start: number, size: number): DataView {
    return new DataView(this.read(start, size).buffer);
  }

  /** Writes the `size` (2, 4 or 8) low bytes of `high:low`, little-endian, both already checked. */
  #writeU32Parts(address: GuestAddress, size: number, low: number, high: number): void {
    const start = this.checkRange(address, size);
    let page = this.#pageFor(start, size);
    if (page === STRADDLES) {
      const bytes = new Uint8Array(size);
      writeU32LE(bytes, 0, low, Math.min(size, 4));
      if (size === 8) writeU32LE(bytes, 4, high, 4);
      this.write(start, bytes);
      return;
    }
    // Zeros into a page that holds none need no memory, as `write()` decides.
    if (page === undefined) {
      if (low === 0 && high === 0) return;
      page = this.#materialize((start - (start % PAGE_SIZE)) / PAGE_SIZE);
    }
    const at = start % PAGE_SIZE;
    writeU32LE(page, at, low, Math.min(size, 4));
    if (size === 8) writeU32LE(page, at + 4, high, 4);
  }

  /**
   * Makes `address … address + length − 1` read as zeros and releases the host memory of the
   * whole pages in it; the partial pages at its edges are zeroed. Returns how many pages it
   * released. Its cost follows the resident memory in the range, however long the range.
   */
  discardRange(address: GuestAddress, length: number): number {
    const start = this.checkRange(address, length);
    const end = start + length;
    const firstWhole = Math.ceil(start / PAGE_SIZE);
    const endWhole = Math.floor(end / PAGE_SIZE);
    if (firstWhole >= endWhole) {
      this.#zero(start, length);
      return 0;
    }
    this.#zero(start, firstWhole * PAGE_SIZE - start);
    const released = endWhole - firstWhole === 1 ? this.#releasePage(firstWhole) : this.#releasePages(firstWhole, endWhole);
    this.#zero(endWhole * PAGE_SIZE, end - endWhole * PAGE_SIZE);
    return released;
  }

  /** Releases page `index` if it is resident: the one-page discard, without the range walk. */
  #releasePage(index: number): number {
    if (this.#pages[index] === undefined) return 0;
    this.#pages[index] = undefined;
    this.#resident--;
    const chunk = (index / CHUNK_PAGES) | 0;
    this.#chunkResident[chunk] = (this.#chunkResident[chunk] as number) - 1;
    const group = (index / GROUP_PAGES) | 0;
    this.#groupResident[group] = (this.#groupResident[group] as number) - 1;
    return 1;
  }

  /** Releases the resident pages `first … end − 1`, skipping empty groups and chunks whole. */
  #releasePages(first: number, end: number): number {
    const pages = this.#pages;
    const chunks = this.#chunkResident;
    const groups = this.#groupResident;
    let released = 0;
    let index = first;
    while (index < end && this.#resident > released) {
      const group = Math.floor(index / GROUP_PAGES);
      if (groups[group] === 0) {
        index = (group + 1) * GROUP_PAGES;
        continue;
      }
      const chunk = Math.floor(index / CHUNK_PAGES);
      if (chunks[chunk] === 0) {
        index = (chunk + 1) * CHUNK_PAGES;
        continue;
      }
      const chunkEnd = Math.min(end, (chunk + 1) * CHUNK_PAGES);
      let freed = 0;
      for (; index < chunkEnd; index++) {
        if (pages[index] !== undefined) {
          pages[index] = undefined;
          freed++;
        }
      }
      chunks[chunk] = (chunks[chunk] as number) - freed;
      groups[group] = (groups[group] as number) - freed;
      released += freed;
    }
    this.#resident -= released;
    return released;
  }

  /** Zeros a range that holds no whole page (at most two partial ones), keeping their memory. */
  #zero(start: number, length: number): void {
    let at = start;
    const end = start + length;
    while (at < end) {
      const offset = at % PAGE_SIZE;
      const count = Math.min(PAGE_SIZE - offset, end - at);
      this.#pages[(at - offset) / PAGE_SIZE]?.fill(0, offset, offset + count);
      at += count;
    }
  }

  #materialize(index: number): Uint8Array {
    const page = new Uint8Array(PAGE_SIZE);
    this.#pages[index] = page;
    this.#resident++;
    const chunk = Math.floor(index / CHUNK_PAGES);
    this.#chunkResident[chunk] = (this.#chunkResident[chunk] as number) + 1;
    const group = Math.floor(index / GROUP_PAGES);
    this.#groupResident[group] = (this.#groupResident[group] as number) + 1;
    return page;
  }
}

/** The guest physical address of page frame `pfn`. */
export function pfnToAddress(pfn: number): bigint {
  return BigInt(pfn) << PAGE_SHIFT;
}

function isZero(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/** Says that a fixed-width value crosses a page boundary. */
const STRADDLES = Symbol('straddles');

function readU32LE(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0;
}

/** The `size` (up to 4) low bytes of `value`, little-endian, at `at`. */
function writeU32LE(bytes: Uint8Array, at: number, value: number, size: number): void {
  for (let i = 0; i < size; i++) bytes[at + i] = (value >>> (8 * i)) & 0xff;
}

/** `value` if it is an unsigned integer up to `max`, for a write of `size` bytes at `address`. */
export function checkUint(value: number, max: number, address: GuestAddress, size: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new GuestMemoryError(address, size, `${value} does not fit ${size} bytes`);
  return value;
}

function formatAddress(address: GuestAddress): string {
  if (typeof address === 'bigint') return address >= 0n ? `0x${address.toString(16)}` : address.toString();
  return Number.isSafeInteger(address) && address >= 0 ? `0x${address.toString(16)}` : String(address);
}
