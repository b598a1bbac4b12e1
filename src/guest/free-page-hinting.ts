/**
 * Free page hinting, the driver's side (Linux's `virtio_balloon.c`: `report_free_page_func`,
 * `virtio_balloon_report_free_page`, and its shrinker): when a configuration change brings a new
 * command id (not STOP 0 or DONE 1), the driver sends the id in a 4-byte buffer, then free
 * blocks (Linux's `MAX_PAGE_ORDER` blocks, 4 MiB by default) one per chain, held out of the
 * allocator, as long as the id stays the same, then STOP. DONE from the host gives the blocks
 * back; under memory pressure they are given back first.
 *
 * One per probe that negotiated FREE_PAGE_HINT, part of the driver's session and dropped with
 * it, once `returnBlocks(Infinity)` has given its blocks back.
 */
import { FREE_PAGE_HINT_CMD_ID_OFFSET, FREE_PAGE_HINT_DONE, FREE_PAGE_HINT_STOP } from '../devices/virtio/balloon/abi.js';
import { PAGE_SIZE, pfnToAddress, type GuestMemory } from '../vstate/memory.js';
import type { GuestMemoryModel } from './memory-model.js';
import type { MmioDriver } from './mmio-driver.js';
import type { VirtqueueDriver } from './virtqueue-driver.js';

/** The bytes of a command id on the hinting queue. */
const CMD_ID_BYTES = 4;

/** What a chain on the hinting queue carries: a command id, or a free block. */
export type HintToken = 'cmd-id' | 'block';

/** The driver's hinting counters (part of `BalloonDriverActivity`). */
export interface HintingActivity {
  hintRuns: number;
  hintedRanges: number;
  hintedBytes: number;
  /** Hinted blocks given back to the allocator (DONE, or memory pressure). */
  hintedBlocksReturned: number;
}

export interface FreePageHintingOptions {
  readonly mmio: MmioDriver;
  readonly memory: GuestMemory;
  readonly model: GuestMemoryModel;
  readonly queue: VirtqueueDriver<HintToken>;
  /** The hinting queue's index, to notify it. */
  readonly queueIndex: number;
  /** Where the run's id is written for the device, and where STOP is (each 4 bytes, the driver's own). */
  readonly cmdIdBuffer: bigint;
  readonly stopBuffer: bigint;
  /** Pages of a hinted block, a multiple of `CHUNK_PAGES`. */
  readonly blockPages: number;
  readonly activity: HintingActivity;
}

export class FreePageHinting {
  readonly #options: FreePageHintingOptions;
  // Linux's `cmd_id_received_cache`, read again only after a configuration change, and
  // `cmd_id_active`, the id of the run the driver is in.
  #cmdIdStale = false;
  #cmdIdReceived = FREE_PAGE_HINT_STOP;
  #cmdIdActive = FREE_PAGE_HINT_STOP;
  /** The first frames of the blocks held out of the allocator (Linux's `free_page_list`). */
  readonly #hinted: number[] = [];

  constructor(options: FreePageHintingOptions) {
    this.#options = options;
    // The stop id, written once (Linux `cmd_id_stop`).
    options.memory.writeU32(options.stopBuffer, FREE_PAGE_HINT_STOP);
  }

  /** The configuration changed: the command id is read again when next needed. */
  configChanged(): void {
    this.#cmdIdStale = true;
  }

  /**
   * Linux `report_free_page_func`: DONE gives the blocks back; a new id starts a run.
   * `serviceInterrupt` handles an interrupt that came meanwhile and says whether the device may
   * still be used (a run ends when the host changes its command).
   */
  work(serviceInterrupt: () => boolean): void {
    const received = this.#cmdIdReceivedNow();
    if (received === FREE_PAGE_HINT_DONE) {
      this.returnBlocks(Infinity);
    } else if (received !== FREE_PAGE_HINT_STOP && received !== this.#cmdIdActive) {
      this.#run(serviceInterrupt);
    }
  }

  /** Gives back up to `blocks` hinted blocks to the allocator; returns how many. */
  returnBlocks(blocks: number): number {
    const { model, blockPages, activity } = this.#options;
    let returned = 0;
    for (; returned < blocks && this.#hinted.length > 0; returned++) {
      model.releaseBlock(this.#hinted.pop() ?? 0, blockPages, 'hinting');
    }
    activity.hintedBlocksReturned += returned;
    return returned;
  }

  /** Takes the chains the device gave back; nothing to undo: blocks stay out until DONE. */
  reap(): void {
    while (this.#options.queue.popUsed() !== undefined);
  }

  /** Linux `virtio_balloon_cmd_id_received`. */
  #cmdIdReceivedNow(): number {
    if (this.#cmdIdStale) {
      this.#cmdIdStale = false;
      this.#cmdIdReceived = this.#options.mmio.readConfigU32(FREE_PAGE_HINT_CMD_ID_OFFSET);
    }
    return this.#cmdIdReceived;
  }

  /** Linux `virtio_balloon_report_free_page`: the id, free blocks while it holds, then STOP. */
  #run(serviceInterrupt: () => boolean): void {
    const { mmio, memory, model, queue, queueIndex, cmdIdBuffer, stopBuffer, blockPages, activity } = this.#options;
    activity.hintRuns++;
    this.reap();
    this.#cmdIdActive = this.#cmdIdReceivedNow();
    memory.writeU32(cmdIdBuffer, this.#cmdIdActive);
    queue.add([{ addr: cmdIdBuffer, len: CMD_ID_BYTES }], 'cmd-id');
    mmio.kick(queue, queueIndex);
    const bytes = blockPages * PAGE_SIZE;
    for (;;) {
      // A new id or a stop from the host ends the run (the interrupt is serviced in between).
      if (!serviceInterrupt()) return;
      if (this.#cmdIdReceivedNow() !== this.#cmdIdActive) break;
      this.reap();
      const first = model.isolateFreeBlocks(blockPages, 'hinting', 1)[0];
      if (first === undefined) break;
      // One entry stays for the stop id.
      if (queue.numFree > 1) {
        queue.add([{ addr: pfnToAddress(first), len: bytes, writable: true }], 'block');
        this.#hinted.push(first);
        activity.hintedRanges++;
        activity.hintedBytes += bytes;
        mmio.kick(queue, queueIndex);
      } else {
        model.releaseBlock(first, blockPages, 'hinting');
        break;
      }
    }
    this.reap();
    queue.add([{ addr: stopBuffer, len: CMD_ID_BYTES }], 'cmd-id');
    mmio.kick(queue, queueIndex);
  }
}
