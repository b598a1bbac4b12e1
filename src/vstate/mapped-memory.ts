/**
 * Guest memory in an anonymous mapping of this process (`mmap`): a view of the mapping read and
 * written through the checked accessors of every `GuestMemoryAccess`, whose discarded pages go
 * back to the operating system, so that the process's RSS falls by what a balloon gives back.
 *
 * This module makes no system call: whoever maps the memory hands over the mapping and the calls
 * on it (`HostMapping`) — `vmm-metrics/kvm` through koffi (`KvmGuestMemory`, which KVM also
 * registers), and `npm start`'s simulated guest the same way — so guest memory stands alone.
 *
 * Decisions that are not obvious:
 * - **Discarding is `madvise(MADV_DONTNEED)`** of the whole pages of a range, as Firecracker's
 *   balloon does: the kernel frees them and the guest reads zeros there next time. The partial
 *   pages at the range's edges are zeroed and kept.
 * - **A discard counts the pages that held host memory** (`mincore` first), not the whole pages
 *   of the range: a guest names the same free range again and again (free page reporting) and
 *   names ranges it never touched, and those give nothing back. So what a balloon adds up from
 *   the counts is what the operating system got back. A range of which no page is resident is
 *   not advised at all. The cost is one `mincore` per range (3 µs a scattered page where the
 *   `madvise` costs 8 µs, measured by vmm-metrics/kvm on this project's machines).
 * - `mincore` sees a page the guest only read (the kernel's shared zero page) as resident,
 *   though no RSS is charged for it: such a page counts as given back once. Guests write what
 *   they read, in practice; the figure errs by those pages only.
 * - **`residentBytes()` asks the kernel** (`mincore` over the mapping): what this guest's memory
 *   holds of the host's RAM now, whoever touched it, the guest or a device.
 * - The mapping is never moved nor grown, so one view serves for the memory's life; `close()`
 *   unmaps it, and every later access is a `GuestMemoryError`.
 */
import { checkGuestRange, checkUint, PAGE_SIZE, u64Halves, type GuestAddress, type GuestMemoryAccess } from './memory.js';

/** An anonymous mapping and the calls on it, made by whoever mapped it. Each call throws on failure. */
export interface HostMapping {
  /** The mapping's address in this process. */
  readonly address: bigint;
  /** A view of the whole mapping; its length is the memory's size, a positive multiple of the page size. */
  readonly bytes: Uint8Array;
  /** Gives the `length` bytes at `address` (page-aligned, inside the mapping) back: `madvise(MADV_DONTNEED)`. */
  discard(address: number, length: number): void;
  /** Sets bit 0 of `vector[i]` when page `i` of the `length` bytes at `address` is resident: `mincore`. */
  residency(address: number, length: number, vector: Uint8Array): void;
  /** Unmaps the whole mapping. */
  unmap(): void;
}

export class MappedGuestMemory implements GuestMemoryAccess {
  #size: number;
  /** The mapping's address in this process (for KVM_SET_USER_MEMORY_REGION, where KVM runs the guest). */
  readonly hostAddress: bigint;
  readonly #mapping: HostMapping;
  readonly #base: number;
  #bytes: Uint8Array;
  #data: DataView;
  #vector = new Uint8Array(256);

  /** Throws a RangeError if the mapping is empty or not a whole number of pages. */
  constructor(mapping: HostMapping) {
    const size = mapping.bytes.length;
    if (size === 0 || size % PAGE_SIZE !== 0) throw new RangeError(`MappedGuestMemory: the mapping must be a positive multiple of ${PAGE_SIZE} bytes, got ${size}`);
    this.#mapping = mapping;
    this.#size = size;
    this.hostAddress = mapping.address;
    this.#base = Number(mapping.address);
    this.#bytes = mapping.bytes;
    this.#data = new DataView(mapping.bytes.buffer, mapping.bytes.byteOffset, size);
  }

  /** Size in bytes; 0 once closed. */
  get size(): number {
    return this.#size;
  }

  /** The whole mapping, for a VMM's own writes (boot tables, kernel, initramfs). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Host memory the guest's pages hold now, as the kernel counts it (`mincore`). */
  residentBytes(): number {
    return this.#residentPages(0, this.#size / PAGE_SIZE) * PAGE_SIZE;
  }

  checkRange(address: GuestAddress, length: number): number {
    return checkGuestRange(this.#size, address, length);
  }

  read(address: GuestAddress, length: number): Uint8Array {
    const start = this.checkRange(address, length);
    return this.#bytes.slice(start, start + length);
  }

  readInto(address: GuestAddress, into: Uint8Array): void {
    const start = this.checkRange(address, into.length);
    into.set(this.#bytes.subarray(start, start + into.length));
  }

  write(address: GuestAddress, bytes: Uint8Array): void {
    const start = this.checkRange(address, bytes.length);
    this.#bytes.set(bytes, start);
  }

  readU16(address: GuestAddress): number {
    return this.#data.getUint16(this.checkRange(address, 2), true);
  }

  readU32(address: GuestAddress): number {
    return this.#data.getUint32(this.checkRange(address, 4), true);
  }

  readU64(address: GuestAddress): bigint {
    return this.#data.getBigUint64(this.checkRange(address, 8), true);
  }

  writeU16(address: GuestAddress, value: number): void {
    const start = this.checkRange(address, 2);
    this.#data.setUint16(start, checkUint(value, 0xffff, address, 2), true);
  }

  writeU32(address: GuestAddress, value: number): void {
    const start = this.checkRange(address, 4);
    this.#data.setUint32(start, checkUint(value, 0xffff_ffff, address, 4), true);
  }

  writeU64(address: GuestAddress, value: bigint | number): void {
    const start = this.checkRange(address, 8);
    const [low, high] = u64Halves(address, value);
    this.#data.setUint32(start, low, true);
    this.#data.setUint32(start + 4, high, true);
  }

  /**
   * Zeros the range; gives the host memory of its whole pages back (`madvise(MADV_DONTNEED)`).
   * Returns how many of those pages held host memory: what the operating system got back.
   */
  discardRange(address: GuestAddress, length: number): number {
    const start = this.checkRange(address, length);
    const end = start + length;
    const firstWhole = Math.ceil(start / PAGE_SIZE);
    const endWhole = Math.floor(end / PAGE_SIZE);
    if (firstWhole >= endWhole) {
      this.#bytes.fill(0, start, end);
      return 0;
    }
    this.#bytes.fill(0, start, firstWhole * PAGE_SIZE);
    this.#bytes.fill(0, endWhole * PAGE_SIZE, end);
    const pages = endWhole - firstWhole;
    const resident = this.#residentPages(firstWhole, pages);
    if (resident > 0) this.#mapping.discard(this.#base + firstWhole * PAGE_SIZE, pages * PAGE_SIZE);
    return resident;
  }

  /** Unmaps the memory; every later access is a `GuestMemoryError`. */
  close(): void {
    if (this.#size === 0) return;
    this.#mapping.unmap();
    // A view of unmapped memory would crash the process: drop it.
    this.#bytes = new Uint8Array(0);
    this.#data = new DataView(new ArrayBuffer(0));
    this.#size = 0;
  }

  /** How many of `count` pages from page `first` are resident (`mincore`). */
  #residentPages(first: number, count: number): number {
    if (count === 0) return 0;
    if (this.#vector.length < count) this.#vector = new Uint8Array(count);
    const vector = this.#vector;
    this.#mapping.residency(this.#base + first * PAGE_SIZE, count * PAGE_SIZE, vector);
    let resident = 0;
    for (let i = 0; i < count; i++) resident += (vector[i] as number) & 1;
    return resident;
  }
}
