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
 * - **free page reporting** (Linux `page_reporting`): on `tick()`, every `reportingIntervalMs`,
 *   the 2 MiB free chunks not reported since their last allocation are isolated and sent as
 *   chains of up to 32 device-writable descriptors (one range each); they stay isolated until
 *   the chain comes back, then return to the cold end of the free list.
 * - **free page hinting**: when a configuration change brings a new command id (not STOP 0 or
 *   DONE 1), the driver sends the id in a 4-byte buffer, then free 4 MiB blocks (Linux's
 *   `MAX_PAGE_ORDER` blocks) one per chain, held out of the allocator, as long as the id stays
 *   the same, then STOP (0) — as Linux does; DONE from the host gives the blocks back. Under
 *   memory pressure they are given back first (Linux's shrinker).
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
 */
import {
  ACTUAL_PAGES_OFFSET,
  FREE_PAGE_HINT_CMD_ID_OFFSET,
  FREE_PAGE_HINT_DONE,
  FREE_PAGE_HINT_STOP,
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
import { LITTLE_ENDIAN_HOST, PAGE_SIZE, pfnToAddress, type GuestMemory } from '../vstate/memory.js';
import { DeviceProtocolError, GuestDriverError, ProbeError } from './errors.js';
import { CHUNK_PAGES, GuestMemoryModel } from './memory-model.js';
import { MmioDriver, type MmioRegisterBlock } from './mmio-driver.js';
import { queueLayout, type VirtqueueDriver } from './virtqueue-driver.js';
import type { Workload } from './workload.js';

/** Pages the driver gives back per out-of-memory notification (Linux `VIRTIO_BALLOON_OOM_NR_PAGES`). */
export const OOM_DEFLATE_PAGES = 256;
/** Ranges per reporting chain (Linux `PAGE_REPORTING_CAPACITY`). */
const REPORTING_CAPACITY = 32;
/** Linux's `PAGE_REPORTING_DELAY`: reporting runs at most every 2 s. */
const DEFAULT_REPORTING_INTERVAL_MS = 2000;
/** Linux's hint blocks are `MAX_PAGE_ORDER` (10) blocks: 4 MiB of 4 KiB pages. */
const DEFAULT_HINT_BLOCK_PAGES = 1024;
/** Firecracker's balloon queues have 256 entries; a larger offer is not needed. */
const DEFAULT_MAX_QUEUE_SIZE = 256;
const MAX_QUEUES = 5;

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
export interface BalloonDriverActivity {
  inflateBuffers: number;
  inflatedPages: number;
  deflateBuffers: number;
  deflatedPages: number;
  /** Deflations forced by memory pressure (DEFLATE_ON_OOM), 256 pages each at most. */
  oomDeflations: number;
  actualPagesWrites: number;
  statsBuffers: number;
  reportChains: number;
  reportedRanges: number;
  reportedBytes: number;
  hintRuns: number;
  hintedRanges: number;
  hintedBytes: number;
  /** Hinted blocks given back to the allocator (DONE, or memory pressure). */
  hintedBlocksReturned: number;
  interrupts: number;
}

/** The features negotiated with the device. */
export interface NegotiatedBalloonFeatures {
  readonly statsVq: boolean;
  readonly deflateOnOom: boolean;
  readonly freePageHint: boolean;
  readonly pageReporting: boolean;
}

type Token =
  | { readonly kind: 'inflate'; readonly pfns: Uint32Array }
  | { readonly kind: 'deflate'; readonly pfns: Uint32Array; readonly resize: boolean }
  | { readonly kind: 'stats' }
  | { readonly kind: 'report'; readonly blocks: readonly number[] }
  | { readonly kind: 'hint-cmd' }
  | { readonly kind: 'hint' };

type Role = 'inflate' | 'deflate' | 'stats' | 'hint' | 'report';

interface Queues {
  readonly inflate: VirtqueueDriver<Token>;
  readonly deflate: VirtqueueDriver<Token>;
  readonly stats: VirtqueueDriver<Token> | undefined;
  readonly hint: VirtqueueDriver<Token> | undefined;
  readonly report: VirtqueueDriver<Token> | undefined;
  readonly index: Readonly<Record<Role, number>>;
}

/** Where the driver's buffers lie in its reserved memory. */
interface Buffers {
  readonly inflatePfns: bigint;
  readonly deflatePfns: bigint;
  readonly stats: bigint;
  readonly hintCmd: bigint;
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
  #reserved: { readonly base: bigint; readonly queueBytes: number; readonly buffers: Buffers } | undefined;
  #queues: Queues | undefined;
  #features = 0n;
  #broken: GuestDriverError | undefined;
  /** Pages in the balloon, acknowledged by the host; the last pushed is the first deflated. */
  readonly #balloon: PageStack;
  /** A round's frame numbers as they go into its buffer (u32 LE). */
  /**
   * The frames of the round in flight on each queue (one at a time, as in Linux's `vb->pfns`):
   * a round's frame numbers are a view of these, kept until its buffer comes back, so a round
   * allocates no memory of its own.
   */
  readonly #inflateFrames = new Uint32Array(MAX_PAGES_IN_DESC);
  readonly #deflateFrames = new Uint32Array(MAX_PAGES_IN_DESC);
  /** Frame numbers as the buffer holds them (u32 LE), on a big-endian host only. */
  readonly #pfnBytes = new Uint8Array(4 * MAX_PAGES_IN_DESC);
  readonly #pfnView = new DataView(this.#pfnBytes.buffer);
  #inflating: Uint32Array | undefined;
  #deflating: Uint32Array | undefined;
  #targetPages = 0;
  #actualPages = 0;
  // Work flags, the driver's work queue.
  #irqPending = false;
  #resizePending = false;
  #resizeStalled = false;
  #statsRefillPending = false;
  #hintPending = false;
  #reportPending = false;
  #running = false;
  #scheduled = false;
  // Free page hinting state (Linux `cmd_id_received_cache`, `cmd_id_active`, `free_page_list`).
  #hintCmdStale = false;
  #hintCmdReceived: number = FREE_PAGE_HINT_STOP;
  #hintCmdActive: number = FREE_PAGE_HINT_STOP;
  readonly #hinted: number[] = [];
  #reporting = false;
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
    this.#balloon = new PageStack(this.model.totalPages);
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
    this.model.addReclaimer((pages) => this.#returnHinted(Math.ceil(pages / this.#hintBlockPages)) * this.#hintBlockPages);
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
    return this.#balloon.length;
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
    return this.#targetPages;
  }

  /** `actual_pages` as last written to the device. */
  get actualPages(): number {
    return this.#actualPages;
  }

  get activity(): Readonly<BalloonDriverActivity> {
    return { ...this.#activity };
  }

  /** The feature bits accepted at the last probe (0 before). */
  get acceptedFeatures(): bigint {
    return this.#features;
  }

  get negotiated(): NegotiatedBalloonFeatures {
    return {
      statsVq: this.#has(VIRTIO_BALLOON_F_STATS_VQ),
      deflateOnOom: this.#has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM),
      freePageHint: this.#has(VIRTIO_BALLOON_F_FREE_PAGE_HINT),
      pageReporting: this.#has(VIRTIO_BALLOON_F_PAGE_REPORTING),
    };
  }

  /** Why the driver stopped using the device (a corrupted ring, DEVICE_NEEDS_RESET), if it did. */
  get broken(): GuestDriverError | undefined {
    return this.#broken;
  }

  /** What the driver reports in its statistics buffer now (memory in bytes). */
  stats(): StatsReport {
    const events = this.model.events;
    const balloon = this.model.pages('balloon');
    // Without DEFLATE_ON_OOM Linux takes ballooned pages out of the managed total.
    const total = this.model.totalPages - (this.#has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) ? 0 : balloon);
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
    this.#forgetSession();
    const identity = this.#mmio.identify();
    if (identity.deviceId !== VIRTIO_DEVICE_TYPE.balloon) throw new ProbeError(`device type ${identity.deviceId} is not a balloon (${VIRTIO_DEVICE_TYPE.balloon})`);
    this.#mmio.reset();
    this.#mmio.addStatus(DEVICE_STATUS.acknowledge);
    this.#mmio.addStatus(DEVICE_STATUS.driver);
    try {
      this.#features = this.#mmio.negotiate(this.#wanted);
      const reserved = this.#reserve();
      const roles: Role[] = ['inflate', 'deflate'];
      if (this.#has(VIRTIO_BALLOON_F_STATS_VQ)) roles.push('stats');
      if (this.#has(VIRTIO_BALLOON_F_FREE_PAGE_HINT)) roles.push('hint');
      if (this.#has(VIRTIO_BALLOON_F_PAGE_REPORTING)) roles.push('report');
      const made = new Map<Role, VirtqueueDriver<Token>>();
      const index: Record<Role, number> = { inflate: -1, deflate: -1, stats: -1, hint: -1, report: -1 };
      roles.forEach((role, i) => {
        const base = reserved.base + BigInt(i * reserved.queueBytes);
        made.set(role, this.#mmio.setUpQueue<Token>(this.#memory, i, base, reserved.queueBytes, this.#maxQueueSize));
        index[role] = i;
      });
      const inflate = made.get('inflate');
      const deflate = made.get('deflate');
      if (inflate === undefined || deflate === undefined) throw new ProbeError('the inflate and deflate queues were not set up');
      this.#queues = { inflate, deflate, stats: made.get('stats'), hint: made.get('hint'), report: made.get('report'), index };
      this.#mmio.addStatus(DEVICE_STATUS.driverOk);
      const status = this.#mmio.status;
      if ((status & DEVICE_STATUS.deviceNeedsReset) !== 0 || (status & DEVICE_STATUS.driverOk) === 0) throw new ProbeError(`the device did not start (Status 0x${status.toString(16)})`);
    } catch (error) {
      this.#queues = undefined;
      this.#mmio.addStatus(DEVICE_STATUS.failed);
      throw error;
    }
    // The hint stop id, written once (Linux `cmd_id_stop`).
    this.#memory.writeU32(this.#buffers().hintStop, FREE_PAGE_HINT_STOP);
    this.#run(() => {
      if (this.#queues?.stats !== undefined) this.#sendStats();
      // Linux: `if (towards_target(vb)) virtballoon_changed(vdev)`.
      this.#resizePending = true;
      this.#hintPending = this.#has(VIRTIO_BALLOON_F_FREE_PAGE_HINT);
      this.#hintCmdStale = true;
    });
  }

  // ---- Events ------------------------------------------------------------------------------------

  /** The device raised its interrupt: the work is scheduled (see the module doc). */
  handleInterrupt(): void {
    this.#irqPending = true;
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
    if (this.#queues === undefined || this.#broken !== undefined) return;
    // An interrupt the host raised without calling handleInterrupt() is found here.
    this.#irqPending = true;
    if (this.#resizeStalled) this.#resizePending = true;
    if (this.#queues.report !== undefined && nowMs - this.#lastReportMs >= this.#reportingIntervalMs) {
      this.#lastReportMs = nowMs;
      this.#reportPending = true;
    }
    this.processPending();
  }

  // ---- The work loop ------------------------------------------------------------------------------

  #run(first: () => void): void {
    if (this.#running) return;
    this.#running = true;
    try {
      if (this.#broken === undefined) first();
      // Bounded, so a device that keeps the driver busy cannot hang the guest: one pass per
      // round of 256 pages, per reporting chain, per interrupt. What is left waits for the next call.
      const passes = 1024 + Math.ceil(this.model.totalPages / 64);
      for (let pass = 0; this.#broken === undefined && pass < passes; pass++) {
        if (this.#irqPending) {
          this.#irqPending = false;
          this.#serviceInterrupt();
        } else if (this.#statsRefillPending) {
          this.#statsRefillPending = false;
          this.#sendStats();
        } else if (this.#resizePending) {
          this.#resizePending = false;
          this.#resize();
        } else if (this.#hintPending) {
          this.#hintPending = false;
          this.#freePageHintWork();
        } else if (this.#reportPending) {
          this.#reportPending = false;
          this.#reportFreePages();
        } else {
          break;
        }
      }
    } catch (error) {
      if (!(error instanceof GuestDriverError)) throw error;
      this.#broken = error;
    } finally {
      this.#running = false;
    }
  }

  /** Linux `vm_interrupt`: read and acknowledge the causes, then handle each. */
  #serviceInterrupt(): void {
    const status = this.#mmio.takeInterrupt();
    if (status === 0) return;
    this.#activity.interrupts++;
    if ((status & INTERRUPT_STATUS.usedBuffer) !== 0) this.#reapAll();
    if ((status & INTERRUPT_STATUS.configChange) !== 0) {
      if ((this.#mmio.status & DEVICE_STATUS.deviceNeedsReset) !== 0) {
        this.#broken = new DeviceProtocolError('the device needs a reset (DEVICE_NEEDS_RESET)');
        return;
      }
      this.#resizePending = true;
      if (this.#has(VIRTIO_BALLOON_F_FREE_PAGE_HINT)) {
        this.#hintCmdStale = true;
        this.#hintPending = true;
      }
    }
  }

  #reapAll(): void {
    const queues = this.#queues;
    if (queues === undefined) return;
    for (const queue of [queues.inflate, queues.deflate, queues.stats, queues.hint, queues.report]) {
      if (queue !== undefined) this.#reap(queue);
    }
  }

  #reap(queue: VirtqueueDriver<Token>): void {
    for (let used = queue.popUsed(); used !== undefined; used = queue.popUsed()) {
      const token = used.token;
      switch (token.kind) {
        case 'inflate':
          this.#balloon.pushAll(token.pfns);
          this.#inflating = undefined;
          this.#writeActual();
          this.#resizePending = true;
          break;
        case 'deflate':
          // Told first, freed once the host has the buffer (VIRTIO_BALLOON_F_MUST_TELL_HOST).
          for (const pfn of token.pfns) this.model.freePage(pfn, 'balloon');
          this.#deflating = undefined;
          this.#writeActual();
          if (token.resize) this.#resizePending = true;
          break;
        case 'stats':
          this.#statsRefillPending = true;
          break;
        case 'report':
          for (const first of token.blocks) this.model.releaseBlock(first, CHUNK_PAGES, 'reporting', { reported: true });
          this.#reporting = false;
          this.#reportPending = true;
          break;
        case 'hint-cmd':
        case 'hint':
          // Hinted blocks stay out of the allocator until the host says DONE.
          break;
      }
    }
  }

  // ---- Inflate and deflate --------------------------------------------------------------------------

  /** Linux `update_balloon_size_func`: rounds towards `num_pages` while each is acknowledged. */
  #resize(): void {
    const queues = this.#queues;
    if (queues === undefined || this.#inflating !== undefined || this.#deflating !== undefined) return;
    this.#targetPages = this.#mmio.readConfigU32(NUM_PAGES_OFFSET);
    const diff = this.#targetPages - this.#balloon.length;
    if (diff === 0) {
      this.#resizeStalled = false;
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
      this.#resizeStalled = count < wanted;
      if (count === 0) return;
      const pfns = frames.subarray(0, count);
      this.#inflating = pfns;
      this.#tellHost(queues.inflate, queues.index.inflate, this.#buffers().inflatePfns, pfns, { kind: 'inflate', pfns });
      this.#activity.inflateBuffers++;
      this.#activity.inflatedPages += pfns.length;
    } else {
      this.#resizeStalled = false;
      this.#leak(Math.min(-diff, MAX_PAGES_IN_DESC), true);
    }
  }

  /** Sends up to `count` balloon pages on the deflate queue; returns how many. */
  #leak(count: number, resize: boolean): number {
    const queues = this.#queues;
    if (queues === undefined || this.#deflating !== undefined) return 0;
    const pfns = this.#deflateFrames.subarray(0, Math.min(count, this.#balloon.length));
    if (pfns.length === 0) return 0;
    this.#balloon.popInto(pfns);
    this.#deflating = pfns;
    this.#tellHost(queues.deflate, queues.index.deflate, this.#buffers().deflatePfns, pfns, { kind: 'deflate', pfns, resize });
    this.#activity.deflateBuffers++;
    this.#activity.deflatedPages += pfns.length;
    return pfns.length;
  }

  /** Linux `tell_host`: one buffer of frame numbers, a notification, and a look at the used ring. */
  #tellHost(queue: VirtqueueDriver<Token>, index: number, buffer: bigint, pfns: Uint32Array, token: Token): void {
    // One write of the whole buffer: on a little-endian host the frames' own bytes are already
    // the u32 LE the device reads.
    let bytes = new Uint8Array(pfns.buffer, pfns.byteOffset, pfns.byteLength);
    if (!LITTLE_ENDIAN_HOST) {
      for (let i = 0; i < pfns.length; i++) this.#pfnView.setUint32(4 * i, pfns[i] ?? 0, true);
      bytes = this.#pfnBytes.subarray(0, pfns.byteLength);
    }
    this.#memory.write(buffer, bytes);
    queue.add([{ addr: buffer, len: bytes.length }], token);
    this.#notify(queue, index);
    this.#reap(queue);
  }

  #writeActual(): void {
    this.#actualPages = this.#balloon.length;
    this.#mmio.writeConfigU32(ACTUAL_PAGES_OFFSET, this.#actualPages);
    this.#activity.actualPagesWrites++;
  }

  /** Linux's OOM notifier: 256 pages out of the balloon, now. Returns the pages freed. */
  #deflateOnOom(): number {
    if (!this.#has(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) || this.#running || this.#broken !== undefined) return 0;
    const before = this.model.freePages;
    // Only the deflation: other pending work (a resize among it) waits for the work loop.
    this.#running = true;
    try {
      if (this.#leak(OOM_DEFLATE_PAGES, false) > 0) this.#activity.oomDeflations++;
    } catch (error) {
      if (!(error instanceof GuestDriverError)) throw error;
      this.#broken = error;
    } finally {
      this.#running = false;
    }
    return this.model.freePages - before;
  }

  // ---- Statistics ------------------------------------------------------------------------------------

  #sendStats(): void {
    const queues = this.#queues;
    if (queues?.stats === undefined) return;
    const stats = this.stats();
    const bytes = new Uint8Array(SIZE_OF_STAT * STATS_ORDER.length);
    const view = new DataView(bytes.buffer);
    STATS_ORDER.forEach((name, i) => {
      view.setUint16(SIZE_OF_STAT * i, STAT_TAG[name], true);
      view.setBigUint64(SIZE_OF_STAT * i + 2, BigInt(stats[name]), true);
    });
    const address = this.#buffers().stats;
    this.#memory.write(address, bytes);
    queues.stats.add([{ addr: address, len: bytes.length }], { kind: 'stats' });
    this.#activity.statsBuffers++;
    this.#notify(queues.stats, queues.index.stats);
  }

  // ---- Free page reporting -----------------------------------------------------------------------------

  /** Linux `page_reporting_cycle`: chains of free 2 MiB chunks, each waited for. */
  #reportFreePages(): void {
    const queue = this.#queues?.report;
    const index = this.#queues?.index.report ?? -1;
    if (queue === undefined || this.#reporting) return;
    const blocks = this.model.isolateFreeBlocks(CHUNK_PAGES, 'reporting', Math.min(REPORTING_CAPACITY, queue.numFree), { unreportedOnly: true });
    if (blocks.length === 0) return;
    this.#reporting = true;
    const bytes = CHUNK_PAGES * PAGE_SIZE;
    queue.add(blocks.map((first) => ({ addr: pfnToAddress(first), len: bytes, writable: true })), { kind: 'report', blocks });
    this.#activity.reportChains++;
    this.#activity.reportedRanges += blocks.length;
    this.#activity.reportedBytes += blocks.length * bytes;
    this.#notify(queue, index);
    // Its completion (now, or on a later interrupt) queues the next chain.
    this.#reap(queue);
  }

  // ---- Free page hinting ------------------------------------------------------------------------------

  /** Linux `virtio_balloon_cmd_id_received`: the config is read again only after a change. */
  #cmdIdReceived(): number {
    if (this.#hintCmdStale) {
      this.#hintCmdStale = false;
      this.#hintCmdReceived = this.#mmio.readConfigU32(FREE_PAGE_HINT_CMD_ID_OFFSET);
    }
    return this.#hintCmdReceived;
  }

  /** Linux `report_free_page_func`. */
  #freePageHintWork(): void {
    const received = this.#cmdIdReceived();
    if (received === FREE_PAGE_HINT_DONE) {
      this.#returnHinted(Infinity);
    } else if (received !== FREE_PAGE_HINT_STOP && received !== this.#hintCmdActive) {
      this.#hintRun();
    }
  }

  /** Linux `virtio_balloon_report_free_page`: the id, free blocks while it holds, then STOP. */
  #hintRun(): void {
    const queue = this.#queues?.hint;
    const index = this.#queues?.index.hint ?? -1;
    if (queue === undefined) return;
    const buffers = this.#buffers();
    this.#activity.hintRuns++;
    this.#reap(queue);
    this.#hintCmdActive = this.#cmdIdReceived();
    this.#memory.writeU32(buffers.hintCmd, this.#hintCmdActive);
    queue.add([{ addr: buffers.hintCmd, len: 4 }], { kind: 'hint-cmd' });
    this.#notify(queue, index);
    const bytes = this.#hintBlockPages * PAGE_SIZE;
    for (;;) {
      // A new id or a stop from the host ends the run (the interrupt is serviced in between).
      if (this.#irqPending) {
        this.#irqPending = false;
        this.#serviceInterrupt();
        if (this.#broken !== undefined) return;
      }
      if (this.#cmdIdReceived() !== this.#hintCmdActive) break;
      this.#reap(queue);
      const first = this.model.isolateFreeBlocks(this.#hintBlockPages, 'hinting', 1)[0];
      if (first === undefined) break;
      // One entry stays for the stop id.
      if (queue.numFree > 1) {
        queue.add([{ addr: pfnToAddress(first), len: bytes, writable: true }], { kind: 'hint' });
        this.#hinted.push(first);
        this.#activity.hintedRanges++;
        this.#activity.hintedBytes += bytes;
        this.#notify(queue, index);
      } else {
        this.model.releaseBlock(first, this.#hintBlockPages, 'hinting');
        break;
      }
    }
    this.#reap(queue);
    queue.add([{ addr: buffers.hintStop, len: 4 }], { kind: 'hint-cmd' });
    this.#notify(queue, index);
  }

  /** Gives back up to `blocks` hinted blocks to the allocator; returns how many. */
  #returnHinted(blocks: number): number {
    let returned = 0;
    for (; returned < blocks && this.#hinted.length > 0; returned++) {
      this.model.releaseBlock(this.#hinted.pop() ?? 0, this.#hintBlockPages, 'hinting');
    }
    this.#activity.hintedBlocksReturned += returned;
    return returned;
  }

  // ---- Plumbing ---------------------------------------------------------------------------------------------

  #notify(queue: VirtqueueDriver<Token>, index: number): void {
    if (queue.needsNotification()) this.#mmio.notify(index);
  }

  #has(bit: number): boolean {
    return (this.#features & (1n << BigInt(bit))) !== 0n;
  }

  /** The driver's rings and buffers, reserved from the guest's RAM at the first probe. */
  #reserve(): { readonly base: bigint; readonly queueBytes: number; readonly buffers: Buffers } {
    if (this.#reserved !== undefined) return this.#reserved;
    const queueBytes = Math.ceil(queueLayout(0n, this.#maxQueueSize).bytes / PAGE_SIZE) * PAGE_SIZE;
    const bufferBytes = 2 * 4 * MAX_PAGES_IN_DESC + SIZE_OF_STAT * STATS_ORDER.length + 16;
    const pages = (MAX_QUEUES * queueBytes) / PAGE_SIZE + Math.ceil(bufferBytes / PAGE_SIZE);
    const base = pfnToAddress(this.model.reserveContiguous(pages));
    const at = base + BigInt(MAX_QUEUES * queueBytes);
    const stats = at + BigInt(2 * 4 * MAX_PAGES_IN_DESC);
    const hintCmd = stats + BigInt(SIZE_OF_STAT * STATS_ORDER.length);
    this.#reserved = {
      base,
      queueBytes,
      buffers: { inflatePfns: at, deflatePfns: at + BigInt(4 * MAX_PAGES_IN_DESC), stats, hintCmd, hintStop: hintCmd + 4n },
    };
    return this.#reserved;
  }

  #buffers(): Buffers {
    return this.#reserve().buffers;
  }

  /** Before a new probe: what the old session held goes back to the allocator. */
  #forgetSession(): void {
    for (const pfn of this.#balloon.values()) this.model.freePage(pfn, 'balloon');
    this.#balloon.clear();
    for (const pfn of [...(this.#inflating ?? []), ...(this.#deflating ?? [])]) this.model.freePage(pfn, 'balloon');
    this.#inflating = undefined;
    this.#deflating = undefined;
    this.#returnHinted(Infinity);
    for (let pfn = 0; pfn < this.model.totalPages; pfn += CHUNK_PAGES) {
      if (this.model.ownerOf(pfn) === 'reporting') this.model.releaseBlock(pfn, CHUNK_PAGES, 'reporting');
    }
    this.#queues = undefined;
    this.#features = 0n;
    this.#broken = undefined;
    this.#targetPages = 0;
    this.#actualPages = 0;
    this.#irqPending = false;
    this.#resizePending = false;
    this.#resizeStalled = false;
    this.#statsRefillPending = false;
    this.#hintPending = false;
    this.#reportPending = false;
    this.#reporting = false;
    this.#hintCmdStale = false;
    this.#hintCmdReceived = FREE_PAGE_HINT_STOP;
    this.#hintCmdActive = FREE_PAGE_HINT_STOP;
  }
}

/**
 * The balloon's page frames, a stack (the last page in is the first deflated) in a typed array
 * sized for the whole guest when the driver is made: a round adds its frames in one copy, and
 * inflating allocates no memory. (Growing it as the balloon grows would make new ArrayBuffers
 * mid-inflation; each counts as external memory, and right after a guest held much of it, V8
 * answers with a full garbage collection there and then.) Like the model's own per-page arrays,
 * it takes address space for every page, host memory only for those the balloon holds. Frame
 * numbers fit 32 bits, as the model's free queue (an Int32Array) and the u32 entries of the
 * inflate buffers require.
 */
class PageStack {
  readonly #pages: Uint32Array;
  #length = 0;

  constructor(capacity: number) {
    this.#pages = new Uint32Array(capacity);
  }

  get length(): number {
    return this.#length;
  }

  pushAll(pfns: Uint32Array): void {
    if (this.#length + pfns.length > this.#pages.length) throw new RangeError(`PageStack.pushAll: more than ${this.#pages.length} pages`);
    this.#pages.set(pfns, this.#length);
    this.#length += pfns.length;
  }

  /** Fills `into` with the pages last pushed, the last first, and takes them off. */
  popInto(into: Uint32Array): void {
    if (into.length > this.#length) throw new RangeError(`PageStack.popInto: ${into.length} pages wanted, ${this.#length} held`);
    for (let i = 0; i < into.length; i++) into[i] = this.#pages[--this.#length] ?? 0;
  }

  /** The pages, oldest first; a view, valid until the stack changes. */
  values(): Uint32Array {
    return this.#pages.subarray(0, this.#length);
  }

  clear(): void {
    this.#length = 0;
  }
}
