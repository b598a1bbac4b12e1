/**
 * The virtio-pci (modern, virtio 1.x) function's numbers (virtio 1.2, 4.1): its PCI
 * configuration header, the vendor capabilities that point a driver at each structure, the common
 * configuration's fields, and the one I/O BAR this project lays the structures out in.
 *
 * Offsets of the common configuration are from the start of that structure; every field is
 * little-endian and is accessed at its own width (4.1.3.1), a 64-bit field as two 32-bit halves.
 */

/** Red Hat / Qumranet, the vendor of every virtio PCI function (4.1.2). */
export const PCI_VENDOR_ID_VIRTIO = 0x1af4;
/** A modern (non-transitional) function's device id is this plus the virtio device type (4.1.2). */
export const PCI_DEVICE_ID_MODERN_BASE = 0x1040;
/**
 * The subsystem device id: a non-transitional function SHOULD report 0x40 or higher (4.1.2.1),
 * so that an old, legacy-only driver does not bind it.
 */
export const PCI_SUBSYSTEM_ID = 0x40;
/** Revision 1: a non-transitional function (4.1.2.1 — a driver MUST NOT match revision 0 here). */
export const PCI_REVISION_MODERN = 1;
/** Class "other" (0xff), as QEMU presents a virtio balloon; Linux matches on vendor and device only. */
export const PCI_CLASS_OTHER = 0xff;

/** Offsets in the PCI configuration header (type 0) that the function fills. */
export const PCI_HEADER = {
  vendorId: 0x00,
  deviceId: 0x02,
  command: 0x04,
  status: 0x06,
  revision: 0x08,
  classCode: 0x09,
  headerType: 0x0e,
  bar0: 0x10,
  subsystemVendorId: 0x2c,
  subsystemId: 0x2e,
  capabilitiesPointer: 0x34,
  interruptLine: 0x3c,
  interruptPin: 0x3d,
} as const;

/** PCI status bit 4: the header has a capability list at `capabilitiesPointer`. */
export const PCI_STATUS_CAPABILITY_LIST = 0x10;
/** Interrupt pin 1: INTA#, the legacy interrupt line the function signals on. */
export const PCI_INTERRUPT_PIN_INTA = 1;
/** A vendor-specific capability: how every virtio structure is announced (4.1.4). */
export const PCI_CAP_ID_VENDOR = 0x09;
/** The size of the configuration space a PCI function has (without PCIe's extension). */
export const PCI_CONFIG_SPACE_SIZE = 256;

/** `cfg_type` of `struct virtio_pci_cap` (4.1.4). */
export const VIRTIO_PCI_CAP = {
  commonCfg: 1,
  notifyCfg: 2,
  isrCfg: 3,
  deviceCfg: 4,
  pciCfg: 5,
} as const;

/** `struct virtio_pci_cap`: 16 bytes; the notification capability adds a 32-bit multiplier. */
export const VIRTIO_PCI_CAP_LENGTH = 16;
export const VIRTIO_PCI_NOTIFY_CAP_LENGTH = 20;

/** Fields of the common configuration structure (`struct virtio_pci_common_cfg`, 4.1.4.3). */
export const VIRTIO_PCI_COMMON = {
  /** RW u32: which 32-bit word `deviceFeature` shows. */
  deviceFeatureSelect: 0x00,
  /** R u32: offered feature bits. */
  deviceFeature: 0x04,
  /** RW u32: which 32-bit word `driverFeature` sets. */
  driverFeatureSelect: 0x08,
  /** RW u32: accepted feature bits. */
  driverFeature: 0x0c,
  /** RW u16: the MSI-X vector for configuration changes (no MSI-X here: reads NO_VECTOR). */
  configMsixVector: 0x10,
  /** R u16: how many queues the device has. */
  numQueues: 0x12,
  /** RW u8: the device status; writing 0 resets the device. */
  deviceStatus: 0x14,
  /** R u8: changes whenever the device configuration changes. */
  configGeneration: 0x15,
  /** RW u16: the queue the queue fields below refer to. */
  queueSelect: 0x16,
  /** RW u16: the selected queue's size: its largest until the driver writes a smaller one; 0 if there is no such queue. */
  queueSize: 0x18,
  /** RW u16: the selected queue's MSI-X vector (reads NO_VECTOR). */
  queueMsixVector: 0x1a,
  /** RW u16: 1 once the driver has set the selected queue up. */
  queueEnable: 0x1c,
  /** R u16: the selected queue's notification offset, in multiples of the notify multiplier. */
  queueNotifyOff: 0x1e,
  /** RW u64: the descriptor table, driver area and device area of the selected queue. */
  queueDescLow: 0x20,
  queueDescHigh: 0x24,
  queueDriverLow: 0x28,
  queueDriverHigh: 0x2c,
  queueDeviceLow: 0x30,
  queueDeviceHigh: 0x34,
} as const;

/** `sizeof(struct virtio_pci_common_cfg)`: the smallest common structure Linux accepts. */
export const VIRTIO_PCI_COMMON_LENGTH = 0x38;
/** What an MSI-X vector field reads without MSI-X (4.1.4.3). */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

/** ISR status bits (4.1.4.5): reading the ISR returns them and clears them. */
export const VIRTIO_PCI_ISR = {
  queue: 1,
  config: 2,
} as const;

/**
 * Where each structure lies in the function's one I/O BAR (BAR 0). One BAR of 256 bytes, the
 * most an I/O BAR is given on a PC: every structure fits, and an emulator that cannot move a
 * memory BAR (v86) can move this one wherever the BIOS puts it.
 * - The notification multiplier is 0: every queue is notified at the same 16-bit register, by
 *   writing its index (4.1.4.4), as virtio-mmio's QueueNotify is.
 * - The device configuration window is 128 bytes; a device's configuration is read through it,
 *   bytes beyond the device's own reading as 0.
 */
export const VIRTIO_PCI_BAR = {
  size: 0x100,
  common: { offset: 0x00, length: VIRTIO_PCI_COMMON_LENGTH },
  notify: { offset: 0x40, length: 2, multiplier: 0 },
  isr: { offset: 0x44, length: 1 },
  device: { offset: 0x80, length: 0x80 },
} as const;
