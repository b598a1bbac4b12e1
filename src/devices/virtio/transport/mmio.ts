/**
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2; Firecracker's `transport/mmio.rs`):
 * the register block a guest driver reads and writes, in front of a transport-neutral
 * `VirtioDevice`. The transport owns the status handshake, feature negotiation, queue set-up and
 * the interrupt status — the first three through `DeviceState`, which the PCI transport shares;
 * the device sees only `ackFeatures`, its configuration space, `activate` with ready `Queue`s,
 * `notifyQueue` and `reset`.
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
import type { InterruptKind, VirtioDevice } from '../device.js';
import type { Queue } from '../queue.js';
import { DeviceState, setHalf } from './device-state.js';
import {
  INTERRUPT_STATUS,
  MMIO_MAGIC_VALUE,
  MMIO_REGISTER as REG,
  MMIO_VENDOR_ID,
  MMIO_VERSION,
  MMIO_WINDOW_SIZE,
} from './registers.js';

export interface MmioTransportOptions {
  /**
   * Called when InterruptStatus gains a bit: the host raises the device's interrupt line. The
   * guest's handler reads InterruptStatus and writes InterruptACK.
   */
  readonly onInterrupt?: () => void;
}

export class MmioTransport {
  readonly #device: VirtioDevice;
  readonly #state: DeviceState;
  readonly #onInterrupt: (() => void) | undefined;

  #interruptStatus = 0;
  /** How deep the transport is in guest accesses (an interrupt handler may access again). */
  #depth = 0;
  #interruptPending = false;

  /**
   * Puts `device` behind the register block, with the guest memory its queues live in. Throws a
   * RangeError if the device declares a queue size that is not a power of 2 up to 32768.
   */
  constructor(device: VirtioDevice, memory: GuestMemory, options: MmioTransportOptions = {}) {
    this.#device = device;
    this.#onInterrupt = options.onInterrupt;
    this.#state = new DeviceState(device, memory, {
      raise: (kind: InterruptKind) => {
        this.#raise(kind === 'config' ? INTERRUPT_STATUS.configChange : INTERRUPT_STATUS.usedBuffer);
      },
      clearInterrupts: () => {
        this.#interruptStatus = 0;
        this.#interruptPending = false;
      },
      configGenerationMask: 0xffff_ffff,
    });
  }

  /** The device status register, as the driver reads it. */
  get status(): number {
    return this.#state.status;
  }

  /** The InterruptStatus register: bits raised and not yet acknowledged. */
  get interruptStatus(): number {
    return this.#interruptStatus;
  }

  /** The ConfigGeneration register. */
  get configGeneration(): number {
    return this.#state.configGeneration;
  }

  /** The queues as the driver has set them up (replaced by new ones on each reset). */
  get queues(): readonly Queue[] {
    return this.#state.queues;
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
      this.#state.deviceFailed();
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
          if (this.#state.configWritable && offset + data.length <= MMIO_WINDOW_SIZE) this.#device.writeConfig(offset - REG.config, data);
        } else if (data.length === 4) {
          this.#writeRegister(offset, ((data[0] ?? 0) | ((data[1] ?? 0) << 8) | ((data[2] ?? 0) << 16) | ((data[3] ?? 0) << 24)) >>> 0);
        }
      }
    } catch {
      this.#state.deviceFailed();
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
    const state = this.#state;
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
        return state.deviceFeatureWord;
      case REG.queueNumMax:
        return state.selectedQueue?.maxSize ?? 0;
      case REG.queueReady:
        return state.selectedQueue?.ready === true ? 1 : 0;
      case REG.interruptStatus:
        return this.#interruptStatus;
      case REG.status:
        return state.status;
      case REG.configGeneration:
        return state.configGeneration;
      default:
        // Write-only and unknown registers read as zeros.
        return 0;
    }
  }

  #writeRegister(offset: number, value: number): void {
    const state = this.#state;
    switch (offset) {
      case REG.deviceFeaturesSel:
        state.deviceFeaturesSelect = value;
        return;
      case REG.driverFeaturesSel:
        state.driverFeaturesSelect = value;
        return;
      case REG.driverFeatures:
        state.acceptFeatureWord(value);
        return;
      case REG.queueSel:
        state.queueSelect = value;
        return;
      case REG.queueNum:
        state.updateQueue((queue) => (queue.size = value));
        return;
      case REG.queueReady:
        state.updateQueue((queue) => (queue.ready = value === 1));
        return;
      case REG.queueDescLow:
      case REG.queueDescHigh:
        state.updateQueue((queue) => (queue.descTable = setHalf(queue.descTable, offset === REG.queueDescHigh, value)));
        return;
      case REG.queueDriverLow:
      case REG.queueDriverHigh:
        state.updateQueue((queue) => (queue.availRing = setHalf(queue.availRing, offset === REG.queueDriverHigh, value)));
        return;
      case REG.queueDeviceLow:
      case REG.queueDeviceHigh:
        state.updateQueue((queue) => (queue.usedRing = setHalf(queue.usedRing, offset === REG.queueDeviceHigh, value)));
        return;
      case REG.queueNotify:
        state.notify(value);
        return;
      case REG.interruptAck:
        this.#interruptStatus &= ~value;
        return;
      case REG.status:
        state.setStatus(value);
        return;
      default:
        // Read-only and unknown registers ignore writes.
        return;
    }
  }

  /** A bit already set and not acknowledged is not delivered again: the guest has yet to see it. */
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
