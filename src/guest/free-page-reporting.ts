/**
 * Free page reporting, the driver's side (Linux's `mm/page_reporting.c` through
 * `virtballoon_free_page_report`): the 2 MiB free chunks not reported since their last
 * allocation are isolated and sent as one chain of up to 32 device-writable descriptors (one
 * range each); they stay isolated until the chain comes back, then return to the cold end of the
 * free list, marked reported. One chain is in flight at a time; when it comes back the next may
 * go. When a pass runs is the driver's (`tick()`, every `reportingIntervalMs`).
 *
 * One per probe that negotiated PAGE_REPORTING, part of the driver's session and dropped with
 * it, once `release()` has given a chain still in flight back.
 */
import { CHUNK_PAGES, PAGE_SIZE, pfnToAddress } from '../vstate/memory.js';
import type { GuestMemoryModel } from './memory-model.js';
import type { MmioDriver } from './mmio-driver.js';
import type { VirtqueueDriver } from './virtqueue-driver.js';

/** Ranges per reporting chain (Linux `PAGE_REPORTING_CAPACITY`). */
const REPORTING_CAPACITY = 32;

/** What a reporting chain carries: the first frames of its chunks. */
export type ReportToken = readonly number[];

/** The driver's reporting counters (part of `BalloonDriverActivity`). */
export interface ReportingActivity {
  reportChains: number;
  reportedRanges: number;
  reportedBytes: number;
}

export interface FreePageReportingOptions {
  readonly mmio: MmioDriver;
  readonly model: GuestMemoryModel;
  readonly queue: VirtqueueDriver<ReportToken>;
  /** The reporting queue's index, to notify it. */
  readonly queueIndex: number;
  readonly activity: ReportingActivity;
}

export class FreePageReporting {
  readonly #options: FreePageReportingOptions;
  /** The chunks of the chain in flight, isolated until it comes back. */
  #inFlight: ReportToken | undefined;

  constructor(options: FreePageReportingOptions) {
    this.#options = options;
  }

  /**
   * Linux `page_reporting_cycle`: one chain of unreported free chunks, unless one is in flight.
   * Returns whether a chain came back meanwhile, so that the next may go.
   */
  report(): boolean {
    const { mmio, model, queue, queueIndex, activity } = this.#options;
    if (this.#inFlight !== undefined) return false;
    const blocks = model.isolateFreeBlocks(CHUNK_PAGES, 'reporting', Math.min(REPORTING_CAPACITY, queue.numFree), { unreportedOnly: true });
    if (blocks.length === 0) return false;
    this.#inFlight = blocks;
    const bytes = CHUNK_PAGES * PAGE_SIZE;
    queue.add(blocks.map((first) => ({ addr: pfnToAddress(first), len: bytes, writable: true })), blocks);
    activity.reportChains++;
    activity.reportedRanges += blocks.length;
    activity.reportedBytes += blocks.length * bytes;
    mmio.kick(queue, queueIndex);
    // Its completion (now, or on a later interrupt) lets the next chain go.
    return this.reap();
  }

  /** Takes the chains the device gave back: their chunks go back to the allocator, reported. Returns whether one came back. */
  reap(): boolean {
    const { model, queue } = this.#options;
    let completed = false;
    for (let used = queue.popUsed(); used !== undefined; used = queue.popUsed()) {
      for (const first of used.token) model.releaseBlock(first, CHUNK_PAGES, 'reporting', { reported: true });
      this.#inFlight = undefined;
      completed = true;
    }
    return completed;
  }

  /** The session ends: a chain still in flight gives its chunks back, not reported. */
  release(): void {
    for (const first of this.#inFlight ?? []) this.#options.model.releaseBlock(first, CHUNK_PAGES, 'reporting');
    this.#inFlight = undefined;
  }
}
