/**
 * The virtio-mmio version 2 register block as a driver sees it (virtio 1.2, 4.2.2): offsets,
 * the device status bits (2.1) and the interrupt causes. Written from the specification, not
 * imported from the device side, so the simulated guest shares nothing with the host but the
 * wire format.
 */

/** Register offsets from the start of the block; every register is 32 bits, little-endian. */
export const MMIO = {
  magicValue: 0x000,
  version: 0x004,
  deviceId: 0x008,
  vendorId: 0x00c,
  deviceFeatures: 0x010,
  deviceFeaturesSel: 0x014,
  driverFeatures: 0x020,
  driverFeaturesSel: 0x024,
  queueSel: 0x030,
  queueNumMax: 0x034,
  queueNum: 0x038,
  queueReady: 0x044,
  queueNotify: 0x050,
  interruptStatus: 0x060,
  interruptAck: 0x064,
  status: 0x070,
  queueDescLow: 0x080,
  queueDescHigh: 0x084,
  queueDriverLow: 0x090,
  queueDriverHigh: 0x094,
  queueDeviceLow: 0x0a0,
  queueDeviceHigh: 0x0a4,
  configGeneration: 0x0fc,
  /** The device-specific configuration space starts here. */
  config: 0x100,
} as const;

/** "virt" in little-endian ASCII. */
export const MMIO_MAGIC = 0x7472_6976;
/** The modern (non-legacy) register layout. */
export const MMIO_VERSION = 2;

/** Device status bits (virtio 1.2, 2.1). */
export const STATUS = {
  acknowledge: 1,
  driver: 2,
  driverOk: 4,
  featuresOk: 8,
  deviceNeedsReset: 64,
  failed: 128,
} as const;

/** InterruptStatus bits (virtio 1.2, 4.2.2). */
export const INTERRUPT = {
  /** The device used a buffer in at least one queue. */
  usedBuffer: 1,
  /** The configuration space changed. */
  configChange: 2,
} as const;

/** Feature bit 32: virtio 1.0 or later; a version 2 MMIO device must offer it. */
export const VIRTIO_F_VERSION_1 = 32;

/**
 * What the driver drives: the register block through `read`/`write` of byte arrays, as a
 * memory-mapped bus would (the `MmioTransport` of `vmm-metrics/virtio` is one).
 */
export interface MmioRegisterBlock {
  /** Fills `data` from the register (or configuration bytes) at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Writes `data` to the register (or configuration bytes) at `offset`. */
  write(offset: number, data: Uint8Array): void;
}
