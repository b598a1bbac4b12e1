/**
 * The virtio-mmio version 2 register block (virtio 1.2, 4.2.2) and the device status bits
 * (2.1): the numbers a guest driver and `MmioTransport` agree on. Offsets are from the device's
 * MMIO base; every register is 32 bits wide and little-endian; the device configuration space
 * starts at `config` and runs to the end of the device's 4 KiB window.
 */

/** "virt" in little-endian ASCII: MagicValue, what a driver probes for. */
export const MMIO_MAGIC_VALUE = 0x7472_6976;
/** Version 2: the non-legacy (virtio 1.0 and later) interface; legacy devices report 1. */
export const MMIO_VERSION = 2;
/**
 * VendorID: 0, as Firecracker reports (`transport/mmio.rs`); Linux's virtio_mmio driver only
 * passes it on to drivers that match a vendor, and no virtio-balloon driver does.
 */
export const MMIO_VENDOR_ID = 0;
/** The size of a device's MMIO window: registers below `config`, configuration space above. */
export const MMIO_WINDOW_SIZE = 0x1000;

/** Register offsets; R, W or RW as the specification gives them. */
export const MMIO_REGISTER = {
  /** R: MMIO_MAGIC_VALUE. */
  magicValue: 0x000,
  /** R: MMIO_VERSION. */
  version: 0x004,
  /** R: the virtio device type; 0 would mean no device. */
  deviceId: 0x008,
  /** R: MMIO_VENDOR_ID. */
  vendorId: 0x00c,
  /** R: 32 offered feature bits, the word DeviceFeaturesSel selects. */
  deviceFeatures: 0x010,
  /** W: which 32-bit word of the offered features DeviceFeatures shows. */
  deviceFeaturesSel: 0x014,
  /** W: 32 accepted feature bits, the word DriverFeaturesSel selects. */
  driverFeatures: 0x020,
  /** W: which 32-bit word of the accepted features DriverFeatures sets. */
  driverFeaturesSel: 0x024,
  /** W: the queue the Queue* registers below refer to. */
  queueSel: 0x030,
  /** R: the selected queue's largest size; 0 if there is no such queue. */
  queueNumMax: 0x034,
  /** W: the selected queue's size, chosen by the driver. */
  queueNum: 0x038,
  /** RW: 1 once the driver has set the selected queue up. */
  queueReady: 0x044,
  /** W: a queue index: the driver made buffers available in that queue. */
  queueNotify: 0x050,
  /** R: why the interrupt was raised (`INTERRUPT_STATUS` bits). */
  interruptStatus: 0x060,
  /** W: the `INTERRUPT_STATUS` bits the driver has handled. */
  interruptAck: 0x064,
  /** RW: the device status (`DEVICE_STATUS` bits); writing 0 resets the device. */
  status: 0x070,
  /** W: the selected queue's descriptor table address, low and high 32 bits. */
  queueDescLow: 0x080,
  queueDescHigh: 0x084,
  /** W: the selected queue's driver area (available ring) address. */
  queueDriverLow: 0x090,
  queueDriverHigh: 0x094,
  /** W: the selected queue's device area (used ring) address. */
  queueDeviceLow: 0x0a0,
  queueDeviceHigh: 0x0a4,
  /** R: changes whenever the device changes its configuration space. */
  configGeneration: 0x0fc,
  /** RW: the device configuration space, any access width. */
  config: 0x100,
} as const;

/** Device status bits (virtio 1.2, 2.1), set by the driver except DEVICE_NEEDS_RESET. */
export const DEVICE_STATUS = {
  /** The guest found the device. */
  acknowledge: 1,
  /** The guest has a driver for it. */
  driver: 2,
  /** The driver is set up and the device is live. */
  driverOk: 4,
  /** The driver finished feature negotiation; the device clears it on refusal. */
  featuresOk: 8,
  /** The device met an error it cannot recover from without a reset. */
  deviceNeedsReset: 64,
  /** The driver gave up on the device. */
  failed: 128,
} as const;

/** InterruptStatus / InterruptACK bits (virtio 1.2, 4.2.2). */
export const INTERRUPT_STATUS = {
  /** The device used a buffer in at least one queue. */
  usedBuffer: 1,
  /** The device configuration changed (or the device needs a reset). */
  configChange: 2,
} as const;
