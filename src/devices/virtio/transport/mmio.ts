/**
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2; Firecracker's `transport/mmio.rs`):
 * the register block a guest driver reads and writes, in front of a transport-neutral
 * `VirtioDevice`. The transport owns the status handshake, feature negotiation, queue set-up and
 * the interrupt status; the device sees only `ackFeatures`, its configuration space, `activate`
 * with ready `Queue`s, `notifyQueue` and `reset`.
 *
 * The guest is untrusted, so `read()` and `write()` never throw, whatever the offset, width or
 * value: an access of the wrong width to a register is ignored (a read returns zeros), an unknown
 * register reads as zeros, a write in the wrong state is ignored. An error thrown by the device
 * (which must not happen) is treated like the device asking for a reset.
 *
 * Decisions that are not obvious:
 * - **QueueNotify is synchronous**: the device has processed the queue when `write()` returns,
 *   as a VM exit handler that runs the device on the vCPU thread would.
 * - **Interrupts are delivered after the access that caused them**: `onInterrupt()` is called
 *   when InterruptStatus gains a bit, but a bit gained while the transport is inside the device
 *   (processing a notification, activating, …) is delivered just before the outermost `read()` or
 *   `write()` returns — as a real vCPU takes an interrupt only once the MMIO exit completes. A
 *   driver's interrupt handler may therefore write QueueNotify again without re-entering a device
 *   that is still processing. A bit raised outside any access (a timer, a host API) is delivered at
 *   once. An error thrown by `onInterrupt` is the host's bug: it is rethrown from a microtask
 *   (an uncaught exception, as `EventTarget` reports a listener's error), never out of the guest's
 *   access.
 * - **Refused features**: FEATURES_OK is not kept when the driver accepted a bit the device does
 *   not offer (a nonzero word past the 64 bits counts, until the next reset), or did not accept
 *   VIRTIO_F_VERSION_1 (a version-2 transport has no legacy mode) — virtio 1.2, 2.2.2; Firecracker
 *   instead drops the bits it did not offer. DeviceFeatures shows exactly what the device offers;
 *   a device that does not offer VERSION_1 cannot complete the handshake.
 * - **Activation** at DRIVER_OK: a queue the driver made ready but set up wrongly (size, alignment,
 *   rings outside memory: `Queue.isValid`) or a device whose `activate` throws leaves the device
 *   inactive with DEVICE_NEEDS_RESET set and a configuration interrupt raised (virtio 1.2, 2.1.2);
 *   the transport counts nothing — a device counts its own `activate_fails`.
 * - **DEVICE_NEEDS_RESET** (asked for by the device through `InterruptLine.needsReset()`, or set
 *   after a device error): QueueNotify is ignored until the driver writes 0 to Status. Firecracker
 *   panics the VMM on a corrupted available ring; here only the device stops.
 * - **Reset** (Status written 0): selectors, interrupt status and driver features are cleared,
 *   the queues replaced by new ones (a device holding the old ones cannot see the next set-up), the
 *   interrupt line of the last activation disconnected, and `device.reset()` called; if that
 *   throws, Status reads FAILED, as in Firecracker. Each handshake (Status 0 → ACKNOWLEDGE) reads
 *   the device's `queueMaxSizes` again: a balloon's queue count follows its settings.
 *   ConfigGeneration is never reset: it only grows, as a value a driver compares must.
 * - **ConfigGeneration** grows on each `raise('config')` from the device, the signal that its
 *   configuration space changed; the interrupt that accompanies DEVICE_NEEDS_RESET does not change
 *   the configuration and does not move it.
 * - Status transitions follow the driver initialization sequence (virtio 1.2, 3.1.1) exactly, as
 *   Firecracker's do: ACKNOWLEDGE, then DRIVER, then FEATURES_OK, then DRIVER_OK, each write adding
 *   one bit; FAILED may be added at any time; anything else is ignored.
 */
import type { GuestMemory } from '../../../vstate/memory.js';
import { VIRTIO_F_VERSION_1, type InterruptKind, type InterruptLine, type VirtioDevice } from '../device.js';
import { Queue } from '../queue.js';
import {
  DEVICE_STATUS,
  INTERRUPT_STATUS,
  MMIO_MAGIC_VALUE,
  MMIO_REGISTER as REG,
  MMIO_VENDOR_ID,
  MMIO_VERSION,
  MMIO_WINDOW_SIZE,
} from './registers.js';

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

export interface MmioTransportOptions {
  /**
   * Called when InterruptStatus gains a bit: the host raises the device's interrupt line. The
   * guest's handler reads InterruptStatus and writes InterruptACK.
   */
  readonly onInterrupt?: () => void;
}

export class MmioTransport {
  readonly #device: VirtioDevice;
  readonly #memory: GuestMemory;
  readonly #onInterrupt: (() => void) | undefined;

  #status = 0;
  #interruptStatus = 0;
  #configGeneration = 0;
  #deviceFeaturesSel = 0;
  #driverFeaturesSel = 0;
  #driverFeatures = 0n;
  /**
   * The driver wrote a nonzero word above the 64 feature bits, where nothing is offered: FEATURES_OK
   * is refused until the device is reset (one flag, not a word per selector a guest could choose).
   */
  #driverFeaturesBeyond = false;
  #queueSel = 0;
  #queues: Queue[];
  /** Whether the device was activated and not reset since. */
  #active = false;
  /**
   * Queues notified after FEATURES_OK but before DRIVER_OK. The specification says a driver
   * must not, but Linux's virtio_balloon kicks its statistics queue during probe, before
   * `virtio_device_ready()`; Firecracker's eventfd holds such a kick until the device is
   * activated, and so does this: the queues are processed right after activation.
   */
  readonly #earlyNotified = new Set<number>();
  /** Identifies the interrupt line of the current activation; a reset disconnects older lines. */
  #lineGeneration = 0;
  /** How deep the transport is in guest accesses (an interrupt handler may access again). */
  #depth = 0;
  #interruptPending = false;

  /**
   * Puts `device` behind the register block, with the guest memory its queues live in. Throws a
   * RangeError if the device declares a queue size that is not a power of 2 up to 32768.
   */
  constructor(device: VirtioDevice, memory: GuestMemory, options: MmioTransportOptions = {}) {
    this.#device = device;
    this.#memory = memory;
    this.#onInterrupt = options.onInterrupt;
    this.#queues = device.queueMaxSizes.map((max) => new Queue(max));
  }

  /** The device status register, as the driver reads it. */
  get status(): number {
    return this.#status;
  }

  /** The InterruptStatus register: bits raised and not yet acknowledged. */
  get interruptStatus(): number {
    return this.#interruptStatus;
  }

  /** The ConfigGeneration register. */
  get configGeneration(): number {
    return this.#configGeneration;
  }

  /** The queues as the driver has set them up (replaced by new ones on each reset). */
  get queues(): readonly Queue[] {
    return this.#queues;
  }

  /** The guest reads `data.length` bytes at `offset` of the device's window; `data` is filled. */
  read(offset: number, data: Uint8Array): void {
    // Each access is counted in `#depth`, lets nothing escape (an error from the device is taken
    // as the device needing a reset) and ends in `#leave()`. Written out here and in `write()`
    // rather than passed as a callback: a driver makes several accesses per request.
    this.#depth++;
    try {
      data.fill(0);
      if (Number.isSafeInteger(offset) && offset >= 0) {
        if (offset >= REG.config) {
          if (offset + data.length <= MMIO_WINDOW_SIZE) this.#device.readConfig(offset - REG.config, data);
        } else if (data.length === 4) {
          const value = this.#readRegister(offset);
          for (let i = 0; i < 4; i++) data[i] = (value >>> (8 * i)) & 0xff;
        }
      }
    } catch {
      this.#deviceFailed();
      // Whatever a failing device left half-written, the guest reads zeros.
      data.fill(0);
    } finally {
      this.#depth--;
    }
    this.#leave();
  }

  /** The guest writes `data` at `offset` of the device's window. */
  write(offset: number, data: Uint8Array): void {
    this.#depth++;
    try {
      if (Number.isSafeInteger(offset) && offset >= 0) {
        if (offset >= REG.config) {
          // Firecracker's rule: the configuration is the driver's once it has claimed the device.
          const writable = (this.#status & DRIVER) !== 0 && (this.#status & (FAILED | NEEDS_RESET)) === 0;
          if (writable && offset + data.length <= MMIO_WINDOW_SIZE) this.#device.writeConfig(offset - REG.config, data);
        } else if (data.length === 4) {
          this.#writeRegister(offset, ((data[0] ?? 0) | ((data[1] ?? 0) << 8) | ((data[2] ?? 0) << 16) | ((data[3] ?? 0) << 24)) >>> 0);
        }
      }
    } catch {
      this.#deviceFailed();
    } finally {
      this.#depth--;
    }
    this.#leave();
  }

  /** The end of a guest access: interrupts raised during it are delivered once the outermost one ends. */
  #leave(): void {
    if (this.#depth === 0) this.#deliverInterrupt();
  }

  #readRegister(offset: number): number {
    switch (offset) {
      case REG.magicValue:
        return MMIO_MAGIC_VALUE;
      case REG.version:
        return MMIO_VERSION;
      case REG.deviceId:
        return this.#device.deviceType >>> 0;
      case REG.vendorId:
        return MMIO_VENDOR_ID;
      case REG.deviceFeatures:
        if (this.#deviceFeaturesSel > 1) return 0;
        return Number((this.#device.availableFeatures >> BigInt(32 * this.#deviceFeaturesSel)) & U32_MASK);
      case REG.queueNumMax:
        return this.#selectedQueue()?.maxSize ?? 0;
      case REG.queueReady:
        return this.#selectedQueue()?.ready === true ? 1 : 0;
      case REG.interruptStatus:
        return this.#interruptStatus;
      case REG.status:
        return this.#status;
      case REG.configGeneration:
        return this.#configGeneration;
      default:
        // Write-only and unknown registers read as zeros.
        return 0;
    }
  }

  #writeRegister(offset: number, value: number): void {
    switch (offset) {
      case REG.deviceFeaturesSel:
        this.#deviceFeaturesSel = value;
        return;
      case REG.driverFeaturesSel:
        this.#driverFeaturesSel = value;
        return;
      case REG.driverFeatures:
        this.#acceptFeatureWord(value);
        return;
      case REG.queueSel:
        this.#queueSel = value;
        return;
      case REG.queueNum:
        this.#updateQueue((queue) => (queue.size = value));
        return;
      case REG.queueReady:
        this.#updateQueue((queue) => (queue.ready = value === 1));
        return;
      case REG.queueDescLow:
      case REG.queueDescHigh:
        this.#updateQueue((queue) => (queue.descTable = setHalf(queue.descTable, offset === REG.queueDescHigh, value)));
        return;
      case REG.queueDriverLow:
      case REG.queueDriverHigh:
        this.#updateQueue((queue) => (queue.availRing = setHalf(queue.availRing, offset === REG.queueDriverHigh, value)));
        return;
      case REG.queueDeviceLow:
      case REG.queueDeviceHigh:
        this.#updateQueue((queue) => (queue.usedRing = setHalf(queue.usedRing, offset === REG.queueDeviceHigh, value)));
        return;
      case REG.queueNotify:
        this.#notify(value);
        return;
      case REG.interruptAck:
        this.#interruptStatus &= ~value;
        return;
      case REG.status:
        this.#setStatus(value);
        return;
      default:
        // Read-only and unknown registers ignore writes.
        return;
    }
  }

  #selectedQueue(): Queue | undefined {
    return this.#queues[this.#queueSel];
  }

  /** Applies a queue register write: only between FEATURES_OK and DRIVER_OK, as Firecracker. */
  #updateQueue(update: (queue: Queue) => void): void {
    if ((this.#status & (FEATURES_OK | DRIVER_OK | FAILED | NEEDS_RESET)) !== FEATURES_OK) return;
    const queue = this.#selectedQueue();
    if (queue !== undefined) update(queue);
  }

  /** DriverFeatures: only while negotiating (DRIVER set, FEATURES_OK not yet). */
  #acceptFeatureWord(value: number): void {
    if ((this.#status & (DRIVER | FEATURES_OK | FAILED | NEEDS_RESET)) !== DRIVER) return;
    if (this.#driverFeaturesSel > 1) {
      if (value !== 0) this.#driverFeaturesBeyond = true;
      return;
    }
    const shift = BigInt(32 * this.#driverFeaturesSel);
    this.#driverFeatures = (this.#driverFeatures & ~(U32_MASK << shift)) | (BigInt(value) << shift);
  }

  #setStatus(value: number): void {
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
    for (const index of early) this.#notify(index);
  }

  /** An interrupt line for one activation; once the device is reset, it does nothing. */
  #newInterruptLine(): InterruptLine {
    const generation = ++this.#lineGeneration;
    return {
      raise: (kind: InterruptKind) => {
        if (generation !== this.#lineGeneration) return;
        if (kind === 'config') this.#configGeneration = (this.#configGeneration + 1) >>> 0;
        this.#raise(kind === 'config' ? INTERRUPT_STATUS.configChange : INTERRUPT_STATUS.usedBuffer);
      },
      needsReset: () => {
        if (generation === this.#lineGeneration) this.#needsReset();
      },
    };
  }

  #notify(index: number): void {
    if (!this.#active && (this.#status & (FEATURES_OK | DRIVER_OK | FAILED | NEEDS_RESET)) === FEATURES_OK) {
      if (Number.isInteger(index) && index >= 0 && index < this.#queues.length) this.#earlyNotified.add(index);
      return;
    }
    if (!this.#active || (this.#status & (DRIVER_OK | FAILED | NEEDS_RESET)) !== DRIVER_OK) return;
    if (this.#queues[index]?.ready !== true) return;
    this.#device.notifyQueue(index);
  }

  /**
   * DEVICE_NEEDS_RESET, with a configuration interrupt if the driver is live (virtio 1.2, 2.1.2);
   * notifications are ignored from now until the driver resets the device.
   */
  #needsReset(): void {
    if ((this.#status & NEEDS_RESET) !== 0) return;
    this.#status |= NEEDS_RESET;
    if ((this.#status & DRIVER_OK) !== 0) this.#raise(INTERRUPT_STATUS.configChange);
  }

  /**
   * The device threw (it must not): as if it asked for a reset, and it is stopped — its
   * interrupt line cut and `reset()` called — so that its timers do not go on using the queues
   * of a device the driver sees as broken. Never throws itself.
   */
  #deviceFailed(): void {
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

  #reset(): void {
    if (this.#status === 0) return;
    this.#status = 0;
    this.#interruptStatus = 0;
    this.#interruptPending = false;
    this.#deviceFeaturesSel = 0;
    this.#driverFeaturesSel = 0;
    this.#driverFeatures = 0n;
    this.#driverFeaturesBeyond = false;
    this.#queueSel = 0;
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

  #raise(bit: number): void {
    if ((this.#interruptStatus & bit) === bit) return;
    this.#interruptStatus |= bit;
    this.#interruptPending = true;
    if (this.#depth === 0) this.#deliverInterrupt();
  }

  #deliverInterrupt(): void {
    if (!this.#interruptPending) return;
    this.#interruptPending = false;
    if (this.#onInterrupt === undefined) return;
    try {
      this.#onInterrupt();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** `address` with its low or high 32 bits replaced by `value`. */
function setHalf(address: bigint, high: boolean, value: number): bigint {
  return high ? (address & U32_MASK) | (BigInt(value) << 32n) : (address & ~U32_MASK) | BigInt(value);
}
