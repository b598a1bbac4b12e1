/**
 * One probe's worth of the simulated balloon driver: what the probe negotiated and set up, and
 * everything the driver holds or has yet to do because of it — the balloon's pages, the round in
 * flight on each queue, its work queue, hinting and reporting. `SimulatedBalloonDriver` makes a
 * new session at each `probe()` and drops the old one whole, once `release()` has given its pages
 * back to the allocator: a field added here starts over with each probe without being listed
 * anywhere. What outlives a probe is the driver's: its options, its reserved memory, its counters.
 */
import type { FreePageHinting } from './free-page-hinting.js';
import type { FreePageReporting } from './free-page-reporting.js';
import type { GuestDriverError } from './errors.js';
import type { GuestMemoryModel } from './memory-model.js';
import { PageStack } from './page-stack.js';
import type { VirtqueueDriver } from './virtqueue-driver.js';

/** A deflate round: its frames, and whether it moves towards the target (not an OOM deflation). */
export interface DeflateRound {
  readonly pfns: Uint32Array;
  readonly resize: boolean;
}

/** A queue the driver set up, and its index (to notify it). */
export interface DriverQueue<T> {
  readonly ring: VirtqueueDriver<T>;
  readonly index: number;
}

/** The queues a probe set up, as negotiated: inflate and deflate, then those of the optional features. */
export interface SessionQueues {
  /** An inflate round's chain carries its frames. */
  readonly inflate: DriverQueue<Uint32Array>;
  readonly deflate: DriverQueue<DeflateRound>;
  readonly stats: DriverQueue<'stats'> | undefined;
  readonly hinting: FreePageHinting | undefined;
  readonly reporting: FreePageReporting | undefined;
}

/** The driver's work queue: what its work loop does next, in this order. */
export interface PendingWork {
  interrupt: boolean;
  statsRefill: boolean;
  resize: boolean;
  hint: boolean;
  report: boolean;
}

export class BalloonSession {
  /** The feature bits accepted (0 until the probe negotiated them). */
  features = 0n;
  /** The queues, once the probe set them all up and the device started. */
  queues: SessionQueues | undefined;
  /** Why the driver stopped using the device (a corrupted ring, DEVICE_NEEDS_RESET), if it did. */
  broken: GuestDriverError | undefined;
  /** `num_pages` as last read from the device. */
  targetPages = 0;
  /** `actual_pages` as last written to the device. */
  actualPages = 0;
  /** Pages in the balloon, acknowledged by the host; the last pushed is the first deflated. */
  readonly balloon: PageStack;
  /**
   * The frames of the round in flight on the inflate and on the deflate queue (one at a time, as
   * in Linux's `vb->pfns`), kept until its buffer comes back.
   */
  inflating: Uint32Array | undefined;
  deflating: Uint32Array | undefined;
  /** A resize found no free page ("out of puff"); the next `tick()` tries again. */
  resizeStalled = false;
  readonly pending: PendingWork = { interrupt: false, statsRefill: false, resize: false, hint: false, report: false };

  /** `capacity`: the most pages the balloon may hold (the guest's; 0 for the session before the first probe). */
  constructor(capacity: number) {
    this.balloon = new PageStack(capacity);
  }

  has(featureBit: number): boolean {
    return (this.features & (1n << BigInt(featureBit))) !== 0n;
  }

  /** Gives back to the allocator what the session holds: the balloon's pages, rounds in flight, hinted and reported blocks. */
  release(model: GuestMemoryModel): void {
    for (const pfn of this.balloon.values()) model.freePage(pfn, 'balloon');
    for (const pfn of [...(this.inflating ?? []), ...(this.deflating ?? [])]) model.freePage(pfn, 'balloon');
    this.queues?.hinting?.returnBlocks(Infinity);
    this.queues?.reporting?.release();
  }
}
