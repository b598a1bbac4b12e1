/**
 * A simulated guest's virtio-balloon driver, after Linux's `drivers/virtio/virtio_balloon.c`,
 * driving the device through the virtio-mmio registers and rings in guest memory alone:
 *
 * - **probe**: reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 and those of MUST_TELL_HOST,
 *   STATS_VQ, DEFLATE_ON_OOM, FREE_PAGE_HINT and PAGE_REPORTING that the device offers),
 *   FEATURES_OK checked, queues inflate, deflate, then stats, free page hinting, reporting as
 *   negotiated, in pages the driver reserves from its own RAM at its first probe (11 with
 *   256-entry queues: two per queue, one for its buffers), DRIVER_OK; then the stats
 *   buffer goes on its queue (after DRIVER_OK, as the specification asks of notifications) and
 *   the balloon moves towards `num_pages` if it differs.
 * - **size** (Linux `update_balloon_size_func`): rounds of at most 256 frame numbers (u32 LE) in
 *   one device-readable buffer; each round waits for its buffer to come back, then writes
 *   `actual_pages`. Inflating takes free pages only (never the workload's); a round that finds
 *   none stops ("out of puff") and is retried on the next `tick()`, as Linux retries after
 *   200 ms. Deflating tells the host first and frees the pages once the buffer is back.
 * - **stats**: one buffer of every tag the driver knows (16 × 10 bytes); when the device hands
 *   it back, it is refilled from the memory model and made available again.
 * - **free page reporting** (`free-page-reporting.ts`): on `tick()`, every
 *   `reportingIntervalMs`, a chain of the 2 MiB free chunks not reported since their last
 *   allocation.
 * - **free page hinting** (`free-page-hinting.ts`): under each new command id of the host, free
 *   blocks held out of the allocator until DONE, given back first under memory pressure.
 * - **deflate on OOM** (with DEFLATE_ON_OOM): an allocation that finds no free page deflates
 *   256 pages (Linux's OOM notifier) and updates `actual_pages`; the balloon does not grow back
 *   until the target changes.
 *
 * Interrupts: `handleInterrupt()` is the interrupt line. It only notes the interrupt and
 * schedules the work (by default in a microtask, like Linux's work queues), so the driver never
 * touches the registers from inside the host's call that raised it; `processPending()` runs the
 * work now. `tick(nowMs)` runs the workload, retries a stalled resize, reports free pages when
 * due, and services any interrupt left pending.
 *
 * A device that corrupts a used ring gets the driver's queues marked broken (Linux's
 * `BAD_RING`): the driver stops using the device until `probe()` is called again; a device that
 * sets DEVICE_NEEDS_RESET likewise.
 *
 * Everything a probe sets up or holds is its session's (`balloon-session.ts`), dropped whole at
 * the next probe; the driver keeps its options, its reserved memory and its counters.
 */
import {
  ACTUAL_PAGES_OFFSET,
  MAX_PAGES_IN_DESC,
  NUM_PAGES_OFFSET,
  SIZE_OF_STAT,
  STAT_TAG,
  VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
  VIRTIO_BALLOON_F_FREE_PAGE_HINT,
  VIRTIO_BALLOON_F_MUST_TELL_HOST,
  VIRTIO_BALLOON_F_PAGE_REPORTING,
  VIRTIO_BALLOON_F_STATS_VQ,
  type BalloonStatName,
} from '../devices/virtio/balloon/abi.js';
import { VIRTIO_DEVICE_TYPE } from '../devices/virtio/device.js';
import { DEVICE_STATUS, INTERRUPT_STATUS } from '../devices/virtio/transport/registers.js';
import { CHUNK_PAGES, LITTLE_ENDIAN_HOST, PAGE_SIZE, pfnToAddress, type GuestMemory } from '../vstate/memory.js';
import { BalloonSession, type DeflateRound, type DriverQueue, type SessionQueues } from './balloon-session.js';
import { DeviceProtocolError, GuestDriverError, ProbeError } from './errors.js';
import { FreePageHinting, type HintingActivity, type HintToken } from './free-page-hinting.js';
import { FreePageReporting, type ReportingActivity, type ReportToken } from './free-page-reporting.js';
import { GuestMemoryModel } from './memory-model.js';
import { MmioDriver, type MmioRegisterBlock } from './mmio-driver.js';
import { queueLayout } from './virtqueue-driver.js';
import type { Workload } from './workload.js';

/** Pages the driver gives back per out-of-memory notification (Linux `VIRTIO_BALLOON_OOM_NR_PAGES`). */
export const OOM_DEFLATE_PAGES = 256;
/** Linux's `PAGE_REPORTING_DELAY`: reporting runs at most every 2 s. */
const DEFAULT_REPORTING_INTERVAL_MS = 2000;
/** Linux's hint blocks are `MAX_PAGE_ORDER` (10) blocks: 4 MiB of 4 KiB pages. */
const DEFAULT_HINT_BLOCK_PAGES = 1024;
/** Firecracker's balloon queues have 256 entries; a larger offer is not needed. */
const DEFAULT_MAX_QUEUE_SIZE = 256;
const MAX_QUEUES = 5;
/** The bytes of a frame number, and of a hinting command id. */
const SIZE_OF_U32 = 4;

/** Statistics in the order Linux 6.12's `update_balloon_stats` writes them. */
const STATS_ORDER: readonly BalloonStatName[] = [
  'swap_in', 'swap_out', 'major_faults', 'minor_faults', 'oom_kill', 'alloc_stall', 'async_scan', 'direct_scan',
  'async_reclaim', 'direct_reclaim', 'hugetlb_allocations', 'hugetlb_failures', 'free_memory', 'total_memory',
  'available_memory', 'disk_caches',
];

/** One statistics report: every statistic the driver knows, with its value (memory in bytes). */
export type StatsReport = Record<BalloonStatName, number>;

/** The features this driver can use, to turn some off. Each defaults to true. */
export interface BalloonDriverFeatures {
  readonly statsVq?: boolean;
  readonly deflateOnOom?: boolean;
  readonly freePageHint?: boolean;
  readonly pageReporting?: boolean;
}

export interface SimulatedBalloonDriverOptions {
  /** The device's register block (an `MmioTransport`, or anything with `read`/`write`). */
  readonly mmio: MmioRegisterBlock;
  /** The guest's RAM, the same `GuestMemory` the device serves. */
  readonly memory: GuestMemory;
  /** A program allocating and freeing; its model (over `memory`) becomes the driver's. */
  readonly workload?: Workload;
  readonly features?: BalloonDriverFeatures;
  /**
   * Least time between two free page reporting passes.
   * @default 2000
   */
  readonly reportingIntervalMs?: number;
  /**
   * Pages of a free page hinting block, a multiple of 512.
   * @default 1024
   */
  readonly hintBlockPages?: number;
  /**
   * Largest queue the driver sets up (the device's QueueNumMax is used up to this).
   * @default 256
   */
  readonly maxQueueSize?: number;
  /**
   * Runs the work an interrupt asks for, later.
   * @default queueMicrotask
   */
  readonly schedule?: (work: () => void) => void;
}

/** What the driver has done, counted since its construction. */
export interface BalloonDriverActivity extends HintingActivity, ReportingActivity {
  inflateBuffers: number;
  inflatedPages: number;
  deflateBuffers: number;
  deflatedPages: number;
  /** Deflations forced by memory pressure (DEFLATE_ON_OOM), 256 pages each at most. */
  oomDeflations: number;
  actualPagesWrites: number;
  statsBuffers: number;
  interrupts: number;
}

/** The features negotiated with the device. */
export interface NegotiatedBalloonFeatures {
  readonly statsVq: boolean;
  readonly deflateOnOom: boolean;
  readonly freePageHint: boolean;
  readonly pageReporting: boolean;
}

/** Where the driver's rings and buffers lie in the memory it reserved at its first probe. */
interface Reserved {
  readonly base: bigint;
  readonly queueBytes: number;
  readonly inflatePfns: bigint;
  readonly deflatePfns: bigint;
  readonly stats: bigint;
  readonly hintCmdId: bigint;
  readonly hintStop: bigint;
}

export class SimulatedBalloonDriver {
  readonly model: GuestMemoryModel;
  readonly workload: Workload | undefined;
  readonly #mmio: MmioDriver;
  readonly #memory: GuestMemory;
  readonly #wanted: bigint;
  readonly #reportingIntervalMs: number;
  readonly #hintBlockPages: number;
  readonly #maxQueueSize: number;
  readonly #schedule: (work: () => void) => void;
  #reserved: Reserved | undefined;
  /** The last probe's, or before any probe one that holds nothing; replaced whole by `probe()`. */
  #session = new BalloonSession(0);
  /**
   * The frames of a round as they go into its buffer, one array per queue: a round's frame
   * numbers are a view of these, kept until its buffer comes back, so a round allocates no
   * memory of its own.
   */
  readonly #inflateFrames = new Uint32Array(MAX_PAGES_IN_DESC);
  readonly #deflateFrames = new Uint32Array(MAX_PAGES_IN_DESC);
  /** Frame numbers as the buffer holds them (u32 LE), on a big-endian host only. */
  readonly #pfnBytes = new Uint8Array(SIZE_OF_U32 * MAX_PAGES_IN_DESC);
  readonly #pfnView = new DataView(this.#pfnBytes.buffer);
  /** The work loop is running (it does not nest). */
  #running = false;
  /** A call of `processPending()` is scheduled. */
  #scheduled = false;
  #lastReportMs = -Infinity;
  readonly #activity: BalloonDriverActivity = {
    inflateBuffers: 0, inflatedPages: 0, deflateBuffers: 0, deflatedPages: 0, oomDeflations: 0, actualPagesWrites: 0,
    statsBuffers: 0, reportChains: 0, reportedRanges: 0, reportedBytes: 0, hintRuns: 0, hintedRanges: 0, hintedBytes: 0,
    hintedBlocksReturned: 0, interrupts: 0,
  };

  constructor(options: SimulatedBalloonDriverOptions) {
    this.#mmio = new MmioDriver(options.mmio);
    this.#memory = options.memory;
    this.workload = options.workload;
    if (options.workload !== undefined && options.workload.model.memory !== options.memory) {
      throw new RangeError("SimulatedBalloonDriver: the workload's model must be over the driver's memory");
    }
    this.model = options.workload?.model ?? new GuestMemoryModel(options.memory);
    const features = options.features ?? {};
    let wanted = 1n << BigInt(VIRTIO_BALLOON_F_MUST_TELL_HOST);
    if (features.statsVq !== false) wanted |= 1n << BigInt(VIRTIO_BALLOON_F_STATS_VQ);
    if (features.deflateOnOom !== false) wanted |= 1n << BigInt(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    if (features.freePageHint !== false) wanted |= 1n << BigInt(VIRTIO_BALLOON_F_FREE_PAGE_HINT);
    if (features.pageReporting !== false) wanted |= 1n << BigInt(VIRTIO_BALLOON_F_PAGE_REPORTING);
    this.#wanted = wanted;
    this.#reportingIntervalMs = options.reportingIntervalMs ?? DEFAULT_REPORTING_INTERVAL_MS;
    this.#hintBlockPages = options.hintBlockPages ?? DEFAULT_HINT_BLOCK_PAGES;
    if (this.#hintBlockPages < CHUNK_PAGES || this.#hintBlockPages % CHUNK_PAGES !== 0) throw new RangeError(`SimulatedBalloonDriver: hintBlockPages must be a multiple of ${CHUNK_PAGES}`);
    this.#maxQueueSize = options.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE;
    this.#schedule = options.schedule ?? queueMicrotask;
    // Linux's shrinker (hinted pages) runs before its OOM notifier (deflate_on_oom).
    this.model.addReclaimer((pages) => (this.#session.queues?.hinting?.returnBlocks(Math.ceil(pages / this.#hintBlockPages)) ?? 0) * this.#hintBlockPages);
    this.model.addReclaimer(() => this.#deflateOnOom());
  }

  // ---- The model's figures -------------------------------------------------------------------

  get totalPages(): number {
    return this.model.totalPages;
  }

  /** Pages held by the workload. */
  get usedPages(): number {
    return this.model.pages('workload');
  }

  get freePages(): number {
    return this.model.freePages;
  }

  /** Pages in the balloon, the host acknowledged (what `actual_pages` says). */
  get balloonPages(): number {
    return this.#session.balloon.length;
  }

  /** Pages held out of the allocator after hinting, until the host says DONE. */
  get hintedPages(): number {
    return this.model.pages('hinting');
  }

  /** Pages of the driver's own rings and buffers. */
  get driverPages(): number {
    return this.model.pages('driver');
  }

  /** `num_pages` as last read from the device. */
  get targetPages(): number {
    return this.#session.targetPages;
  }

  /** `actual_pages` as last written to the device. */
  get actualPages(): number {
    return this.#session.actualPages;
  }

  get activity(): Readonly<BalloonDriverActivity> {
    return { ...this.#activity };
  }

  /** The feature bits accepted at the last probe (0 before). */
  get acceptedFeatures(): bigint {
    return this.#session.features;
  }

  get negotiated(): NegotiatedBalloonFeatures {
    const session = this.#session;
    return {
      statsVq: session.has(VIRTIO_BALLOON_F_STATS_VQ),
      deflateOnOom: session.has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM),
      freePageHint: session.has(VIRTIO_BALLOON_F_FREE_PAGE_HINT),
      pageReporting: session.has(VIRTIO_BALLOON_F_PAGE_REPORTING),
    };
  }

  /** Why the driver stopped using the device (a corrupted ring, DEVICE_NEEDS_RESET), if it did. */
  get broken(): GuestDriverError | undefined {
    return this.#session.broken;
  }

  /** What the driver reports in its statistics buffer now (memory in bytes). */
  stats(): StatsReport {
    const events = this.model.events;
    const balloon = this.model.pages('balloon');
    // Without DEFLATE_ON_OOM Linux takes ballooned pages out of the managed total.
    const total = this.model.totalPages - (this.#session.has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) ? 0 : balloon);
    const free = this.model.freePages;
    return {
      swap_in: 0,
      swap_out: 0,
      major_faults: 0,
      minor_faults: events.minorFaults,
      free_memory: free * PAGE_SIZE,
      total_memory: total * PAGE_SIZE,
      // Free pages and the hinted ones the shrinker would give back.
      available_memory: (free + this.model.pages('hinting')) * PAGE_SIZE,
      disk_caches: 0,
      hugetlb_allocations: 0,
      hugetlb_failures: 0,
      oom_kill: events.oomKills,
      alloc_stall: events.allocStalls,
      async_scan: 0,
      direct_scan: events.directScan,
      async_reclaim: 0,
      direct_reclaim: events.directReclaim,
    };
  }

  // ---- Probe -----------------------------------------------------------------------------------

  /**
   * The handshake and queue set-up; then the stats buffer and a first move towards the target.
   * Probing again starts over (after a DEVICE_NEEDS_RESET, say): the pages the old session held
   * go back to the allocator. Throws `ProbeError` (Status then has FAILED).
   */
  probe(): void {
    this.#session.release(this.model);
    const session = (this.#session = new BalloonSession(this.model.totalPages));
    const identity = this.#mmio.identify();
    if (identity.deviceId !== VIRTIO_DEVICE_TYPE.balloon) throw new ProbeError(`device type ${identity.deviceId} is not a balloon (${VIRTIO_DEVICE_TYPE.balloon})`);
    this.#mmio.reset();
    this.#mmio.addStatus(DEVICE_STATUS.acknowledge);
    this.#mmio.addStatus(DEVICE_STATUS.driver);
    try {
      session.features = this.#mmio.negotiate(this.#wanted);
      session.queues = this.#setUpQueues(session);
      this.#mmio.addStatus(DEVICE_STATUS.driverOk);
      const status = this.#mmio.status;
      if ((status & DEVICE_STATUS.deviceNeedsReset) !== 0 || (status & DEVICE_STATUS.driverOk) === 0) throw new ProbeError(`the device did not start (Status 0x${status.toString(16)})`);
    } catch (error) {
      session.queues = undefined;
      this.#mmio.addStatus(DEVICE_STATUS.failed);
      throw error;
    }
    this.#run(() => {
      if (session.queues?.stats !== undefined) this.#sendStats();
      // Linux: `if (towards_target(vb)) virtballoon_changed(vdev)`.
      session.pending.resize = true;
      session.pending.hint = session.has(VIRTIO_BALLOON_F_FREE_PAGE_HINT);
      session.queues?.hinting?.configChanged();
    });
  }

  /** Queues inflate, deflate, then stats, hinting and reporting as negotiated, in the reserved memory. */
  #setUpQueues(session: BalloonSession): SessionQueues {
    const reserved = this.#reserve();
    let next = 0;
    const setUp = <T>(): DriverQueue<T> => {
      const index = next++;
      const base = reserved.base + BigInt(index * reserved.queueBytes);
      return { ring: this.#mmio.setUpQueue<T>(this.#memory, index, base, reserved.queueBytes, this.#maxQueueSize), index };
    };
    const inflate = setUp<Uint32Array>();
    const deflate = setUp<DeflateRound>();
    const stats = session.has(VIRTIO_BALLOON_F_STATS_VQ) ? setUp<'stats'>() : undefined;
    const hint = session.has(VIRTIO_BALLOON_F_FREE_PAGE_HINT) ? setUp<HintToken>() : undefined;
    const report = session.has(VIRTIO_BALLOON_F_PAGE_REPORTING) ? setUp<ReportToken>() : undefined;
    const context = { mmio: this.#mmio, model: this.model, activity: this.#activity };
    const hinting =
      hint === undefined
        ? undefined
        : new FreePageHinting({
            ...context,
            memory: this.#memory,
            queue: hint.ring,
            queueIndex: hint.index,
            cmdIdBuffer: reserved.hintCmdId,
            stopBuffer: reserved.hintStop,
            blockPages: this.#hintBlockPages,
          });
    const reporting = report === undefined ? undefined : new FreePageReporting({ ...context, queue: report.ring, queueIndex: report.index });
    return { inflate, deflate, stats, hinting, reporting };
  }

  // ---- Events ------------------------------------------------------------------------------------

  /** The device raised its interrupt: the work is scheduled (see the module doc). */
  handleInterrupt(): void {
    this.#session.pending.interrupt = true;
    // Scheduled even while the driver runs: a synchronous `schedule` finds it running and leaves
    // the flag to the running loop; a deferred one runs after it.
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(() => {
      this.#scheduled = false;
      this.processPending();
    });
  }

  /** Runs the pending work now: interrupts, resizing, stats refills, hinting, reporting. */
  processPending(): void {
    this.#run(() => undefined);
  }

  /**
   * One step of the guest at `nowMs`: the workload moves, a stalled resize is retried, free
   * pages are reported when due, and pending work runs.
   */
  tick(nowMs: number): void {
    this.workload?.tick(nowMs);
    const session = this.#session;
    if (session.queues === undefined || session.broken !== undefined) return;
    // An interrupt the host raised without calling handleInterrupt() is found here.
    session.pending.interrupt = true;
    if (session.resizeStalled) session.pending.resize = true;
    if (session.queues.reporting !== undefined && nowMs - this.#lastReportMs >= this.#reportingIntervalMs) {
      this.#lastReportMs = nowMs;
      session.pending.report = true;
    }
    this.processPending();
  }

  // ---- The work loop ------------------------------------------------------------------------------

  #run(first: () => void): void {
    if (this.#running) return;
    this.#running = true;
    try {
      if (this.#session.broken === undefined) first();
      // Bounded, so a device that keeps the driver busy cannot hang the guest: one pass per
      // round of 256 pages, per reporting chain, per interrupt. What is left waits for the next call.
      const passes = 1024 + Math.ceil(this.model.totalPages / 64);
      for (let pass = 0; this.#session.broken === undefined && pass < passes; pass++) {
        const session = this.#session;
        const pending = session.pending;
        if (pending.interrupt) {
          pending.interrupt = false;
          this.#serviceInterrupt();
        } else if (pending.statsRefill) {
          pending.statsRefill = false;
          this.#sendStats();
        } else if (pending.resize) {
          pending.resize = false;
          this.#resize();
        } else if (pending.hint) {
          pending.hint = false;
          session.queues?.hinting?.work(() => this.#serviceInterruptMeanwhile());
        } else if (pending.report) {
          pending.report = false;
          if (session.queues?.reporting?.report() === true) pending.report = true;
        } else {
          break;
        }
      }
    } catch (error) {
      if (!(error instanceof GuestDriverError)) throw error;
      this.#session.broken = error;
    } finally {
      this.#running = false;
    }
  }

  /** Linux `vm_interrupt`: read and acknowledge the causes, then handle each. */
  #serviceInterrupt(): void {
    const session = this.#session;
    const status = this.#mmio.takeInterrupt();
    if (status === 0) return;
    this.#activity.interrupts++;
    if ((status & INTERRUPT_STATUS.usedBuffer) !== 0) this.#reapAll();
    if ((status & INTERRUPT_STATUS.configChange) !== 0) {
      if ((this.#mmio.status & DEVICE_STATUS.deviceNeedsReset) !== 0) {
        session.broken = new DeviceProtocolError('the device needs a reset (DEVICE_NEEDS_RESET)');
        return;
      }
      session.pending.resize = true;
      if (session.has(VIRTIO_BALLOON_F_FREE_PAGE_HINT)) {
        session.queues?.hinting?.configChanged();
        session.pending.hint = true;
      }
    }
  }

  /** For a hinting run: services an interrupt that came meanwhile; whether the device may still be used. */
  #serviceInterruptMeanwhile(): boolean {
    const session = this.#session;
    if (session.pending.interrupt) {
      session.pending.interrupt = false;
      this.#serviceInterrupt();
    }
    return session.broken === undefined;
  }

  #reapAll(): void {
    const session = this.#session;
    const queues = session.queues;
    if (queues === undefined) return;
    this.#reapInflate(queues.inflate);
    this.#reapDeflate(queues.deflate);
    if (queues.stats !== undefined) this.#reapStats(queues.stats);
    queues.hinting?.reap();
    if (queues.reporting?.reap() === true) session.pending.report = true;
  }

  #reapInflate(queue: DriverQueue<Uint32Array>): void {
    const session = this.#session;
    for (let used = queue.ring.popUsed(); used !== undefined; used = queue.ring.popUsed()) {
      session.balloon.pushAll(used.token);
      session.inflating = undefined;
      this.#writeActual();
      session.pending.resize = true;
    }
  }

  #reapDeflate(queue: DriverQueue<DeflateRound>): void {
    const session = this.#session;
    for (let used = queue.ring.popUsed(); used !== undefined; used = queue.ring.popUsed()) {
      // Told first, freed once the host has the buffer (VIRTIO_BALLOON_F_MUST_TELL_HOST).
      for (const pfn of used.token.pfns) this.model.freePage(pfn, 'balloon');
      session.deflating = undefined;
      this.#writeActual();
      if (used.token.resize) session.pending.resize = true;
    }
  }

  #reapStats(queue: DriverQueue<'stats'>): void {
    while (queue.ring.popUsed() !== undefined) this.#session.pending.statsRefill = true;
  }

  // ---- Inflate and deflate --------------------------------------------------------------------------

  /** Linux `update_balloon_size_func`: rounds towards `num_pages` while each is acknowledged. */
  #resize(): void {
    const session = this.#session;
    const queues = session.queues;
    if (queues === undefined || session.inflating !== undefined || session.deflating !== undefined) return;
    session.targetPages = this.#mmio.readConfigU32(NUM_PAGES_OFFSET);
    const diff = session.targetPages - session.balloon.length;
    if (diff === 0) {
      session.resizeStalled = false;
      return;
    }
    if (diff > 0) {
      const wanted = Math.min(diff, MAX_PAGES_IN_DESC);
      const frames = this.#inflateFrames;
      let count = 0;
      while (count < wanted) {
        const pfn = this.model.allocatePage('balloon');
        if (pfn === undefined) break;
        frames[count++] = pfn;
      }
      // Out of puff: Linux sleeps 200 ms and tries again; this driver tries on the next tick.
      session.resizeStalled = count < wanted;
      if (count === 0) return;
      const pfns = frames.subarray(0, count);
      session.inflating = pfns;
      this.#tellHost(queues.inflate, this.#reserve().inflatePfns, pfns, pfns);
      this.#reapInflate(queues.inflate);
      this.#activity.inflateBuffers++;
      this.#activity.inflatedPages += pfns.length;
    } else {
      session.resizeStalled = false;
      this.#leak(Math.min(-diff, MAX_PAGES_IN_DESC), true);
    }
  }

  /** Sends up to `count` balloon pages on the deflate queue; returns how many. */
  #leak(count: number, resize: boolean): number {
    const session = this.#session;
    const queues = session.queues;
    if (queues === undefined || session.deflating !== undefined) return 0;
    const pfns = this.#deflateFrames.subarray(0, Math.min(count, session.balloon.length));
    if (pfns.length === 0) return 0;
    session.balloon.popInto(pfns);
    session.deflating = pfns;
    this.#tellHost(queues.deflate, this.#reserve().deflatePfns, pfns, { pfns, resize });
    this.#reapDeflate(queues.deflate);
    this.#activity.deflateBuffers++;
    this.#activity.deflatedPages += pfns.length;
    return pfns.length;
  }

  /** Linux `tell_host`: one buffer of frame numbers and a notification (the caller then looks at the used ring). */
  #tellHost<T>(queue: DriverQueue<T>, buffer: bigint, pfns: Uint32Array, token: T): void {
    // One write of the whole buffer: on a little-endian host the frames' own bytes are already
    // the u32 LE the device reads.
    let bytes = new Uint8Array(pfns.buffer, pfns.byteOffset, pfns.byteLength);
    if (!LITTLE_ENDIAN_HOST) {
      for (let i = 0; i < pfns.length; i++) this.#pfnView.setUint32(SIZE_OF_U32 * i, pfns[i] ?? 0, true);
      bytes = this.#pfnBytes.subarray(0, pfns.byteLength);
    }
    this.#memory.write(buffer, bytes);
    queue.ring.add([{ addr: buffer, len: bytes.length }], token);
    this.#mmio.kick(queue.ring, queue.index);
  }

  #writeActual(): void {
    const session = this.#session;
    session.actualPages = session.balloon.length;
    this.#mmio.writeConfigU32(ACTUAL_PAGES_OFFSET, session.actualPages);
    this.#activity.actualPagesWrites++;
  }

  /** Linux's OOM notifier: 256 pages out of the balloon, now. Returns the pages freed. */
  #deflateOnOom(): number {
    const session = this.#session;
    if (!session.has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) || this.#running || session.broken !== undefined) return 0;
    const before = this.model.freePages;
    // Only the deflation: other pending work (a resize among it) waits for the work loop.
    this.#running = true;
    try {
      if (this.#leak(OOM_DEFLATE_PAGES, false) > 0) this.#activity.oomDeflations++;
    } catch (error) {
      if (!(error instanceof GuestDriverError)) throw error;
      session.broken = error;
    } finally {
      this.#running = false;
    }
    return this.model.freePages - before;
  }

  // ---- Statistics ------------------------------------------------------------------------------------

  #sendStats(): void {
    const queue = this.#session.queues?.stats;
    if (queue === undefined) return;
    const stats = this.stats();
    const bytes = new Uint8Array(SIZE_OF_STAT * STATS_ORDER.length);
    const view = new DataView(bytes.buffer);
    STATS_ORDER.forEach((name, i) => {
      view.setUint16(SIZE_OF_STAT * i, STAT_TAG[name], true);
      view.setBigUint64(SIZE_OF_STAT * i + 2, BigInt(stats[name]), true);
    });
    const address = this.#reserve().stats;
    this.#memory.write(address, bytes);
    queue.ring.add([{ addr: address, len: bytes.length }], 'stats');
    this.#activity.statsBuffers++;
    this.#mmio.kick(queue.ring, queue.index);
  }

  // ---- Memory ------------------------------------------------------------------------------------------

  /** The driver's rings and buffers, reserved from the guest's RAM at the first probe. */
  #reserve(): Reserved {
    if (this.#reserved !== undefined) return this.#reserved;
    const queueBytes = Math.ceil(queueLayout(0n, this.#maxQueueSize).bytes / PAGE_SIZE) * PAGE_SIZE;
    const pfnBytes = SIZE_OF_U32 * MAX_PAGES_IN_DESC;
    const bufferBytes = 2 * pfnBytes + SIZE_OF_STAT * STATS_ORDER.length + 4 * SIZE_OF_U32;
    const pages = (MAX_QUEUES * queueBytes) / PAGE_SIZE + Math.ceil(bufferBytes / PAGE_SIZE);
    const base = pfnToAddress(this.model.reserveContiguous(pages));
    const inflatePfns = base + BigInt(MAX_QUEUES * queueBytes);
    const stats = inflatePfns + BigInt(2 * pfnBytes);
    const hintCmdId = stats + BigInt(SIZE_OF_STAT * STATS_ORDER.length);
    this.#reserved = { base, queueBytes, inflatePfns, deflatePfns: inflatePfns + BigInt(pfnBytes), stats, hintCmdId, hintStop: hintCmdId + BigInt(SIZE_OF_U32) };
    return this.#reserved;
  }
}
