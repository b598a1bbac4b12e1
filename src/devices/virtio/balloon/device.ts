/**
 * The virtio-balloon device (virtio 1.2, 5.5), as Firecracker's `devices/virtio/balloon/device.rs`
 * serves it to an untrusted guest, with its metrics moved where Firecracker moves them.
 *
 * The host sets a target (`num_pages`); the guest driver gives pages back through the inflate
 * queue and the device releases their host memory (`GuestMemory.discardRange`, Firecracker's
 * `madvise(MADV_DONTNEED)`); pages taken back through the deflate queue are only acknowledged,
 * since touching a released page gives it memory again. Optional queues, in Firecracker's and
 * Linux's order after inflate (0) and deflate (1): statistics (`stats_polling_interval_s > 0`),
 * free page hinting, free page reporting — so their indices depend on which are enabled.
 *
 * ```ts
 * const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1 },
 *                             { metrics: vm.balloon });
 * const transport = new MmioTransport(balloon, memory, { onInterrupt });
 * // … once the driver has set DRIVER_OK:
 * balloon.updateSize(512);           // the guest inflates towards 512 MiB
 * balloon.latestStats().free_memory; // as the guest last reported it
 * ```
 *
 * | metric | moves |
 * |---|---|
 * | `inflate_count`, `deflate_count`, `stats_updates_count` | once per processing of their queue (a notification), whatever it held |
 * | `stats_update_fails` | per unknown statistics tag (skipped; the others are read) |
 * | `event_fails` | per malformed chain, per interrupt that could not be raised, per corrupted available ring |
 * | `free_page_report_count`, `free_page_hint_count` | per range the device tried to release |
 * | `free_page_report_freed`, `free_page_hint_freed` | the bytes of each range released |
 * | `free_page_report_fails`, `free_page_hint_fails` | per range that could not be released (outside guest memory) |
 * | `activate_fails` | per activation that threw |
 *
 * Where this device differs from Firecracker, on purpose:
 * - A corrupted available ring (`avail.idx` more than the queue size ahead) panics Firecracker's
 *   whole VMM. Here it counts `event_fails`, asks the transport for a reset
 *   (`InterruptLine.needsReset`), and the device serves nothing more until `reset()`.
 * - A malformed chain (an index outside the table, a loop, an indirect descriptor, a buffer the
 *   device must read that lies outside guest memory) is never returned by Firecracker: a bad
 *   buffer ends that notification's processing with an error (`event_fails`), a bad index stalls
 *   the queue without a metric. Here each malformed chain counts one `event_fails`, goes back to
 *   the driver with length 0, and the rest of the queue is processed. A buffer the device skips
 *   unread (an inflate descriptor that is write-only, not whole frame numbers, or over 256) is
 *   not checked, in either. A hinted or reported range outside guest memory is not a malformed
 *   chain, in either: it is a range that could not be released (`free_page_*_fails`).
 * - An inflate descriptor of more than 256 frames is skipped as bogus in both, but returned to
 *   the used ring here (Firecracker never returns it, and the guest leaks that buffer).
 * - A trailing partial statistics entry is not read.
 * - `updateSize` beyond the guest's memory says the memory size in its message ("should be less
 *   than {n}MiB" with n the guest memory size; Firecracker puts the requested amount there).
 * - The driver may write `actual_pages` only; a write touching another field is ignored
 *   (Firecracker copies any in-bounds write into its configuration space).
 * - A range not aligned to pages, in hinting or reporting, is released as `discardRange` does:
 *   its whole pages freed and its partial edge pages zeroed (Firecracker's `madvise` refuses a
 *   misaligned start and rounds the length up to whole pages).
 * - `reset()` keeps the host's hinting run and forgets only the guest's command id: afterwards
 *   `free_page_hint_cmd_id` still reads the run's id (or DONE), `hintingStatus().host_cmd` says
 *   so, and the next run's id follows the last (`HintingState.reset`). Firecracker's reset sets
 *   the command to STOP and starts the ids over. A run is the host's, begun and ended through its
 *   API; a guest resetting its driver does not end it behind the host's back, and a new driver
 *   that reads the configuration finds the run and may hint under it.
 *
 * A queue notification is processed inside `notifyQueue()`, bounded by the queue (at most `size`
 * chains, each of at most `size` descriptors and 2,048 frame numbers buffered at a time) and, for
 * the queues that discard guest memory (inflate, hinting, reporting), by a budget per turn of the
 * event loop (`TurnBudget`, `maxDiscardBytesPerTurn`): each turn discards at most the guest's
 * memory size (128 MiB at most), a range counting 64 KiB more for its walk, and a range longer
 * than what is left is discarded in pieces. What is left waits for the next turn, so that a guest
 * naming its whole RAM in every descriptor of a full queue (on an emulator's RAM, a discard zeroes)
 * cannot hold the host's thread for minutes; the chains done are returned and the guest
 * interrupted before each wait. A notification of a queue whose processing waits for a turn joins
 * it (counted once, as Firecracker's eventfd counts kicks made before it is read). An inflate
 * round (its buffers returned, then their frames discarded) is never split, so the guest is told
 * of a buffer only once its pages are gone; a hinted range is discarded only while the host's run
 * still asks for it, judged again after each wait.
 *
 * A host program waits on the device's events (`events.ts`): `activate`, `reset`, `target`,
 * `stats`, and `whenActive()`, `whenAtTarget()`. `dispose()` (or `using`) ends a device for good;
 * a device dropped without it is not kept alive by its statistics timer, which holds it weakly.
 */
import { describe } from '../../../metrics/describe.js';
import { GuestMemoryError, LITTLE_ENDIAN_HOST, PAGE_SIZE, pfnToAddress, type GuestMemoryAccess } from '../../../vstate/memory.js';
import {
  DeviceActivationError,
  VIRTIO_DEVICE_TYPE,
  VIRTIO_F_VERSION_1,
  type ActivationContext,
  type InterruptKind,
  type InterruptLine,
  type VirtioDevice,
} from '../device.js';
import { InvalidAvailIndexError, MalformedChainError, type Descriptor, type DescriptorChain, type Queue } from '../queue.js';
import { TurnBudget, type TurnTask } from '../turn-budget.js';
import { WeakInterval } from '../weak-interval.js';
import {
  ACTUAL_PAGES_OFFSET,
  BALLOON_CONFIG_SPACE_SIZE,
  FREE_PAGE_HINT_CMD_ID_OFFSET,
  MAX_PAGES_IN_DESC,
  NUM_PAGES_OFFSET,
  SIZE_OF_STAT,
  VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
  VIRTIO_BALLOON_F_FREE_PAGE_HINT,
  VIRTIO_BALLOON_F_PAGE_REPORTING,
  VIRTIO_BALLOON_F_STATS_VQ,
} from './abi.js';
import {
  BalloonInterruptError,
  DeviceDisposedError,
  DeviceNotActiveError,
  HintingNotEnabledError,
  InvalidBalloonConfigError,
  StatisticsDisabledError,
  StatisticsStateChangeError,
  TooMuchMemoryRequestedError,
} from './errors.js';
import { BalloonWaits, type BalloonEventType, type BalloonWaitOptions } from './events.js';
import { HintingState, type HintingStatus, type StartHintingCmd } from './hinting.js';
import { METRICS, type BalloonDeviceMetrics } from './metrics.js';
import { MAX_STATS_DESC_LEN, updateWithStats, type BalloonStats, type ReceivedStats } from './stats.js';
import { compactPageFrameNumbers } from './util.js';

/** Firecracker's balloon configuration (its API's field names). */
export interface BalloonConfig {
  /** Target size of the balloon, in MiB. */
  readonly amount_mib: number;
  /** Whether the guest may take pages back from the balloon when it runs out of memory. */
  readonly deflate_on_oom: boolean;
  /** Seconds between statistics updates; 0 disables statistics (and their queue). */
  readonly stats_polling_interval_s: number;
  /** Offer free page hinting. @default false */
  readonly free_page_hinting?: boolean;
  /** Offer free page reporting. @default false */
  readonly free_page_reporting?: boolean;
}

/** `config()`: the configuration as it is now (`amount_mib` follows `updateSize`). */
export interface BalloonConfigState {
  amount_mib: number;
  deflate_on_oom: boolean;
  stats_polling_interval_s: number;
  free_page_hinting: boolean;
  free_page_reporting: boolean;
}

export interface BalloonOptions {
  /** The group to count into. @default the global balloon group (`METRICS` of `vmm-metrics/balloon`) */
  readonly metrics?: BalloonDeviceMetrics;
  /**
   * The most guest memory the device discards in one turn of the event loop, over every queue, in
   * bytes (rounded down to whole pages, at least one); each range counts `RANGE_WORK_BYTES` more.
   * @default the guest's memory size, at most `MAX_DISCARD_BYTES_PER_TURN`
   */
  readonly maxDiscardBytesPerTurn?: number;
}

/** Firecracker's `FIRECRACKER_MAX_QUEUE_SIZE`, the size of every balloon queue. */
export const BALLOON_QUEUE_SIZE = 256;
/** 4 KiB pages in a MiB. */
export const MIB_TO_4K_PAGES = 256;
/** Frame numbers gathered before they are compacted and released (a multiple of `MAX_PAGES_IN_DESC`). */
export const MAX_PAGE_COMPACT_BUFFER = 2048;
/**
 * The default bound of a turn's discards, whatever the guest's size: 128 MiB, which v86's RAM
 * zeroes in about 20 ms (256 MiB took a median 42 ms a turn, up to 85 ms on a busy 2-core machine:
 * `npm run bench:hostile`), so that a 10 ms timer is never 100 ms late.
 */
export const MAX_DISCARD_BYTES_PER_TURN = 128 * 1024 * 1024;
/**
 * What a reported or hinted range (or a piece of one) costs a turn besides the memory it
 * discards: walking, checking and counting it takes 1–4 µs (65,536 of them took 44–138 ms in
 * issue 16's measurement, 200–300 ms on a busy 2-core machine), about what zeroing 64 KiB does;
 * so a turn of 128 MiB takes at most 2,048 ranges even when they discard nothing (already
 * released, outside memory, not hinted now). An inflated range costs a page more than its
 * memory: it is one call, on frames already in hand.
 */
export const RANGE_WORK_BYTES = 64 * 1024;

const SIZE_OF_U32 = 4;
const U32_MAX = 0xffff_ffff;
const U16_MAX = 0xffff;
/** The largest `amount_mib` whose page count fits `num_pages` (Firecracker: `u32::MAX / MIB_TO_4K_PAGES`). */
const MAX_AMOUNT_MIB = Math.floor(U32_MAX / MIB_TO_4K_PAGES);

type QueueRole = 'inflate' | 'deflate' | 'stats' | 'hinting' | 'reporting';

interface Active {
  readonly memory: GuestMemoryAccess;
  readonly queues: readonly Queue[];
  readonly interrupt: InterruptLine;
  /** This activation's discards, in turns of the event loop. */
  readonly work: TurnBudget;
}

/** One processing of a queue that may wait for turns: chains returned and not yet signalled. */
interface QueueTask {
  needsInterrupt: boolean;
}

/** The device asked for a reset; unwinds the processing of a notification. */
class NeedsReset extends Error {}

export class Balloon extends EventTarget implements VirtioDevice {
  readonly #released = { inflate: 0, reporting: 0, hinting: 0 };
  readonly deviceType = VIRTIO_DEVICE_TYPE.balloon;
  readonly queueMaxSizes: readonly number[];
  readonly availableFeatures: bigint;

  readonly #metrics: BalloonDeviceMetrics;
  readonly #maxDiscardBytesPerTurn: number | undefined;
  readonly #waits = new BalloonWaits(this);
  #disposed = false;
  readonly #roles: readonly QueueRole[];
  readonly #deflateOnOom: boolean;
  readonly #freePageHinting: boolean;
  readonly #freePageReporting: boolean;
  #statsPollingIntervalS: number;

  #ackedFeatures = 0n;
  #numPages: number;
  #actualPages = 0;
  /** Free page hinting's state; `free_page_hint_cmd_id` reads its host command. */
  readonly #hinting = new HintingState();

  #active: Active | undefined;
  /** Set when the guest corrupted a ring: nothing is served until `reset()`. */
  #broken = false;
  #statsTimer: WeakInterval<Balloon> | undefined;
  /** The stats buffer held until the next polling tick (Firecracker's `stats_desc_index`). */
  #statsDescIndex: number | undefined;
  readonly #latestStats: ReceivedStats = {};
  readonly #pfnBuffer = new Uint32Array(MAX_PAGE_COMPACT_BUFFER);
  readonly #pfnBytes = new Uint8Array(this.#pfnBuffer.buffer);
  readonly #pfnView = new DataView(this.#pfnBuffer.buffer);
  readonly #configSpace = new Uint8Array(BALLOON_CONFIG_SPACE_SIZE);
  readonly #configView = new DataView(this.#configSpace.buffer);

  constructor(config: BalloonConfig, options: BalloonOptions = {}) {
    super();
    const { amount_mib, deflate_on_oom, stats_polling_interval_s } = config;
    const free_page_hinting = config.free_page_hinting ?? false;
    const free_page_reporting = config.free_page_reporting ?? false;
    checkAmountMib(amount_mib);
    checkInterval(stats_polling_interval_s);
    for (const [name, value] of [
      ['deflate_on_oom', deflate_on_oom],
      ['free_page_hinting', free_page_hinting],
      ['free_page_reporting', free_page_reporting],
    ] as const) {
      if (typeof value !== 'boolean') throw new InvalidBalloonConfigError(`${name} must be a boolean, got ${describe(value, 'literal')}`);
    }
    this.#metrics = options.metrics ?? METRICS;
    const perTurn = options.maxDiscardBytesPerTurn;
    if (perTurn !== undefined && !(typeof perTurn === 'number' && Number.isSafeInteger(perTurn) && perTurn >= PAGE_SIZE)) {
      throw new RangeError(`Balloon: maxDiscardBytesPerTurn must be a whole number of bytes of at least ${PAGE_SIZE}, got ${describe(perTurn, 'literal')}`);
    }
    this.#maxDiscardBytesPerTurn = perTurn === undefined ? undefined : perTurn - (perTurn % PAGE_SIZE);
    this.#deflateOnOom = deflate_on_oom;
    this.#freePageHinting = free_page_hinting;
    this.#freePageReporting = free_page_reporting;
    this.#statsPollingIntervalS = stats_polling_interval_s;
    this.#numPages = amount_mib * MIB_TO_4K_PAGES;

    let features = 1n << BigInt(VIRTIO_F_VERSION_1);
    const roles: QueueRole[] = ['inflate', 'deflate'];
    if (deflate_on_oom) features |= 1n << BigInt(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    // The statistics queue is absent, not idle, when statistics are off (virtio 1.2, 5.5.2).
    if (stats_polling_interval_s > 0) {
      features |= 1n << BigInt(VIRTIO_BALLOON_F_STATS_VQ);
      roles.push('stats');
    }
    if (free_page_hinting) {
      features |= 1n << BigInt(VIRTIO_BALLOON_F_FREE_PAGE_HINT);
      roles.push('hinting');
    }
    if (free_page_reporting) {
      features |= 1n << BigInt(VIRTIO_BALLOON_F_PAGE_REPORTING);
      roles.push('reporting');
    }
    this.availableFeatures = features;
    this.#roles = roles;
    this.queueMaxSizes = roles.map(() => BALLOON_QUEUE_SIZE);
  }

  get activated(): boolean {
    return this.#active !== undefined;
  }

  /** The features the driver accepted. */
  get ackedFeatures(): bigint {
    return this.#ackedFeatures;
  }

  /** The target size, in 4 KiB pages (the configuration's `num_pages`). */
  get numPages(): number {
    return this.#numPages;
  }

  /** The size the driver says the balloon holds, in 4 KiB pages (`actual_pages`). */
  get actualPages(): number {
    return this.#actualPages;
  }

  /** Whether the device stopped serving a guest that corrupted a ring, until `reset()`. */
  get needsReset(): boolean {
    return this.#broken;
  }

  /**
   * Host memory the device has released since it was created, in bytes, by the way the guest
   * gave it: the resident pages its discards freed (the `…_freed` metrics count the ranges the
   * guest named, whether the host held them or not).
   */
  releasedBytes(): Readonly<Record<'inflate' | 'reporting' | 'hinting', number>> {
    return { ...this.#released };
  }

  ackFeatures(features: bigint): void {
    this.#ackedFeatures = features & this.availableFeatures;
  }

  readConfig(offset: number, data: Uint8Array): void {
    const space = this.#configBytes();
    for (let i = 0; i < data.length; i++) data[i] = space[offset + i] ?? 0;
  }

  writeConfig(offset: number, data: Uint8Array): void {
    // Only actual_pages (bytes 4–7) belongs to the driver; anything else is ignored whole.
    if (!Number.isSafeInteger(offset) || offset < ACTUAL_PAGES_OFFSET || offset + data.length > ACTUAL_PAGES_OFFSET + SIZE_OF_U32) return;
    const before = this.#actualPages;
    this.#configBytes().set(data, offset);
    this.#actualPages = this.#configView.getUint32(ACTUAL_PAGES_OFFSET, true);
    if (this.#actualPages !== before && this.#actualPages === this.#numPages) this.#emit('target');
  }

  activate(context: ActivationContext): void {
    // Not counted: the host ended the device, the guest did nothing wrong.
    if (this.#disposed) throw new DeviceActivationError(new DeviceDisposedError().message);
    try {
      if (this.#active !== undefined) throw new DeviceActivationError('The balloon is already active');
      if (context.queues.length !== this.#roles.length) {
        throw new DeviceActivationError(`The balloon has ${this.#roles.length} queues, got ${context.queues.length}`);
      }
      context.queues.forEach((queue, index) => {
        if (queue.ready && !queue.isValid(context.memory)) throw new DeviceActivationError(`Queue ${index} is not valid`);
      });
    } catch (error) {
      this.#metrics.activate_fails.inc();
      throw error;
    }
    const work = new TurnBudget({
      perTurn: this.#maxDiscardBytesPerTurn ?? Math.max(PAGE_SIZE, Math.min(context.memory.size, MAX_DISCARD_BYTES_PER_TURN)),
      guard: (step) => {
        this.#serve(step);
      },
    });
    this.#active = { memory: context.memory, queues: context.queues, interrupt: context.interrupt, work };
    this.#broken = false;
    if (this.#statsEnabled()) this.#armStatsTimer();
    this.#emit('activate');
  }

  notifyQueue(index: number): void {
    const active = this.#active;
    if (active === undefined || this.#broken) return;
    const role = this.#roles[index];
    const queue = active.queues[index];
    if (role === undefined || queue?.ready !== true) return;
    switch (role) {
      case 'deflate':
        this.#serve(() => {
          this.#processDeflate(active, queue);
        });
        return;
      case 'stats':
        this.#serve(() => {
          this.#processStats(active, queue);
        });
        return;
      case 'inflate':
        active.work.start(index, () => this.#processInflate(active, queue, { needsInterrupt: false }));
        return;
      case 'hinting':
        active.work.start(index, () => this.#processHinting(active, queue, { needsInterrupt: false }));
        return;
      case 'reporting':
        active.work.start(index, () => this.#processReporting(active, queue, { needsInterrupt: false }));
        return;
    }
  }

  reset(): void {
    this.#stopStatsTimer();
    const wasActive = this.#active !== undefined;
    this.#active?.work.cancel();
    this.#active = undefined;
    this.#broken = false;
    this.#ackedFeatures = 0n;
    this.#statsDescIndex = undefined;
    this.#actualPages = 0;
    // The host's hinting run outlives a reset (see the differences from Firecracker above).
    this.#hinting.reset();
    if (wasActive) this.#emit('reset');
  }

  /**
   * Ends the device for good: reset, its timer and pending work stopped, `whenActive()` and
   * `whenAtTarget()` rejected (`DeviceDisposedError`), and a later activation refused, so that a
   * transport the guest still reaches serves nothing. Its metrics and last statistics stay.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.reset();
    this.#waits.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Resolves once the guest's driver has brought the device up (now, if it has); see `events.ts`. */
  whenActive(options: BalloonWaitOptions = {}): Promise<void> {
    return this.#waits.until('activate', () => this.activated, options);
  }

  /** Resolves once the balloon holds its target (`actual_pages` equals `num_pages`: now, if it does). */
  whenAtTarget(options: BalloonWaitOptions = {}): Promise<void> {
    return this.#waits.until('target', () => this.#actualPages === this.#numPages, options);
  }

  // ---- host API -------------------------------------------------------------------------

  /** Sets the balloon's target and tells the guest (a configuration interrupt). */
  updateSize(amountMib: number): void {
    const active = this.#requireActive();
    checkAmountMib(amountMib);
    // The balloon cannot be larger than the guest's memory.
    const memoryMib = Math.floor(active.memory.size / (1024 * 1024));
    if (amountMib > memoryMib) throw new TooMuchMemoryRequestedError(memoryMib);
    const before = this.#numPages;
    this.#numPages = amountMib * MIB_TO_4K_PAGES;
    if (this.#numPages !== before && this.#numPages === this.#actualPages) this.#emit('target');
    this.#raiseConfig(active);
  }

  /**
   * Changes how often the statistics buffer is handed back; the buffer held now is handed back
   * at once and the timer starts again. Statistics cannot be turned on or off.
   */
  updateStatsPollingInterval(intervalS: number): void {
    checkInterval(intervalS);
    if (intervalS === this.#statsPollingIntervalS) return;
    if (intervalS === 0 || this.#statsPollingIntervalS === 0) throw new StatisticsStateChangeError();
    if (this.#active !== undefined) this.#serve(() => { this.#triggerStatsUpdate(); });
    this.#statsPollingIntervalS = intervalS;
    if (this.#active !== undefined) this.#armStatsTimer();
  }

  /** The balloon's size and the guest's last statistics. */
  latestStats(): BalloonStats {
    if (!this.#statsEnabled()) throw new StatisticsDisabledError();
    return {
      target_pages: this.#numPages,
      actual_pages: this.#actualPages,
      target_mib: Math.floor(this.#numPages / MIB_TO_4K_PAGES),
      actual_mib: Math.floor(this.#actualPages / MIB_TO_4K_PAGES),
      ...this.#latestStats,
    };
  }

  /** Starts a hinting run under a new command id (2 and up; 0 and 1 are reserved). */
  startHinting(cmd: StartHintingCmd = {}): void {
    if (!this.#freePageHinting) throw new HintingNotEnabledError();
    const acknowledge = cmd.acknowledge_on_stop ?? true;
    if (typeof acknowledge !== 'boolean') throw new InvalidBalloonConfigError(`acknowledge_on_stop must be a boolean, got ${describe(acknowledge, 'literal')}`);
    const active = this.#requireActive();
    this.#hinting.start(acknowledge);
    this.#raiseConfig(active);
  }

  /** The host's last command and the guest's last command id. */
  hintingStatus(): HintingStatus {
    if (!this.#freePageHinting) throw new HintingNotEnabledError();
    return this.#hinting.status();
  }

  /** Ends the hinting run (DONE): the guest may use the hinted pages again. */
  stopHinting(): void {
    if (!this.#freePageHinting) throw new HintingNotEnabledError();
    const active = this.#requireActive();
    this.#hinting.finish();
    this.#raiseConfig(active);
  }

  config(): BalloonConfigState {
    return {
      amount_mib: Math.floor(this.#numPages / MIB_TO_4K_PAGES),
      deflate_on_oom: this.#deflateOnOom,
      stats_polling_interval_s: this.#statsPollingIntervalS,
      free_page_hinting: this.#freePageHinting,
      free_page_reporting: this.#freePageReporting,
    };
  }

  // ---- queues ---------------------------------------------------------------------------

  /**
   * Runs one queue event, and is the one place that turns its failure into a metric
   * (Firecracker's `report_balloon_event_fail`), except that a corrupted ring asks for a reset.
   */
  #serve(process: () => void): void {
    try {
      process();
    } catch (error) {
      if (error instanceof NeedsReset) return;
      // A failure no guest input should cause (the rings were checked at activation); counted
      // so that it shows, never thrown at the transport.
      this.#metrics.event_fails.inc();
    }
  }

  /** `queue.pop()`, turning a corrupted available ring into a reset request. */
  /** Whether the driver made chains available; a corrupted ring says yes, for `#pop` to handle. */
  #hasPending(active: Active, queue: Queue): boolean {
    try {
      return queue.pending(active.memory) > 0;
    } catch (error) {
      if (error instanceof InvalidAvailIndexError) return true;
      throw error;
    }
  }

  #pop(active: Active, queue: Queue): DescriptorChain | undefined {
    try {
      return queue.pop(active.memory);
    } catch (error) {
      if (!(error instanceof InvalidAvailIndexError)) throw error;
      this.#metrics.event_fails.inc();
      this.#broken = true;
      this.#stopStatsTimer();
      active.work.cancel();
      try {
        active.interrupt.needsReset();
      } catch {
        // The device stops serving all the same.
      }
      throw new NeedsReset();
    }
  }

  /** A chain the device cannot read: counted, and returned to the driver untouched. */
  #rejectChain(active: Active, queue: Queue, chain: DescriptorChain, error: unknown): void {
    if (!(error instanceof MalformedChainError) && !(error instanceof GuestMemoryError)) throw error;
    this.#metrics.event_fails.inc();
    queue.addUsed(active.memory, chain.head, 0);
  }

  #signalUsedQueue(active: Active): void {
    this.#raise(active, 'vring');
  }

  #raise(active: Active, kind: InterruptKind): void {
    try {
      active.interrupt.raise(kind);
    } catch {
      this.#metrics.event_fails.inc();
    }
  }

  /**
   * Waits for a turn whose budget is not spent; the chains returned so far are signalled first,
   * so that the guest goes on with them meanwhile.
   */
  *#awaitBudget(active: Active, task: QueueTask): TurnTask {
    while (active.work.exhausted) {
      if (task.needsInterrupt) {
        task.needsInterrupt = false;
        this.#signalUsedQueue(active);
      }
      yield;
    }
  }

  *#processInflate(active: Active, queue: Queue, task: QueueTask): TurnTask {
    const { memory, work } = active;
    this.#metrics.inflate_count.inc();
    const buffer = this.#pfnBuffer;
    let count = 0;
    let found = true;
    // Gather frame numbers until the next descriptor would overflow the buffer, release them,
    // and go on until the queue is empty. A round waits for its turn before it starts, never
    // within: its buffers go back to the used ring before their frames are discarded.
    for (let round = 0; found; round++) {
      // A round that emptied the queue ends the task at once: a kick that comes after it is a
      // processing of its own (counted), not one that joins a task waiting for a turn.
      if (round > 0 && !this.#hasPending(active, queue)) break;
      yield* this.#awaitBudget(active, task);
      found = false;
      for (let chain = this.#pop(active, queue); chain !== undefined; chain = this.#pop(active, queue)) {
        found = true;
        let descriptor;
        try {
          // Its buffer is checked only if it is read: a descriptor Firecracker skips unread
          // (write-only, a length not of whole frame numbers, too many) moves no metric.
          descriptor = chain.headDescriptor(memory, { buffers: false });
        } catch (error) {
          this.#rejectChain(active, queue, chain, error);
          task.needsInterrupt = true;
          continue;
        }
        if (!descriptor.writeOnly && descriptor.len % SIZE_OF_U32 === 0) {
          const pages = descriptor.len / SIZE_OF_U32;
          if (pages <= MAX_PAGES_IN_DESC) {
            if (MAX_PAGE_COMPACT_BUFFER - count < pages) {
              queue.undoPop();
              break;
            }
            try {
              chain.checkBuffer(memory, descriptor);
            } catch (error) {
              this.#rejectChain(active, queue, chain, error);
              task.needsInterrupt = true;
              continue;
            }
            // Straight into the buffer's bytes; the guest's u32 LE are the host's own layout
            // on a little-endian host, and are swapped in place on a big-endian one.
            memory.readInto(descriptor.addr, this.#pfnBytes.subarray(count * SIZE_OF_U32, count * SIZE_OF_U32 + descriptor.len));
            if (!LITTLE_ENDIAN_HOST) for (let i = count; i < count + pages; i++) buffer[i] = this.#pfnView.getUint32(i * SIZE_OF_U32, true);
            count += pages;
          }
          // else: a bogus page count, skipped (and returned below).
        }
        // 0: the device wrote nothing into the buffer.
        queue.addUsed(memory, chain.head, 0);
        task.needsInterrupt = true;
      }
      for (const range of compactPageFrameNumbers(buffer.subarray(0, count))) {
        let released = 0;
        try {
          released = memory.discardRange(pfnToAddress(range.start), range.length * PAGE_SIZE) * PAGE_SIZE;
          this.#released.inflate += released;
        } catch (error) {
          // Frames outside guest memory: Firecracker logs "Error removing memory range" and
          // counts nothing; the guest only harmed its own balloon.
          if (!(error instanceof GuestMemoryError)) throw error;
        }
        work.charge(PAGE_SIZE + released);
      }
      count = 0;
    }
    if (task.needsInterrupt) this.#signalUsedQueue(active);
  }

  #processDeflate(active: Active, queue: Queue): void {
    this.#metrics.deflate_count.inc();
    let needsInterrupt = false;
    for (let chain = this.#pop(active, queue); chain !== undefined; chain = this.#pop(active, queue)) {
      queue.addUsed(active.memory, chain.head, 0);
      needsInterrupt = true;
    }
    if (needsInterrupt) this.#signalUsedQueue(active);
  }

  #processStats(active: Active, queue: Queue): void {
    const { memory } = active;
    this.#metrics.stats_updates_count.inc();
    // Interrupts wait for the end: a driver that answers one at once, from inside `raise()`,
    // finds the device's state whole.
    let needsInterrupt = false;
    let received = false;
    for (let chain = this.#pop(active, queue); chain !== undefined; chain = this.#pop(active, queue)) {
      const previous = this.#statsDescIndex;
      if (previous !== undefined) {
        // A compliant driver has one buffer out at a time; give the older one back.
        this.#statsDescIndex = undefined;
        queue.addUsed(memory, previous, 0);
        needsInterrupt = true;
      }
      let descriptor;
      try {
        descriptor = chain.headDescriptor(memory);
      } catch (error) {
        this.#rejectChain(active, queue, chain, error);
        needsInterrupt = true;
        continue;
      }
      // An oversized buffer is held, so that the request/response protocol goes on, but not
      // read: a guest cannot make the device walk an arbitrarily long one.
      if (descriptor.len <= MAX_STATS_DESC_LEN) {
        const whole = descriptor.len - (descriptor.len % SIZE_OF_STAT);
        const unknown = updateWithStats(this.#latestStats, memory.read(descriptor.addr, whole));
        if (unknown > 0) this.#metrics.stats_update_fails.add(unknown);
        received = true;
      }
      this.#statsDescIndex = chain.head;
    }
    if (needsInterrupt) this.#signalUsedQueue(active);
    if (received) this.#emit('stats');
  }

  /** Hands the held stats buffer back, asking the guest for fresh figures. */
  #triggerStatsUpdate(): void {
    const active = this.#active;
    const index = this.#statsDescIndex;
    if (active === undefined || this.#broken || index === undefined) return; // Firecracker: "missing descriptor"
    const queue = active.queues[this.#roles.indexOf('stats')];
    if (queue?.ready !== true) return;
    this.#statsDescIndex = undefined;
    queue.addUsed(active.memory, index, 0);
    this.#signalUsedQueue(active);
  }

  *#processHinting(active: Active, queue: Queue, task: QueueTask): TurnTask {
    const { memory } = active;
    const hinting = this.#hinting;
    let complete = false;
    for (let chain = this.#pop(active, queue); chain !== undefined; chain = this.#pop(active, queue)) {
      try {
        // A range outside guest memory is a release that fails, not a malformed chain.
        for (const descriptor of chain.descriptors(memory, { buffers: false })) {
          // A command id is always 4 bytes; a page range never is (Linux hints 4 MiB blocks).
          if (descriptor.len === SIZE_OF_U32) {
            complete = hinting.receive(memory.readU32(descriptor.addr));
            continue;
          }
          yield* this.#awaitBudget(active, task);
          // Judged against the host's command now: after a wait, the run may have ended.
          const wanted = (): boolean => hinting.releases(hinting.hostCmd);
          if (!wanted()) {
            active.work.charge(RANGE_WORK_BYTES);
            continue;
          }
          this.#metrics.free_page_hint_count.inc();
          const discarded = yield* this.#discardRange(active, task, chain, descriptor, 'hinting', wanted);
          if (discarded === undefined) this.#metrics.free_page_hint_fails.inc();
        }
      } catch (error) {
        this.#rejectChain(active, queue, chain, error);
        task.needsInterrupt = true;
        continue;
      }
      queue.addUsed(memory, chain.head, 0);
      task.needsInterrupt = true;
    }
    if (task.needsInterrupt) this.#signalUsedQueue(active);
    if (complete && hinting.acknowledgeOnFinish) {
      hinting.finish();
      try {
        this.#raiseConfig(active);
      } catch {
        this.#metrics.event_fails.inc();
      }
    }
  }

  *#processReporting(active: Active, queue: Queue, task: QueueTask): TurnTask {
    const { memory } = active;
    for (let chain = this.#pop(active, queue); chain !== undefined; chain = this.#pop(active, queue)) {
      let descriptors;
      try {
        // A range outside guest memory is a release that fails, not a malformed chain.
        descriptors = chain.descriptors(memory, { buffers: false });
      } catch (error) {
        this.#rejectChain(active, queue, chain, error);
        task.needsInterrupt = true;
        continue;
      }
      for (const descriptor of descriptors) {
        yield* this.#awaitBudget(active, task);
        this.#metrics.free_page_report_count.inc();
        const discarded = yield* this.#discardRange(active, task, chain, descriptor, 'reporting', () => true);
        if (discarded === undefined) this.#metrics.free_page_report_fails.inc();
      }
      // Returned once every range is discarded: the guest reuses its pages only then.
      queue.addUsed(memory, chain.head, 0);
      task.needsInterrupt = true;
    }
    if (task.needsInterrupt) this.#signalUsedQueue(active);
  }

  /**
   * Releases a range the guest gave, in pieces that fit the turn's budget (cut at page
   * boundaries, so that the pages released are those of the range whole), waiting for turns
   * between pieces and going on only while `wanted()` still holds after a wait. Returns the bytes
   * discarded, or undefined if the range is not inside guest memory (nothing is discarded then).
   */
  *#discardRange(
    active: Active,
    task: QueueTask,
    chain: DescriptorChain,
    descriptor: Descriptor,
    by: 'reporting' | 'hinting',
    wanted: () => boolean,
  ): Generator<void, number | undefined, void> {
    const { memory, work } = active;
    if (descriptor.len <= work.left) {
      // One piece: the discard checks the range.
      let released;
      try {
        released = memory.discardRange(descriptor.addr, descriptor.len);
      } catch (error) {
        if (!(error instanceof GuestMemoryError)) throw error;
        work.charge(RANGE_WORK_BYTES);
        return undefined;
      }
      this.#discarded(work, by, descriptor.len, released);
      return descriptor.len;
    }
    // Longer than the turn allows: checked whole first, so that a range that does not lie inside
    // guest memory discards nothing.
    try {
      chain.checkBuffer(memory, descriptor);
    } catch (error) {
      if (!(error instanceof MalformedChainError)) throw error;
      work.charge(RANGE_WORK_BYTES);
      return undefined;
    }
    // Inside guest memory, so below 2^53: exact as a number.
    const start = Number(descriptor.addr);
    const end = start + descriptor.len;
    let at = start;
    for (;;) {
      // The budget left is whole pages (every charge is), so a piece cut at a page boundary holds
      // something.
      let pieceEnd = at + work.left;
      if (pieceEnd < end) pieceEnd -= pieceEnd % PAGE_SIZE;
      else pieceEnd = end;
      this.#discarded(work, by, pieceEnd - at, memory.discardRange(at, pieceEnd - at));
      at = pieceEnd;
      if (at === end) return descriptor.len;
      yield* this.#awaitBudget(active, task);
      if (!wanted()) return at - start;
    }
  }

  /** `bytes` of a reported or hinted range were discarded, `pages` of them released: counted and charged. */
  #discarded(work: TurnBudget, by: 'reporting' | 'hinting', bytes: number, pages: number): void {
    this.#released[by] += pages * PAGE_SIZE;
    (by === 'reporting' ? this.#metrics.free_page_report_freed : this.#metrics.free_page_hint_freed).add(bytes);
    work.charge(RANGE_WORK_BYTES + pages * PAGE_SIZE);
  }

  // ---- internals ------------------------------------------------------------------------

  #statsEnabled(): boolean {
    return this.#statsPollingIntervalS > 0;
  }

  #armStatsTimer(): void {
    this.#stopStatsTimer();
    // A timer that holds the device weakly: a VM dropped without `dispose()` is collected whole
    // (guest memory and all), and its timer cleared then.
    this.#statsTimer = new WeakInterval(this, this.#statsPollingIntervalS * 1000, (balloon) => {
      balloon.#serve(() => {
        balloon.#triggerStatsUpdate();
      });
    });
  }

  #stopStatsTimer(): void {
    this.#statsTimer?.stop();
    this.#statsTimer = undefined;
  }

  /** Dispatches `type` once the current guest access or host call is over (see `events.ts`). */
  #emit(type: BalloonEventType): void {
    queueMicrotask(() => {
      this.dispatchEvent(new Event(type));
    });
  }

  #requireActive(): Active {
    if (this.#active === undefined) throw new DeviceNotActiveError();
    return this.#active;
  }

  #raiseConfig(active: Active): void {
    try {
      active.interrupt.raise('config');
    } catch (error) {
      throw new BalloonInterruptError({ cause: error });
    }
  }

  /**
   * The configuration space as it is now, in one buffer the device keeps (the driver reads it a
   * few times per inflate round); valid until the next call.
   */
  #configBytes(): Uint8Array {
    const view = this.#configView;
    view.setUint32(NUM_PAGES_OFFSET, this.#numPages, true);
    view.setUint32(ACTUAL_PAGES_OFFSET, this.#actualPages, true);
    view.setUint32(FREE_PAGE_HINT_CMD_ID_OFFSET, this.#hinting.hostCmd, true);
    return this.#configSpace;
  }
}

function checkAmountMib(value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidBalloonConfigError(`amount_mib must be a whole number of MiB, got ${describe(value, 'literal')}`);
  }
  // num_pages is a u32 (Firecracker's `mib_to_pages`).
  if (value > MAX_AMOUNT_MIB) throw new TooMuchMemoryRequestedError(MAX_AMOUNT_MIB);
}

function checkInterval(value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > U16_MAX) {
    throw new InvalidBalloonConfigError(`stats_polling_interval_s must be an integer from 0 to ${U16_MAX}, got ${describe(value, 'literal')}`);
  }
}
