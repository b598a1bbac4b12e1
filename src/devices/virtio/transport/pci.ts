/**
 * The virtio-pci transport, modern (virtio 1.2, 4.1): a PCI function in front of a
 * transport-neutral `VirtioDevice`, apart from any PCI bus. It gives the function's configuration
 * header with its capabilities (`configSpace()`), serves the guest's accesses to its one I/O BAR
 * (`readBar`, `writeBar`) and drives the INTx line (`onInterruptLevel`); an emulator's binding
 * (`vmm-metrics/v86`) puts those on its bus.
 *
 * The handshake, feature negotiation, queue set-up, activation and reset are the virtio-mmio
 * transport's too: both take them from their `CommonConfig`, whose module doc
 * (`common-config.ts`) gives the rules.
 *
 * What PCI changes:
 * - **The common configuration** (4.1.4.3) replaces the MMIO registers: 8-, 16- and 32-bit
 *   fields, each accessed at its own width; an access of another width, or to no field, reads
 *   zeros and writes nothing. `queue_size` reads the largest size until the driver writes a
 *   smaller one, and 0 for a queue that does not exist; `queue_enable` takes 1 only.
 * - **Interrupts are INTx, level-triggered**: the ISR (4.1.4.5) gains bit 0 for a used buffer and
 *   bit 1 for a configuration change, and the line is asserted (`onInterruptLevel(true)`) on each
 *   raise — again when already asserted, as a line shared with another function may have been
 *   lowered by it — at once, in the middle of the access that raised it, where MMIO waits for the
 *   access to end (why that is safe, and the host's part: `common-config.ts`). Reading the ISR
 *   returns its bits, clears them and deasserts the line. A reset clears the ISR and deasserts.
 *   There is no MSI-X: its vector fields read NO_VECTOR (0xffff).
 * - **Notifications**: one 16-bit register for every queue (multiplier 0), written with the
 *   queue's index.
 * - **config_generation** is 8 bits and wraps.
 * - The PCI configuration access capability (VIRTIO_PCI_CAP_PCI_CFG, 4.1.4.9) is not offered: an
 *   emulator's bus gives the transport no hook on configuration-space accesses (v86's does not),
 *   and a capability that does nothing would be a lie. Linux does not use it.
 *
 * The guest is untrusted: `readBar` and `writeBar` never throw, whatever the offset, width or
 * value. An error thrown by `onInterruptLevel` is the host's bug: it is rethrown from a microtask,
 * never out of the guest's access.
 */
import type { GuestMemoryAccess } from '../../../vstate/memory.js';
import type { VirtioDevice } from '../device.js';
import type { Queue } from '../queue.js';
import { CommonConfig } from './common-config.js';
import {
  PCI_CAP_ID_VENDOR,
  PCI_CLASS_OTHER,
  PCI_CONFIG_SPACE_SIZE,
  PCI_DEVICE_ID_MODERN_BASE,
  PCI_HEADER,
  PCI_INTERRUPT_PIN_INTA,
  PCI_REVISION_MODERN,
  PCI_STATUS_CAPABILITY_LIST,
  PCI_SUBSYSTEM_ID,
  PCI_VENDOR_ID_VIRTIO,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_BAR as BAR,
  VIRTIO_PCI_CAP,
  VIRTIO_PCI_CAP_LENGTH,
  VIRTIO_PCI_COMMON as COMMON,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_NOTIFY_CAP_LENGTH,
} from './pci-registers.js';

/** Where the capabilities sit in the configuration header, one after the other. */
const CAPABILITIES_START = 0x40;

/** The width of each common-configuration field, by offset (64-bit fields as their two halves). */
const COMMON_WIDTH = new Map<number, number>([
  [COMMON.deviceFeatureSelect, 4],
  [COMMON.deviceFeature, 4],
  [COMMON.driverFeatureSelect, 4],
  [COMMON.driverFeature, 4],
  [COMMON.configMsixVector, 2],
  [COMMON.numQueues, 2],
  [COMMON.deviceStatus, 1],
  [COMMON.configGeneration, 1],
  [COMMON.queueSelect, 2],
  [COMMON.queueSize, 2],
  [COMMON.queueMsixVector, 2],
  [COMMON.queueEnable, 2],
  [COMMON.queueNotifyOff, 2],
  [COMMON.queueDescLow, 4],
  [COMMON.queueDescHigh, 4],
  [COMMON.queueDriverLow, 4],
  [COMMON.queueDriverHigh, 4],
  [COMMON.queueDeviceLow, 4],
  [COMMON.queueDeviceHigh, 4],
]);

export interface PciTransportOptions {
  /**
   * Drives the function's INTx line: `true` when the ISR gains a bit (each time, even if already
   * asserted), `false` when the guest's read of the ISR or a reset clears it.
   */
  readonly onInterruptLevel?: (asserted: boolean) => void;
}

export class PciTransport {
  readonly #device: VirtioDevice;
  readonly #common: CommonConfig;
  readonly #onInterruptLevel: ((asserted: boolean) => void) | undefined;

  #isr = 0;
  /** Whether the line was asserted and not deasserted since: only then is it lowered. */
  #asserted = false;

  /**
   * Puts `device` behind a PCI function, with the guest memory its queues live in. Throws a
   * RangeError if the device declares a queue size that is not a power of 2 up to 32768, or a
   * device type whose PCI device id would pass 0x107f (4.1.2).
   */
  constructor(device: VirtioDevice, memory: GuestMemoryAccess, options: PciTransportOptions = {}) {
    if (!Number.isInteger(device.deviceType) || device.deviceType < 1 || device.deviceType > 0x3f) {
      throw new RangeError(`PciTransport: virtio device type ${device.deviceType} has no PCI device id (0x1041–0x107f)`);
    }
    this.#device = device;
    this.#onInterruptLevel = options.onInterruptLevel;
    this.#common = new CommonConfig(device, memory, {
      raise: (kind) => {
        this.#raise(kind === 'config' ? VIRTIO_PCI_ISR.config : VIRTIO_PCI_ISR.queue);
      },
      clearInterrupts: () => {
        this.#isr = 0;
        this.#setLevel(false);
      },
      configGenerationMask: 0xff,
    });
  }

  /** The PCI device id: 0x1040 plus the virtio device type (0x1045 for a balloon). */
  get pciDeviceId(): number {
    return PCI_DEVICE_ID_MODERN_BASE + this.#device.deviceType;
  }

  /** The device status, as the driver reads it. */
  get status(): number {
    return this.#common.status;
  }

  /** The ISR: interrupt causes raised and not yet read. */
  get isr(): number {
    return this.#isr;
  }

  /** Whether the INTx line is asserted. */
  get interruptAsserted(): boolean {
    return this.#asserted;
  }

  get configGeneration(): number {
    return this.#common.configGeneration;
  }

  /** The queues as the driver has set them up (replaced by new ones on each reset). */
  get queues(): readonly Queue[] {
    return this.#common.queues;
  }

  /**
   * The machine was reset (a PCI bus or system reset, an emulator's reboot), or its emulator is
   * gone: the function is reset as if its driver had written 0 to the status — the device stops,
   * its timers with it, and writes nothing more into the guest's memory — and the line is lowered.
   */
  reset(): void {
    this.#common.setStatus(0);
  }

  /**
   * The function's 256-byte configuration header: ids, class, BAR 0 as an I/O BAR at `ioBase`,
   * interrupt pin INTA, and the common, notification, ISR and device capabilities, all in BAR 0
   * at the offsets of `VIRTIO_PCI_BAR`. The interrupt line is left 0, for the BIOS to fill.
   */
  configSpace(ioBase = 0): Uint8Array {
    if (!Number.isInteger(ioBase) || ioBase < 0 || ioBase > 0xffff || ioBase % BAR.size !== 0) {
      throw new RangeError(`PciTransport.configSpace: the I/O base must be a multiple of ${BAR.size} below 0x10000, got ${ioBase}`);
    }
    const space = new Uint8Array(PCI_CONFIG_SPACE_SIZE);
    const view = new DataView(space.buffer);
    view.setUint16(PCI_HEADER.vendorId, PCI_VENDOR_ID_VIRTIO, true);
    view.setUint16(PCI_HEADER.deviceId, this.pciDeviceId, true);
    view.setUint16(PCI_HEADER.status, PCI_STATUS_CAPABILITY_LIST, true);
    space[PCI_HEADER.revision] = PCI_REVISION_MODERN;
    // Programming interface 0, subclass 0, class "other".
    space[PCI_HEADER.classCode + 2] = PCI_CLASS_OTHER;
    // Bit 0: an I/O BAR.
    view.setUint32(PCI_HEADER.bar0, ioBase | 1, true);
    view.setUint16(PCI_HEADER.subsystemVendorId, PCI_VENDOR_ID_VIRTIO, true);
    view.setUint16(PCI_HEADER.subsystemId, PCI_SUBSYSTEM_ID, true);
    space[PCI_HEADER.capabilitiesPointer] = CAPABILITIES_START;
    space[PCI_HEADER.interruptPin] = PCI_INTERRUPT_PIN_INTA;

    const capabilities = [
      { type: VIRTIO_PCI_CAP.commonCfg, ...BAR.common, multiplier: undefined },
      { type: VIRTIO_PCI_CAP.notifyCfg, ...BAR.notify },
      { type: VIRTIO_PCI_CAP.isrCfg, ...BAR.isr, multiplier: undefined },
      { type: VIRTIO_PCI_CAP.deviceCfg, ...BAR.device, multiplier: undefined },
    ];
    let at: number = CAPABILITIES_START;
    capabilities.forEach((cap, index) => {
      const length = cap.multiplier === undefined ? VIRTIO_PCI_CAP_LENGTH : VIRTIO_PCI_NOTIFY_CAP_LENGTH;
      const next = index === capabilities.length - 1 ? 0 : at + length;
      space[at] = PCI_CAP_ID_VENDOR;
      space[at + 1] = next;
      space[at + 2] = length;
      space[at + 3] = cap.type;
      // BAR 0; id and padding 0.
      view.setUint32(at + 8, cap.offset, true);
      view.setUint32(at + 12, cap.length, true);
      if (cap.multiplier !== undefined) view.setUint32(at + 16, cap.multiplier, true);
      at = next;
    });
    return space;
  }

  /** The guest reads `data.length` bytes at `offset` of BAR 0; `data` is filled. Never throws. */
  readBar(offset: number, data: Uint8Array): void {
    try {
      data.fill(0);
      if (!Number.isSafeInteger(offset) || offset < 0) return;
      const width = data.length;
      if (within(offset, width, BAR.device)) {
        this.#device.readConfig(offset - BAR.device.offset, data);
      } else if (within(offset, width, BAR.common)) {
        if (COMMON_WIDTH.get(offset - BAR.common.offset) === width) putLE(data, this.#readCommon(offset - BAR.common.offset));
      } else if (offset === BAR.isr.offset && width === 1) {
        data[0] = this.#readIsr();
      }
      // The notification register and everything else read as zeros.
    } catch {
      this.#common.deviceFailed();
      data.fill(0);
    }
  }

  /** The guest writes `data` at `offset` of BAR 0. Never throws. */
  writeBar(offset: number, data: Uint8Array): void {
    try {
      if (!Number.isSafeInteger(offset) || offset < 0) return;
      const width = data.length;
      if (within(offset, width, BAR.device)) {
        if (this.#common.configWritable) this.#device.writeConfig(offset - BAR.device.offset, data);
      } else if (within(offset, width, BAR.common)) {
        if (COMMON_WIDTH.get(offset - BAR.common.offset) === width) this.#writeCommon(offset - BAR.common.offset, getLE(data));
      } else if (offset === BAR.notify.offset && width === 2) {
        this.#common.notify(getLE(data));
      }
    } catch {
      this.#common.deviceFailed();
    }
  }

  #readCommon(field: number): number {
    const common = this.#common;
    switch (field) {
      case COMMON.deviceFeatureSelect:
        return common.deviceFeaturesSelect;
      case COMMON.deviceFeature:
        return common.deviceFeatureWord;
      case COMMON.driverFeatureSelect:
        return common.driverFeaturesSelect;
      case COMMON.driverFeature:
        return common.driverFeatureWord;
      case COMMON.configMsixVector:
      case COMMON.queueMsixVector:
        return VIRTIO_MSI_NO_VECTOR;
      case COMMON.numQueues:
        return common.queues.length;
      case COMMON.deviceStatus:
        return common.status;
      case COMMON.configGeneration:
        return common.configGeneration;
      case COMMON.queueSelect:
        return common.queueSelect;
      case COMMON.queueSize:
        return common.queueSize;
      case COMMON.queueEnable:
        return common.queueReady ? 1 : 0;
      case COMMON.queueDescLow:
        return common.queueAddress('descTable', 'low');
      case COMMON.queueDescHigh:
        return common.queueAddress('descTable', 'high');
      case COMMON.queueDriverLow:
        return common.queueAddress('availRing', 'low');
      case COMMON.queueDriverHigh:
        return common.queueAddress('availRing', 'high');
      case COMMON.queueDeviceLow:
        return common.queueAddress('usedRing', 'low');
      case COMMON.queueDeviceHigh:
        return common.queueAddress('usedRing', 'high');
      default:
        // queue_notify_off: 0 for every queue (the multiplier is 0 anyway).
        return 0;
    }
  }

  #writeCommon(field: number, value: number): void {
    const common = this.#common;
    switch (field) {
      case COMMON.deviceFeatureSelect:
        common.deviceFeaturesSelect = value;
        return;
      case COMMON.driverFeatureSelect:
        common.driverFeaturesSelect = value;
        return;
      case COMMON.driverFeature:
        common.acceptFeatureWord(value);
        return;
      case COMMON.deviceStatus:
        common.setStatus(value);
        return;
      case COMMON.queueSelect:
        common.queueSelect = value;
        return;
      case COMMON.queueSize:
        common.setQueueSize(value);
        return;
      case COMMON.queueEnable:
        // Writing 0 is forbidden to the driver (4.1.4.3.2): ignored.
        if (value === 1) common.setQueueReady(true);
        return;
      case COMMON.queueDescLow:
        common.setQueueAddress('descTable', 'low', value);
        return;
      case COMMON.queueDescHigh:
        common.setQueueAddress('descTable', 'high', value);
        return;
      case COMMON.queueDriverLow:
        common.setQueueAddress('availRing', 'low', value);
        return;
      case COMMON.queueDriverHigh:
        common.setQueueAddress('availRing', 'high', value);
        return;
      case COMMON.queueDeviceLow:
        common.setQueueAddress('usedRing', 'low', value);
        return;
      case COMMON.queueDeviceHigh:
        common.setQueueAddress('usedRing', 'high', value);
        return;
      default:
        // Read-only fields and the MSI-X vectors ignore writes.
        return;
    }
  }

  /** Reading the ISR returns its bits, clears them and deasserts the line (4.1.4.5). */
  #readIsr(): number {
    const bits = this.#isr;
    this.#isr = 0;
    this.#setLevel(false);
    return bits;
  }

  /** Asserted on every raise, even if already: a line shared with another function may have been lowered by it. */
  #raise(bit: number): void {
    this.#isr |= bit;
    this.#setLevel(true);
  }

  /** Asserts the line (every time asked), or deasserts it if this function asserted it. */
  #setLevel(asserted: boolean): void {
    if (!asserted && !this.#asserted) return;
    this.#asserted = asserted;
    if (this.#onInterruptLevel === undefined) return;
    try {
      this.#onInterruptLevel(asserted);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/** Whether `offset … offset + width − 1` lies inside `region` of the BAR. */
function within(offset: number, width: number, region: { readonly offset: number; readonly length: number }): boolean {
  return width > 0 && offset >= region.offset && offset + width <= region.offset + region.length;
}

/** `value` into `data`, little-endian, as many bytes as `data` has (at most 4). */
function putLE(data: Uint8Array, value: number): void {
  for (let i = 0; i < data.length; i++) data[i] = (value >>> (8 * i)) & 0xff;
}

/** The little-endian unsigned value of `data` (at most 4 bytes). */
function getLE(data: Uint8Array): number {
  let value = 0;
  for (let i = data.length - 1; i >= 0; i--) value = value * 256 + (data[i] ?? 0);
  return value;
}
