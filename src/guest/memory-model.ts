/**
 * The guest's own view of its RAM: who holds each 4 KiB page. A small page allocator standing in
 * for Linux's buddy allocator, with just what a balloon driver leans on:
 * - single pages, taken most-recently-freed first (Linux's per-CPU hot lists), so a page the
 *   workload just let go of, still resident on the host, is the one the balloon takes next;
 *   blocks back from reporting or hinting keep their place in the free queue, or go to its cold
 *   end (Linux returns reported pages to the tail of the free list), never to the hot end, so
 *   they stay empty on the host as long as possible;
 * - contiguous runs for the driver's own rings and buffers;
 * - aligned free blocks of whole 2 MiB chunks for free page reporting (Linux reports
 *   `pageblock_order` 9 blocks on x86) and hinting, isolated while the host looks at them;
 * - which chunks were reported since their last allocation, so they are not reported twice;
 * - reclaimers (Linux's shrinkers and OOM notifiers) run when an allocation finds no free page.
 *
 * Every operation is O(1) amortized except the block searches, which walk the chunk counts.
 */
import { CHUNK_PAGES, PAGE_SIZE, pfnToAddress, type GuestMemory } from '../vstate/memory.js';

/** Who holds a page. */
export type PageOwner = 'free' | 'workload' | 'balloon' | 'driver' | 'reporting' | 'hinting';

const OWNERS: readonly PageOwner[] = ['free', 'workload', 'balloon', 'driver', 'reporting', 'hinting'];
/** Each owner's index in `OWNERS`, the code stored per page (a lookup, not a search, per page allocated). */
const OWNER_CODE: Readonly<Record<PageOwner, number>> = { free: 0, workload: 1, balloon: 2, driver: 3, reporting: 4, hinting: 5 };
const FREE = 0;

/** Gives back up to `pages` pages to the free pool; returns how many it freed. */
export type Reclaimer = (pages: number) => number;

/** Kernel event counters of the model, as Linux's `/proc/vmstat` keeps them. */
export interface VmEvents {
  /** Pages touched for the first time after an allocation (minor page faults). */
  minorFaults: number;
  /** Allocations that found no free page and had to reclaim (Linux `allocstall`). */
  allocStalls: number;
  /** Pages the reclaimers were asked for (Linux `pgscan_direct`). */
  directScan: number;
  /** Pages the reclaimers gave back (Linux `pgsteal_direct`). */
  directReclaim: number;
  /** Allocations that failed even after reclaim (the OOM killer would run). */
  oomKills: number;
}

export class GuestMemoryModel {
  readonly memory: GuestMemory;
  readonly totalPages: number;
  readonly #owner: Uint8Array;
  /** Pages per owner code (a typed array: updated twice per page moved). */
  readonly #counts = new Float64Array(OWNERS.length);
  /** Free pages, hot end first; each page at most once; stale entries are skipped when taken. */
  readonly #queue: Int32Array;
  readonly #queued: Uint8Array;
  #head = 0;
  #length = 0;
  readonly #chunkFree: Uint16Array;
  readonly #chunkReported: Uint8Array;
  readonly #reclaimers: Reclaimer[] = [];
  readonly #events: VmEvents = { minorFaults: 0, allocStalls: 0, directScan: 0, directReclaim: 0, oomKills: 0 };
  #stamp = 0;

  constructor(memory: GuestMemory) {
    this.memory = memory;
    this.totalPages = memory.size / PAGE_SIZE;
    this.#owner = new Uint8Array(this.totalPages);
    this.#counts[FREE] = this.totalPages;
    this.#queue = new Int32Array(this.totalPages);
    this.#queued = new Uint8Array(this.totalPages);
    // The lowest frames are handed out first, in order.
    for (let pfn = 0; pfn < this.totalPages; pfn++) this.#enqueue(pfn, false);
    const chunks = Math.ceil(this.totalPages / CHUNK_PAGES);
    this.#chunkFree = new Uint16Array(chunks);
    for (let chunk = 0; chunk < chunks; chunk++) this.#chunkFree[chunk] = this.#chunkSize(chunk);
    this.#chunkReported = new Uint8Array(chunks);
  }

  /** Pages held by `owner`. */
  pages(owner: PageOwner): number {
    return this.#counts[OWNER_CODE[owner]] ?? 0;
  }

  get freePages(): number {
    return this.pages('free');
  }

  /** The holder of page frame `pfn`. */
  ownerOf(pfn: number): PageOwner {
    this.#checkPfn(pfn);
    return OWNERS[this.#owner[pfn] ?? FREE] ?? 'free';
  }

  /** A snapshot of the event counters. */
  get events(): Readonly<VmEvents> {
    return { ...this.#events };
  }

  /**
   * A free page for `owner`, or undefined when none is free. With `reclaim`, an empty pool first
   * runs the reclaimers (shrinkers, then OOM notifiers, in the order they were added), as a
   * page fault would.
   */
  allocatePage(owner: 'workload' | 'balloon' | 'driver', options?: { reclaim?: boolean }): number | undefined {
    let pfn = this.#pop();
    if (pfn === undefined && options?.reclaim === true) {
      this.#events.allocStalls++;
      this.reclaim(1);
      pfn = this.#pop();
      if (pfn === undefined) this.#events.oomKills++;
    }
    if (pfn === undefined) return undefined;
    this.#move(pfn, OWNER_CODE[owner], true);
    return pfn;
  }

  /** Gives page `pfn`, held by `owner`, back to the free pool (its contents stay as they are). */
  freePage(pfn: number, owner: 'workload' | 'balloon' | 'driver'): void {
    this.#expectOwner(pfn, owner);
    this.#move(pfn, FREE, false);
  }

  /**
   * Writes a nonzero stamp into page `pfn`, as a program touching fresh memory would: the host
   * backs the page from then on. Counts a minor fault.
   */
  touch(pfn: number): void {
    this.#checkPfn(pfn);
    this.#stamp = (this.#stamp % 0xffff_fffe) + 1;
    this.memory.writeU64(pfnToAddress(pfn), BigInt(this.#stamp) | (BigInt(pfn + 1) << 32n));
    this.#events.minorFaults++;
  }

  /** `count` contiguous free pages for the driver's rings and buffers; their first frame. */
  reserveContiguous(count: number): number {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`reserveContiguous: ${count} is not a page count`);
    let run = 0;
    for (let pfn = 0; pfn < this.totalPages; pfn++) {
      run = this.#owner[pfn] === FREE ? run + 1 : 0;
      if (run === count) {
        const first = pfn - count + 1;
        for (let page = first; page <= pfn; page++) this.#move(page, OWNER_CODE.driver, true);
        return first;
      }
    }
    throw new RangeError(`reserveContiguous: no run of ${count} free pages`);
  }

  /**
   * Takes up to `limit` free blocks of `blockPages` (a multiple of `CHUNK_PAGES`, aligned to its
   * size) for `owner`; with `unreportedOnly`, only blocks with a chunk not reported since its
   * last allocation. Returns the blocks' first frames.
   */
  isolateFreeBlocks(blockPages: number, owner: 'reporting' | 'hinting', limit: number, options: { unreportedOnly?: boolean } = {}): number[] {
    if (!Number.isSafeInteger(blockPages) || blockPages < CHUNK_PAGES || blockPages % CHUNK_PAGES !== 0) {
      throw new RangeError(`isolateFreeBlocks: ${blockPages} is not a multiple of ${CHUNK_PAGES} pages`);
    }
    const chunksPerBlock = blockPages / CHUNK_PAGES;
    const out: number[] = [];
    const code = OWNER_CODE[owner];
    for (let chunk = 0; chunk + chunksPerBlock <= this.#chunkFree.length && out.length < limit; chunk += chunksPerBlock) {
      let free = true;
      let reported = true;
      for (let c = chunk; c < chunk + chunksPerBlock; c++) {
        if (this.#chunkSize(c) !== CHUNK_PAGES || this.#chunkFree[c] !== CHUNK_PAGES) free = false;
        if (this.#chunkReported[c] === 0) reported = false;
      }
      if (!free || (options.unreportedOnly === true && reported)) continue;
      const first = chunk * CHUNK_PAGES;
      for (let pfn = first; pfn < first + blockPages; pfn++) this.#move(pfn, code, false);
      out.push(first);
    }
    return out;
  }

  /** Gives a block isolated for `owner` back to the free pool, marked reported or not. */
  releaseBlock(first: number, blockPages: number, owner: 'reporting' | 'hinting', options: { reported?: boolean } = {}): void {
    for (let pfn = first; pfn < first + blockPages; pfn++) this.#expectOwner(pfn, owner);
    for (let pfn = first; pfn < first + blockPages; pfn++) this.#move(pfn, FREE, false, false);
    if (options.reported === true) {
      for (let chunk = first / CHUNK_PAGES; chunk < (first + blockPages) / CHUNK_PAGES; chunk++) this.#chunkReported[chunk] = 1;
    }
  }

  /** Free pages in chunks reported since their last allocation (the host holds no memory for them). */
  reportedFreePages(): number {
    let pages = 0;
    for (let chunk = 0; chunk < this.#chunkReported.length; chunk++) {
      if (this.#chunkReported[chunk] === 1) pages += this.#chunkFree[chunk] ?? 0;
    }
    return pages;
  }

  /** Adds a reclaimer, run when an allocation finds no free page; returns its removal. */
  addReclaimer(reclaimer: Reclaimer): () => void {
    this.#reclaimers.push(reclaimer);
    return () => {
      const index = this.#reclaimers.indexOf(reclaimer);
      if (index >= 0) this.#reclaimers.splice(index, 1);
    };
  }

  /** Runs the reclaimers in order until `pages` pages are free again; returns how many they freed. */
  reclaim(pages: number): number {
    let freed = 0;
    this.#events.directScan += pages;
    for (const reclaimer of [...this.#reclaimers]) {
      if (freed >= pages) break;
      freed += reclaimer(pages - freed);
    }
    this.#events.directReclaim += freed;
    return freed;
  }

  /** `hot`: a page freed to the hot end of the free queue (the default), or to the cold end. */
  #move(pfn: number, to: number, allocation: boolean, hot = true): void {
    const from = this.#owner[pfn] ?? FREE;
    if (from === to) return;
    const chunk = Math.floor(pfn / CHUNK_PAGES);
    this.#owner[pfn] = to;
    this.#counts[from] = (this.#counts[from] ?? 0) - 1;
    this.#counts[to] = (this.#counts[to] ?? 0) + 1;
    if (from === FREE) {
      this.#chunkFree[chunk] = (this.#chunkFree[chunk] ?? 0) - 1;
      // Written to from now on, so no longer known to be empty on the host.
      if (allocation) this.#chunkReported[chunk] = 0;
    }
    if (to === FREE) {
      this.#chunkFree[chunk] = (this.#chunkFree[chunk] ?? 0) + 1;
      this.#enqueue(pfn, hot);
    }
  }

  #enqueue(pfn: number, hot: boolean): void {
    if (this.#queued[pfn] === 1) return;
    this.#queued[pfn] = 1;
    const capacity = this.#queue.length;
    if (hot) {
      this.#head = (this.#head + capacity - 1) % capacity;
      this.#queue[this.#head] = pfn;
    } else {
      this.#queue[(this.#head + this.#length) % capacity] = pfn;
    }
    this.#length++;
  }

  #pop(): number | undefined {
    const capacity = this.#queue.length;
    while (this.#length > 0) {
      const pfn = this.#queue[this.#head] ?? 0;
      // A wrap, not a remainder: this runs once per page allocated (a balloon takes thousands).
      this.#head = this.#head + 1 === capacity ? 0 : this.#head + 1;
      this.#length--;
      this.#queued[pfn] = 0;
      if (this.#owner[pfn] === FREE) return pfn;
    }
    return undefined;
  }

  #chunkSize(chunk: number): number {
    return Math.min(CHUNK_PAGES, this.totalPages - chunk * CHUNK_PAGES);
  }

  #checkPfn(pfn: number): void {
    if (!Number.isSafeInteger(pfn) || pfn < 0 || pfn >= this.totalPages) throw new RangeError(`page frame ${pfn} is outside the guest's ${this.totalPages} pages`);
  }

  #expectOwner(pfn: number, owner: PageOwner): void {
    if (this.ownerOf(pfn) !== owner) throw new RangeError(`page frame ${pfn} is held by ${this.ownerOf(pfn)}, not ${owner}`);
  }
}
