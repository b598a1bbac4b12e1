/**
 * Test support: the driver's side of a modern virtio-pci function (virtio 1.2, 4.1): its
 * configuration header and capability list, the common configuration fields at their natural
 * widths, the ISR, the notification register and the device configuration, all through one BAR
 * (`readBar` / `writeBar`), and the initialization sequence (3.1.1, 4.1.5).
 *
 * The offsets are written out from the specification here, not imported from the transport, so
 * the tests check the transport against the specification rather than against itself. Where each
 * structure lies in the BAR is read from the capabilities, as a driver finds it.
 */
import type { QueueLayout } from './virtqueue.js';

/** A PCI function's BAR as the guest reaches it. */
export interface PciBar {
  readBar(offset: number, data: Uint8Array): void;
  writeBar(offset: number, data: Uint8Array): void;
}

/** `struct virtio_pci_common_cfg` (4.1.4.3): offset and width of each field. */
export const COMMON = {
  deviceFeatureSelect: [0x00, 4],
  deviceFeature: [0x04, 4],
  driverFeatureSelect: [0x08, 4],
  driverFeature: [0x0c, 4],
  configMsixVector: [0x10, 2],
  numQueues: [0x12, 2],
  deviceStatus: [0x14, 1],
  configGeneration: [0x15, 1],
  queueSelect: [0x16, 2],
  queueSize: [0x18, 2],
  queueMsixVector: [0x1a, 2],
  queueEnable: [0x1c, 2],
  queueNotifyOff: [0x1e, 2],
  queueDescLow: [0x20, 4],
  queueDescHigh: [0x24, 4],
  queueDriverLow: [0x28, 4],
  queueDriverHigh: [0x2c, 4],
  queueDeviceLow: [0x30, 4],
  queueDeviceHigh: [0x34, 4],
} as const satisfies Record<string, readonly [number, number]>;
export type CommonField = keyof typeof COMMON;

/** Device status bits (2.1). */
export const STATUS = { acknowledge: 1, driver: 2, driverOk: 4, featuresOk: 8, deviceNeedsReset: 64, failed: 128 } as const;
/** ISR bits (4.1.4.5). */
export const ISR = { queue: 1, config: 2 } as const;

/** A structure's place, from its capability. */
export interface Region {
  readonly bar: number;
  readonly offset: number;
  readonly length: number;
}

/** What the capability list says. */
export interface Capabilities {
  readonly common: Region;
  readonly notify: Region & { readonly multiplier: number };
  readonly isr: Region;
  readonly device: Region;
  /** Every capability in list order: [id, cfg_type]. */
  readonly list: readonly (readonly [number, number])[];
}

/** Walks the capability list of a 256-byte configuration header (4.1.4). Throws on a loop or a missing structure. */
export function readCapabilities(space: Uint8Array): Capabilities {
  const view = new DataView(space.buffer, space.byteOffset, space.byteLength);
  const found = new Map<number, Region & { multiplier: number }>();
  const list: (readonly [number, number])[] = [];
  let at = space[0x34] ?? 0;
  for (let seen = 0; at !== 0; seen++) {
    if (seen > 48) throw new Error('capability list loops');
    const id = space[at] ?? 0;
    const type = space[at + 3] ?? 0;
    list.push([id, type]);
    // The first capability of each type is the one a driver uses.
    if (id === 0x09 && !found.has(type)) {
      found.set(type, {
        bar: space[at + 4] ?? 0,
        offset: view.getUint32(at + 8, true),
        length: view.getUint32(at + 12, true),
        multiplier: type === 2 ? view.getUint32(at + 16, true) : 0,
      });
    }
    at = space[at + 1] ?? 0;
  }
  const need = (type: number): Region & { multiplier: number } => {
    const region = found.get(type);
    if (region === undefined) throw new Error(`no capability of type ${type}`);
    return region;
  };
  return { common: need(1), notify: need(2), isr: need(3), device: need(4), list };
}

/** A driver of one function: field accessors at their widths, the handshake, notifications. */
export class PciDriver {
  constructor(
    readonly bar: PciBar,
    readonly caps: Capabilities,
  ) {}

  read(field: CommonField): number {
    const [offset, width] = COMMON[field];
    return this.readAt(this.caps.common.offset + offset, width);
  }

  write(field: CommonField, value: number): void {
    const [offset, width] = COMMON[field];
    this.writeAt(this.caps.common.offset + offset, width, value);
  }

  /** Reads `width` bytes at `offset` of the BAR, little-endian. */
  readAt(offset: number, width: number): number {
    const data = new Uint8Array(width);
    this.bar.readBar(offset, data);
    let value = 0;
    for (let i = width - 1; i >= 0; i--) value = value * 256 + (data[i] ?? 0);
    return value;
  }

  writeAt(offset: number, width: number, value: number): void {
    const data = new Uint8Array(width);
    for (let i = 0; i < width; i++) data[i] = Math.floor(value / 256 ** i) % 256;
    this.bar.writeBar(offset, data);
  }

  deviceFeatures(): bigint {
    this.write('deviceFeatureSelect', 0);
    const low = this.read('deviceFeature');
    this.write('deviceFeatureSelect', 1);
    return (BigInt(this.read('deviceFeature')) << 32n) | BigInt(low);
  }

  writeDriverFeatures(features: bigint): void {
    this.write('driverFeatureSelect', 0);
    this.write('driverFeature', Number(features & 0xffff_ffffn));
    this.write('driverFeatureSelect', 1);
    this.write('driverFeature', Number((features >> 32n) & 0xffff_ffffn));
  }

  /** The 64-bit queue fields, low half first, as Linux's `vp_iowrite64_twopart` writes them. */
  writeAddress(low: 'queueDescLow' | 'queueDriverLow' | 'queueDeviceLow', address: bigint): void {
    this.write(low, Number(address & 0xffff_ffffn));
    const high = low === 'queueDescLow' ? 'queueDescHigh' : low === 'queueDriverLow' ? 'queueDriverHigh' : 'queueDeviceHigh';
    this.write(high, Number(address >> 32n));
  }

  /** Queue set-up as Linux's virtio_pci_modern does it (4.1.5.1.3): select, size, addresses, enable. */
  setUpQueue(index: number, layout: QueueLayout, enable = true): void {
    this.write('queueSelect', index);
    this.write('queueSize', layout.size);
    this.writeAddress('queueDescLow', layout.descTable);
    this.writeAddress('queueDriverLow', layout.availRing);
    this.writeAddress('queueDeviceLow', layout.usedRing);
    if (enable) this.write('queueEnable', 1);
  }

  /**
   * Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK read back (FAILED and stop if refused),
   * the queues given, DRIVER_OK. Returns whether the features were accepted.
   */
  handshake(options: { readonly features?: bigint; readonly queues?: readonly (QueueLayout | undefined)[]; readonly driverOk?: boolean } = {}): boolean {
    this.write('deviceStatus', 0);
    this.write('deviceStatus', STATUS.acknowledge);
    this.write('deviceStatus', STATUS.acknowledge | STATUS.driver);
    this.writeDriverFeatures(options.features ?? this.deviceFeatures());
    const negotiating = STATUS.acknowledge | STATUS.driver | STATUS.featuresOk;
    this.write('deviceStatus', negotiating);
    if ((this.read('deviceStatus') & STATUS.featuresOk) === 0) {
      this.write('deviceStatus', negotiating | STATUS.failed);
      return false;
    }
    (options.queues ?? []).forEach((layout, index) => {
      if (layout !== undefined) this.setUpQueue(index, layout);
    });
    if (options.driverOk ?? true) this.write('deviceStatus', negotiating | STATUS.driverOk);
    return true;
  }

  /** Notifies queue `index`: its index, 16 bits, at the queue's notification address (4.1.4.4). */
  notify(index: number): void {
    this.write('queueSelect', index);
    const offset = this.caps.notify.offset + this.read('queueNotifyOff') * this.caps.notify.multiplier;
    this.writeAt(offset, 2, index);
  }

  /** Reads the ISR (which clears it). */
  readIsr(): number {
    return this.readAt(this.caps.isr.offset, 1);
  }

  readConfig(offset: number, width: number): number {
    return this.readAt(this.caps.device.offset + offset, width);
  }

  writeConfig(offset: number, width: number, value: number): void {
    this.writeAt(this.caps.device.offset + offset, width, value);
  }
}
