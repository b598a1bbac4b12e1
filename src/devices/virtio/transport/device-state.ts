/**
 * The device side of the virtio handshake, shared by the MMIO and the PCI transport (virtio 1.2,
 * 2.1, 2.2 and 3.1.1 are the same for both): the device status, feature negotiation, the queues
 * and their set-up, activation, reset and DEVICE_NEEDS_RESET. A transport maps its registers onto
 * this state and keeps what is its own: the register layout, access widths, and how an interrupt
 * reaches the guest (`DeviceStateHooks`).
 *
 * No method throws on the guest's behalf except where the device itself throws (from
 * `ackFeatures`, `notifyQueue`, `readConfig`, …): the transport catches that around the whole
 * access and calls `deviceFailed()`, so that whatever the access had done stays done.
 *
 * Decisions that are not obvious (the transports' module docs give the reasons in full):
 * - Status transitions follow the driver initialization sequence exactly, as Firecracker's do:
 *   each write adds one bit; FAILED may be added at any time; anything else is ignored.
 * - FEATURES_OK is refused (not kept) for a bit the device does not offer, a nonzero word past the
 *   64 bits (until the next reset), or the absence of VIRTIO_F_VERSION_1.
 * - Notifications after FEATURES_OK and before DRIVER_OK are held and served right after
 *   activation: Linux's virtio_balloon kicks its statistics queue during probe, and Firecracker's
 *   eventfd holds such a kick the same way.
 * - Each handshake (Status 0 → ACKNOWLEDGE) and each reset reads the device's `queueMaxSizes`
 *   again: a balloon's queue count follows its settings.
 */
import type { GuestMemoryAccess } from '../../../vstate/memory.js';
import { VIRTIO_F_VERSION_1, type InterruptKind, type InterruptLine, type VirtioDevice } from '../device.js';
import { Queue } from '../queue.js';
import { DEVICE_STATUS } from './registers.js';

const { acknowledge: ACKNOWLEDGE, driver: DRIVER, driverOk: DRIVER_OK, featuresOk: FEATURES_OK, deviceNeedsReset: NEEDS_RESET, failed: FAILED } = DEVICE_STATUS;

/** The status a driver may move to from each status (virtio 1.2, 3.1.1), as Firecracker allows. */
const NEXT_STATUS = new Map<number, number>([
  [0, ACKNOWLEDGE],
  [ACKNOWLEDGE, ACKNOWLEDGE | DRIVER],
  [ACKNOWLEDGE | DRIVER, ACKNOWLEDGE | DRIVER | FEATURES_OK],
  [ACKNOWLEDGE | DRIVER | FEATURES_OK, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK],
]);

const VERSION_1 = 1n << BigInt(VIRTIO_F_VERSION_1);
export const U32_MASK = 0xffff_ffffn;

/** What differs between transports in how the device reaches the guest. */
export interface DeviceStateHooks {
  /**
   * The device raised an interrupt, or DEVICE_NEEDS_RESET was set while the driver is live
   * ('config', virtio 1.2, 2.1.2). ConfigGeneration has already moved if it should.
   */
  readonly raise: (kind: InterruptKind) => void;
  /** Status was written 0: the transport clears its interrupt state, before the device is reset. */
  readonly clearInterrupts: () => void;
  /**
   * The mask ConfigGeneration wraps at: 0xffff_ffff for MMIO's 32-bit register, 0xff for PCI's
   * 8-bit field.
   */
  readonly configGenerationMask: number;
}

export class DeviceState {
  readonly #device: VirtioDevice;
  readonly #memory: GuestMemoryAccess;
  readonly #hooks: DeviceStateHooks;

  #status = 0;
  #configGeneration = 0;
  /** The selector of the offered-features word the driver reads. */
  deviceFeaturesSelect = 0;
  /** The selector of the accepted-features word the driver writes. */
  driverFeaturesSelect = 0;
  #driverFeatures = 0n;
  /**
   * The driver wrote a nonzero word above the 64 feature bits, where nothing is offered: FEATURES_OK
   * is refused until the device is reset (one flag, not a word per selector a guest could choose).
   */
  #driverFeaturesBeyond = false;
  /** The queue the queue fields refer to. */
  queueSelect = 0;
  #queues: Queue[];
  /** Whether the device was activated and not reset since. */
  #active = false;
  /** Queues notified after FEATURES_OK but before DRIVER_OK, served once the device is active. */
  readonly #earlyNotified = new Set<number>();
  /** Identifies the interrupt line of the current activation; a reset disconnects older lines. */
  #lineGeneration = 0;

  /** Throws a RangeError if the device declares a queue size that is not a power of 2 up to 32768. */
  constructor(device: VirtioDevice, memory: GuestMemoryAccess, hooks: DeviceStateHooks) {
    this.#device = device;
    this.#memory = memory;
    this.#hooks = hooks;
    this.#queues = device.queueMaxSizes.map((max) => new Queue(max));
  }

  get status(): number {
    return this.#status;
  }

  get configGeneration(): number {
    return this.#configGeneration;
  }

  /** The queues as the driver has set them up (replaced by new ones on each reset). */
  get queues(): readonly Queue[] {
    return this.#queues;
  }

  get selectedQueue(): Queue | undefined {
    return this.#queues[this.queueSelect];
  }

  /** The offered-features word `deviceFeaturesSelect` selects (0 past the 64 bits). */
  get deviceFeatureWord(): number {
    if (this.deviceFeaturesSelect > 1) return 0;
    return Number((this.#device.availableFeatures >> BigInt(32 * this.deviceFeaturesSelect)) & U32_MASK);
  }

  /** The accepted-features word `driverFeaturesSelect` selects (0 past the 64 bits). */
  get driverFeatureWord(): number {
    if (this.driverFeaturesSelect > 1) return 0;
    return Number((this.#driverFeatures >> BigInt(32 * this.driverFeaturesSelect)) & U32_MASK);
  }

  /** Firecracker's rule: the configuration is the driver's once it has claimed the device. */
  get configWritable(): boolean {
    return (this.#status & DRIVER) !== 0 && (this.#status & (FAILED | NEEDS_RESET)) === 0;
  }

  /** A driver features word: only while negotiating (DRIVER set, FEATURES_OK not yet). */
  acceptFeatureWord(value: number): void {
    if ((this.#status & (DRIVER | FEATURES_OK | FAILED | NEEDS_RESET)) !== DRIVER) return;
    if (this.driverFeaturesSelect > 1) {
      if (value !== 0) this.#driverFeaturesBeyond = true;
      return;
    }
    const shift = BigInt(32 * this.driverFeaturesSelect);
    this.#driverFeatures = (this.#driverFeatures & ~(U32_MASK << shift)) | (BigInt(value) << shift);
  }

  /** Applies a queue field write: only between FEATURES_OK and DRIVER_OK, as Firecracker. */
  updateQueue(update: (queue: Queue) => void): void {
    if ((this.#status & (FEATURES_OK | DRIVER_OK | FAILED | NEEDS_RESET)) !== FEATURES_OK) return;
    const queue = this.selectedQueue;
    if (queue !== undefined) update(queue);
  }

  setStatus(value: number): void {
    if (value === 0) {
      this.#reset();
      return;
    }
    if ((value & FAILED) !== 0) {
      // The driver gave up; it must reset the device before trying again (virtio 1.2, 2.1.1).
      this.#status |= FAILED;
      return;
    }
    if (NEXT_STATUS.get(this.#status) !== value) return;
    if (this.#status === 0) {
      // A new handshake: read the queues again, as a device's queue count may depend on settings
      // the host changed since the last one (a balloon's statistics queue).
      this.#queues = this.#device.queueMaxSizes.map((max) => new Queue(max));
    }
    if (value === (this.#status | FEATURES_OK)) {
      this.#negotiate();
      return;
    }
    this.#status = value;
    if ((value & DRIVER_OK) !== 0) this.#activate();
  }

  /** The driver made buffers available in queue `index`. */
  notify(index: number): void {
    if (!this.#active && (this.#status & (FEATURES_OK | DRIVER_OK | FAILED | NEEDS_RESET)) === FEATURES_OK) {
      if (Number.isInteger(index) && index >= 0 && index < this.#queues.length) this.#earlyNotified.add(index);
      return;
    }
    if (!this.#active || (this.#status & (DRIVER_OK | FAILED | NEEDS_RESET)) !== DRIVER_OK) return;
    if (this.#queues[index]?.ready !== true) return;
    this.#device.notifyQueue(index);
  }

  /**
   * The device threw (it must not): as if it asked for a reset, and it is stopped — its
   * interrupt line cut and `reset()` called — so that its timers do not go on using the queues
   * of a device the driver sees as broken. Never throws itself.
   */
  deviceFailed(): void {
    try {
      this.#needsReset();
    } catch {
      // Nothing left to do: the status already says what can be said.
    }
    if (!this.#active) return;
    this.#active = false;
    this.#lineGeneration++;
    try {
      this.#device.reset();
    } catch {
      // A device that cannot even be reset: the status says it needs one, and Status 0 tries again.
    }
  }

  /** FEATURES_OK: kept only for an acceptable set of features, which the device is then told. */
  #negotiate(): void {
    const accepted = this.#driverFeatures;
    const offered = this.#device.availableFeatures;
    if (this.#driverFeaturesBeyond || (accepted & ~offered) !== 0n || (accepted & VERSION_1) === 0n) return;
    this.#device.ackFeatures(accepted);
    this.#status |= FEATURES_OK;
  }

  #activate(): void {
    if (this.#active) return;
    for (const queue of this.#queues) {
      if (queue.ready && !queue.isValid(this.#memory)) {
        this.#needsReset();
        return;
      }
    }
    try {
      this.#device.activate({ memory: this.#memory, queues: this.#queues, interrupt: this.#newInterruptLine() });
    } catch {
      this.#needsReset();
      return;
    }
    this.#active = true;
    const early = [...this.#earlyNotified];
    this.#earlyNotified.clear();
    for (const index of early) this.notify(index);
  }

  /** An interrupt line for one activation; once the device is reset, it does nothing. */
  #newInterruptLine(): InterruptLine {
    const generation = ++this.#lineGeneration;
    return {
      raise: (kind: InterruptKind) => {
        if (generation !== this.#lineGeneration) return;
        if (kind === 'config') this.#configGeneration = ((this.#configGeneration + 1) & this.#hooks.configGenerationMask) >>> 0;
        this.#hooks.raise(kind);
      },
      needsReset: () => {
        if (generation === this.#lineGeneration) this.#needsReset();
      },
    };
  }

  /**
   * DEVICE_NEEDS_RESET, with a configuration interrupt if the driver is live (virtio 1.2, 2.1.2);
   * notifications are ignored from now until the driver resets the device. ConfigGeneration does
   * not move: the configuration did not change.
   */
  #needsReset(): void {
    if ((this.#status & NEEDS_RESET) !== 0) return;
    this.#status |= NEEDS_RESET;
    if ((this.#status & DRIVER_OK) !== 0) this.#hooks.raise('config');
  }

  /** Status 0. ConfigGeneration is kept: a value a driver compares must only grow. */
  #reset(): void {
    if (this.#status === 0) return;
    this.#status = 0;
    this.#hooks.clearInterrupts();
    this.deviceFeaturesSelect = 0;
    this.driverFeaturesSelect = 0;
    this.#driverFeatures = 0n;
    this.#driverFeaturesBeyond = false;
    this.queueSelect = 0;
    this.#active = false;
    this.#earlyNotified.clear();
    this.#lineGeneration++;
    try {
      this.#device.reset();
      this.#queues = this.#device.queueMaxSizes.map((max) => new Queue(max));
    } catch {
      this.#status = FAILED;
    }
  }
}

/** `address` with its low or high 32 bits replaced by `value`. */
export function setHalf(address: bigint, high: boolean, value: number): bigint {
  return high ? (address & U32_MASK) | (BigInt(value) << 32n) : (address & ~U32_MASK) | BigInt(value);
}
