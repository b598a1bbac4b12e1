/**
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2; Firecracker's `transport/mmio.rs`):
 * the register block a guest driver reads and writes, in front of a transport-neutral
 * `VirtioDevice`. The transport owns the status handshake, feature negotiation, queue set-up and
 * the interrupt status — the first three through the `CommonConfig` it shares with the PCI
 * transport, whose module doc (`common-config.ts`) gives the handshake's rules; the device sees
 * only `ackFeatures`, its configuration space, `activate` with ready `Queue`s, `notifyQueue` and
 * `reset`.
 *
 * The guest is untrusted, so `read()` and `write()` never throw, whatever the offset, width or
 * value: an access of the wrong width to a register is ignored (a read returns zeros), an unknown
 * register reads as zeros, a write in the wrong state is ignored. An error thrown by the device
 * (which must not happen) is treated like the device asking for a reset.
 *
 * What MMIO adds:
 * - **Interrupts are delivered after the access that caused them**: `onInterrupt()` is called
 *   when InterruptStatus gains a bit, but a bit gained while the transport is inside the device
 *   (processing a notification, activating, …) is delivered just before the outermost `read()` or
 *   `write()` returns, so that a driver's interrupt handler may write QueueNotify again without
 *   re-entering a device that is still processing (why PCI need not wait: `common-config.ts`). A
 *   bit raised outside any access (a timer, a host API) is delivered at once. An error thrown by
 *   `onInterrupt` is the host's bug: it is rethrown from a microtask (an uncaught exception, as
 *   `EventTarget` reports a listener's error), never out of the guest's access.
 * - **ConfigGeneration** is a 32-bit register and wraps there.
 */
import type { GuestMemory } from '../../../vstate/memory.js';
import type { InterruptKind, VirtioDevice } from '../device.js';
import type { Queue } from '../queue.js';
import { CommonConfig } from './common-config.js';
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
  readonly #common: CommonConfig;
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
    this.#common = new CommonConfig(device, memory, {
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
    return this.#common.status;
  }

  /** The InterruptStatus register: bits raised and not yet acknowledged. */
  get interruptStatus(): number {
    return this.#interruptStatus;
  }

  /** The ConfigGeneration register. */
  get configGeneration(): number {
    return this.#common.configGeneration;
  }

  /** The queues as the driver has set them up (replaced by new ones on each reset). */
  get queues(): readonly Queue[] {
    return this.#common.queues;
  }

  /**
   * The machine was reset (the VMM reboots the guest): the device is reset as if its driver had
   * written 0 to Status — the device stops, its timers with it, and writes nothing more into the
   * memory of a guest that boots again.
   */
  reset(): void {
    this.#common.setStatus(0);
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
      this.#common.deviceFailed();
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
          if (this.#common.configWritable && offset + data.length <= MMIO_WINDOW_SIZE) this.#device.writeConfig(offset - REG.config, data);
        } else if (data.length === 4) {
          this.#writeRegister(offset, ((data[0] ?? 0) | ((data[1] ?? 0) << 8) | ((data[2] ?? 0) << 16) | ((data[3] ?? 0) << 24)) >>> 0);
        }
      }
    } catch {
      this.#common.deviceFailed();
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
    const common = this.#common;
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
        return common.deviceFeatureWord;
      case REG.queueNumMax:
        return common.queueMaxSize;
      case REG.queueReady:
        return common.queueReady ? 1 : 0;
      case REG.interruptStatus:
        return this.#interruptStatus;
      case REG.status:
        return common.status;
      case REG.configGeneration:
        return common.configGeneration;
      default:
        // Write-only and unknown registers read as zeros.
        return 0;
    }
  }

  #writeRegister(offset: number, value: number): void {
    const common = this.#common;
    switch (offset) {
      case REG.deviceFeaturesSel:
        common.deviceFeaturesSelect = value;
        return;
      case REG.driverFeaturesSel:
        common.driverFeaturesSelect = value;
        return;
      case REG.driverFeatures:
        common.acceptFeatureWord(value);
        return;
      case REG.queueSel:
        common.queueSelect = value;
        return;
      case REG.queueNum:
        common.setQueueSize(value);
        return;
      case REG.queueReady:
        common.setQueueReady(value === 1);
        return;
      case REG.queueDescLow:
        common.setQueueAddress('descTable', 'low', value);
        return;
      case REG.queueDescHigh:
        common.setQueueAddress('descTable', 'high', value);
        return;
      case REG.queueDriverLow:
        common.setQueueAddress('availRing', 'low', value);
        return;
      case REG.queueDriverHigh:
        common.setQueueAddress('availRing', 'high', value);
        return;
      case REG.queueDeviceLow:
        common.setQueueAddress('usedRing', 'low', value);
        return;
      case REG.queueDeviceHigh:
        common.setQueueAddress('usedRing', 'high', value);
        return;
      case REG.queueNotify:
        common.notify(value);
        return;
      case REG.interruptAck:
        this.#interruptStatus &= ~value;
        return;
      case REG.status:
        common.setStatus(value);
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
