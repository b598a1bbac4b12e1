/**
 * The transports' common configuration: the device side of the virtio handshake, which the MMIO
 * and the PCI transport share (virtio 1.2, 2.1, 2.2, 3.1.1 and the queue fields of 4.1.4.3 and
 * 4.2.2 are the same for both). Firecracker calls this state `VirtioPciCommonConfig` (in
 * `transport/pci/common_config.rs`) and keeps a second copy of it in `transport/mmio.rs`; its
 * `DeviceState` is something else, a device's inactive/activated state (`VirtioDevice.activated`
 * here). It holds the device status, feature negotiation, the queues and their set-up,
 * activation, reset and DEVICE_NEEDS_RESET. A transport maps each of its registers onto one
 * member here and keeps what is its own: the register layout, access widths, and how an
 * interrupt reaches the host (`CommonConfigHooks`).
 *
 * No method throws on the guest's behalf except where the device itself throws (from
 * `ackFeatures`, `notifyQueue`, `readConfig`, …): the transport catches that around the whole
 * access and calls `deviceFailed()`, so that whatever the access had done stays done.
 *
 * The handshake's rules, for both transports:
 * - **Status** follows the driver initialization sequence (3.1.1) exactly, as Firecracker's does:
 *   ACKNOWLEDGE, then DRIVER, then FEATURES_OK, then DRIVER_OK, each write adding one bit; FAILED
 *   may be added at any time and stays until a reset; anything else is ignored.
 * - **Refused features**: FEATURES_OK is not kept when the driver accepted a bit the device does
 *   not offer (a nonzero word past the 64 bits counts, until the next reset), or did not accept
 *   VIRTIO_F_VERSION_1 (neither transport has a legacy mode) — 2.2.2; Firecracker instead drops
 *   the bits it did not offer. The offered words show exactly what the device offers; a device
 *   that does not offer VERSION_1 cannot complete the handshake.
 * - **Queue registers** take writes only between FEATURES_OK and DRIVER_OK, as Firecracker's do,
 *   and only for a queue that exists; a selector past the last queue reads zeros.
 * - **Notifications are served synchronously**: the device has processed the queue when the
 *   guest's access returns, as a VM exit handler that runs the device on the vCPU thread would —
 *   as far as the device's budget for a turn of the event loop goes (a balloon's discards: the
 *   rest on later turns, interrupts raised then, outside any access). Those made after FEATURES_OK and before DRIVER_OK are held and served right after activation:
 *   Linux's virtio_balloon kicks its statistics queue during probe, and Firecracker's eventfd
 *   holds such a kick the same way.
 * - **Activation** at DRIVER_OK: a queue the driver made ready but set up wrongly (size,
 *   alignment, rings outside memory: `Queue.isValid`) or a device whose `activate` throws leaves
 *   the device inactive with DEVICE_NEEDS_RESET set and a configuration interrupt raised (2.1.2);
 *   nothing is counted here — a device counts its own `activate_fails`.
 * - **DEVICE_NEEDS_RESET** (asked for by the device through `InterruptLine.needsReset()`, or set
 *   after a device error): notifications are ignored until the driver writes 0 to the status.
 *   Firecracker panics the VMM on a corrupted available ring; here only the device stops.
 * - **Reset** (status written 0): selectors, interrupts and driver features are cleared, the
 *   queues replaced by new ones (a device holding the old ones cannot see the next set-up), the
 *   interrupt line of the last activation disconnected, and `device.reset()` called; if that
 *   throws, the status reads FAILED, as in Firecracker. Each handshake (status 0 → ACKNOWLEDGE)
 *   and each reset reads the device's `queueMaxSizes` again: a balloon's queue count follows its
 *   settings.
 * - **ConfigGeneration** grows on each `raise('config')` from the device, the signal that its
 *   configuration space changed, and wraps at the transport's width; the interrupt that
 *   accompanies DEVICE_NEEDS_RESET does not change the configuration and does not move it. A
 *   reset keeps it: a value a driver compares must only grow.
 *
 * When an interrupt reaches the host: `CommonConfigHooks.raise` is called at once, in the middle
 * of whatever raised it — the device's `notifyQueue` or `activate` inside a guest access, a timer
 * or host API outside one — and the transports then differ, on purpose:
 * - **MMIO holds it until the outermost guest access ends** (a raise outside any access is
 *   delivered at once), and calls `onInterrupt` once per access whatever number of raises it
 *   held. `onInterrupt` is a call into the guest: a simulated guest's interrupt handler may run
 *   inside it and write QueueNotify again, which must not re-enter a device still processing. A
 *   real vCPU likewise takes the interrupt only once the MMIO exit completes.
 * - **PCI drives its INTx line at once, in the middle of the access**: `onInterruptLevel(true)`
 *   is called from inside the device's processing, once for each raise (an access that raises
 *   twice asserts twice, where MMIO delivers once). A level is state the host latches, not a
 *   call into the guest: v86, the one binding, sets the request in its interrupt controller (and
 *   may point the vCPU at the handler there and then), and no guest instruction runs until the
 *   port access returns — so the guest sees the interrupt after the access that caused it, as
 *   with MMIO, and holding it in the transport as well would add nothing. A host whose
 *   `onInterruptLevel` called `readBar` or `writeBar` itself would re-enter a device mid-access:
 *   it is to latch the level, and act on it once the access has returned.
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
const U32_MASK = 0xffff_ffffn;

/** A queue's three guest addresses, as `Queue` names them (QueueDesc, QueueDriver, QueueDevice). */
export type QueueArea = 'descTable' | 'availRing' | 'usedRing';

/** Which 32 bits of a 64-bit address a register holds. */
export type AddressHalf = 'low' | 'high';

/** What differs between transports in how the device reaches the guest. */
export interface CommonConfigHooks {
  /**
   * The device raised an interrupt, or DEVICE_NEEDS_RESET was set while the driver is live
   * ('config', virtio 1.2, 2.1.2). ConfigGeneration has already moved if it should. Called at
   * once, mid-access if the access raised it: the transport decides when the host hears of it.
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

/** One device's common configuration, behind the one transport that owns it. */
export class CommonConfig {
  readonly #device: VirtioDevice;
  readonly #memory: GuestMemoryAccess;
  readonly #hooks: CommonConfigHooks;

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
  /** The queue the queue registers refer to (QueueSel, queue_select). */
  queueSelect = 0;
  #queues: Queue[];
  /** Whether the device was activated and not reset since. */
  #active = false;
  /** Queues notified after FEATURES_OK but before DRIVER_OK, served once the device is active. */
  readonly #earlyNotified = new Set<number>();
  /** Identifies the interrupt line of the current activation; a reset disconnects older lines. */
  #lineGeneration = 0;

  /** Throws a RangeError if the device declares a queue size that is not a power of 2 up to 32768. */
  constructor(device: VirtioDevice, memory: GuestMemoryAccess, hooks: CommonConfigHooks) {
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

  /** The selected queue's largest size (MMIO's QueueNumMax); 0 if there is no such queue. */
  get queueMaxSize(): number {
    return this.#selectedQueue?.maxSize ?? 0;
  }

  /** The selected queue's size, its largest until the driver chooses (PCI's queue_size); 0 if there is no such queue. */
  get queueSize(): number {
    return this.#selectedQueue?.size ?? 0;
  }

  /** Whether the driver made the selected queue ready (QueueReady, queue_enable). */
  get queueReady(): boolean {
    return this.#selectedQueue?.ready === true;
  }

  /** Half of one of the selected queue's addresses (0 if there is no such queue). */
  queueAddress(area: QueueArea, half: AddressHalf): number {
    const address = this.#selectedQueue?.[area] ?? 0n;
    return Number((half === 'high' ? address >> 32n : address) & U32_MASK);
  }

  /** QueueNum, queue_size: ignored outside queue set-up, as every queue write. */
  setQueueSize(size: number): void {
    const queue = this.#settableQueue();
    if (queue !== undefined) queue.size = size;
  }

  /** QueueReady, queue_enable (what a transport accepts as ready is its own). */
  setQueueReady(ready: boolean): void {
    const queue = this.#settableQueue();
    if (queue !== undefined) queue.ready = ready;
  }

  /** QueueDesc, QueueDriver, QueueDevice, 32 bits at a time: the other half is kept. */
  setQueueAddress(area: QueueArea, half: AddressHalf, value: number): void {
    const queue = this.#settableQueue();
    if (queue === undefined) return;
    const address = queue[area];
    queue[area] = half === 'high' ? (address & U32_MASK) | (BigInt(value) << 32n) : (address & ~U32_MASK) | BigInt(value);
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

  get #selectedQueue(): Queue | undefined {
    return this.#queues[this.queueSelect];
  }

  /** The selected queue, if the driver may set it up now: between FEATURES_OK and DRIVER_OK, as Firecracker. */
  #settableQueue(): Queue | undefined {
    if ((this.#status & (FEATURES_OK | DRIVER_OK | FAILED | NEEDS_RESET)) !== FEATURES_OK) return undefined;
    return this.#selectedQueue;
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
