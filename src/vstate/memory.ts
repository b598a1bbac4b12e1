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
const U64_LIMIT = 1n << 64n;

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

export class GuestMemory {
  /** Size in bytes, a multiple of the page size. */
  readonly size: number;
  readonly #pages: (Uint8Array | undefined)[];
  #resident = 0;

  /** `sizeBytes`: a positive multiple of 4 KiB, up to 2^46 bytes (64 TiB). */
  constructor(sizeBytes: number | bigint) {
    const size = typeof sizeBytes === 'bigint' ? Number(sizeBytes) : sizeBytes;
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || size > 2 ** 46) {
      throw new RangeError(`GuestMemory: size must be a positive multiple of ${PAGE_SIZE} bytes up to 2^46, got ${String(sizeBytes)}`);
    }
    this.size = size;
    this.#pages = new Array<Uint8Array | undefined>(size / PAGE_SIZE);
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
    if (!Number.isSafeInteger(length) || length < 0) throw new GuestMemoryError(address, length, 'the length is not a byte count');
    let start: number;
    if (typeof address === 'bigint') {
      if (address < 0n || address >= U64_LIMIT) throw new GuestMemoryError(address, length, 'not a 64-bit address');
      if (address + BigInt(length) > BigInt(this.size)) throw new GuestMemoryError(address, length, `past the end of guest memory (${this.size} bytes)`);
      start = Number(address);
    } else {
      if (!Number.isSafeInteger(address) || address < 0) throw new GuestMemoryError(address, length, 'not a 64-bit address');
      if (address + length > this.size) throw new GuestMemoryError(address, length, `past the end of guest memory (${this.size} bytes)`);
      start = address;
    }
    return start;
  }

  /** A copy of `length` bytes at `address`. */
  read(address: GuestAddress, length: number): Uint8Array {
    const start = this.checkRange(address, length);
    const out = new Uint8Array(length);
    this.#forEachPage(start, length, (page, offset, at, count) => {
      if (page !== undefined) out.set(page.subarray(offset, offset + count), at);
    });
    return out;
  }

  /** Writes `bytes` at `address`; a page gets host memory when something nonzero lands in it. */
  write(address: GuestAddress, bytes: Uint8Array): void {
    const start = this.checkRange(address, bytes.length);
    this.#forEachPage(start, bytes.length, (page, offset, at, count, index) => {
      const source = bytes.subarray(at, at + count);
      if (page === undefined) {
        if (isZero(source)) return;
        page = this.#materialize(index);
      }
      page.set(source, offset);
    });
  }

  readU16(address: GuestAddress): number {
    return this.#within(address, 2, (view, offset) => view.getUint16(offset, true), 0, (b) => b.getUint16(0, true));
  }

  readU32(address: GuestAddress): number {
    return this.#within(address, 4, (view, offset) => view.getUint32(offset, true), 0, (b) => b.getUint32(0, true));
  }

  readU64(address: GuestAddress): bigint {
    return this.#within(address, 8, (view, offset) => view.getBigUint64(offset, true), 0n, (b) => b.getBigUint64(0, true));
  }

  /**
   * A little-endian value read in place when it lies in one page (the rings and descriptors a
   * device reads by the thousand), through a copy when it straddles two.
   */
  #within<T>(address: GuestAddress, size: number, inPage: (view: DataView, offset: number) => T, zero: T, copied: (view: DataView) => T): T {
    const start = this.checkRange(address, size);
    const index = Math.floor(start / PAGE_SIZE);
    const offset = start - index * PAGE_SIZE;
    if (offset + size > PAGE_SIZE) return copied(new DataView(this.read(start, size).buffer));
    const page = this.#pages[index];
    if (page === undefined) return zero;
    return inPage(new DataView(page.buffer, page.byteOffset, PAGE_SIZE), offset);
  }

  writeU16(address: GuestAddress, value: number): void {
    this.write(address, littleEndian(2, (view) => {
      view.setUint16(0, checkUint(value, 0xffff, address, 2), true);
    }));
  }

  writeU32(address: GuestAddress, value: number): void {
    this.write(address, littleEndian(4, (view) => {
      view.setUint32(0, checkUint(value, 0xffff_ffff, address, 4), true);
    }));
  }

  writeU64(address: GuestAddress, value: bigint | number): void {
    const big = typeof value === 'bigint' ? value : Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : -1n;
    if (big < 0n || big >= U64_LIMIT) throw new GuestMemoryError(address, 8, `${String(value)} is not a 64-bit value`);
    this.write(address, littleEndian(8, (view) => {
      view.setBigUint64(0, big, true);
    }));
  }

  /**
   * Makes `address … address + length − 1` read as zeros and releases the host memory of the
   * whole pages in it; the partial pages at its edges are zeroed.
   */
  discardRange(address: GuestAddress, length: number): void {
    const start = this.checkRange(address, length);
    this.#forEachPage(start, length, (page, offset, _at, count, index) => {
      if (page === undefined) return;
      if (count === PAGE_SIZE) {
        this.#pages[index] = undefined;
        this.#resident--;
      } else {
        page.fill(0, offset, offset + count);
      }
    });
  }

  #materialize(index: number): Uint8Array {
    const page = new Uint8Array(PAGE_SIZE);
    this.#pages[index] = page;
    this.#resident++;
    return page;
  }

  /** Calls `visit` for each page the range touches: its memory, the offset in it, the offset in the range, the count. */
  #forEachPage(
    start: number,
    length: number,
    visit: (page: Uint8Array | undefined, offset: number, at: number, count: number, index: number) => void,
  ): void {
    let at = 0;
    while (at < length) {
      const address = start + at;
      const index = Math.floor(address / PAGE_SIZE);
      const offset = address - index * PAGE_SIZE;
      const count = Math.min(PAGE_SIZE - offset, length - at);
      visit(this.#pages[index], offset, at, count, index);
      at += count;
    }
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

function littleEndian(size: number, fill: (view: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(size);
  fill(new DataView(bytes.buffer));
  return bytes;
}

function checkUint(value: number, max: number, address: GuestAddress, size: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new GuestMemoryError(address, size, `${value} does not fit ${size} bytes`);
  return value;
}

function formatAddress(address: GuestAddress): string {
  if (typeof address === 'bigint') return address >= 0n ? `0x${address.toString(16)}` : address.toString();
  return Number.isSafeInteger(address) && address >= 0 ? `0x${address.toString(16)}` : String(address);
}
