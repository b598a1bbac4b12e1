/**
 * Test support: the driver's side of the virtio-mmio version 2 register block (virtio 1.2,
 * 4.2.2): 32-bit little-endian register reads and writes, the status handshake with feature
 * negotiation and queue set-up (4.2.3.1), queue notifications and interrupt acknowledgement.
 *
 * It talks to anything with `read(offset, data)` / `write(offset, data)` — the `MmioTransport`,
 * or a bus an emulator puts in front of it. The register offsets and status bits are written out
 * from the specification here, not imported from the transport, so the tests check the transport
 * against the specification rather than against itself.
 */
import type { QueueLayout } from './virtqueue.js';

/** The register API of a virtio-mmio device, as the guest reaches it. */
export interface MmioBus {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

/** Register offsets of virtio-mmio version 2 (virtio 1.2, 4.2.2). */
export const REG = {
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
  config: 0x100,
} as const;

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
export const INTERRUPT = { vring: 1, config: 2 } as const;

/** Reads the 32-bit register at `offset`. */
export function readRegister(bus: MmioBus, offset: number): number {
  const data = new Uint8Array(4);
  bus.read(offset, data);
  return new DataView(data.buffer).getUint32(0, true);
}

/** Writes the 32-bit register at `offset` (`value` taken modulo 2^32). */
export function writeRegister(bus: MmioBus, offset: number, value: number): void {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, value >>> 0, true);
  bus.write(offset, data);
}

/** Writes a 64-bit queue address into a Low/High register pair. */
export function writeAddress(bus: MmioBus, lowOffset: number, address: bigint): void {
  writeRegister(bus, lowOffset, Number(address & 0xffff_ffffn));
  writeRegister(bus, lowOffset + 4, Number((address >> 32n) & 0xffff_ffffn));
}

/** The 64 feature bits the device offers, read through DeviceFeaturesSel 0 and 1. */
export function readDeviceFeatures(bus: MmioBus): bigint {
  writeRegister(bus, REG.deviceFeaturesSel, 0);
  const low = readRegister(bus, REG.deviceFeatures);
  writeRegister(bus, REG.deviceFeaturesSel, 1);
  const high = readRegister(bus, REG.deviceFeatures);
  return (BigInt(high) << 32n) | BigInt(low);
}

/** Writes the 64 feature bits the driver accepts, through DriverFeaturesSel 0 and 1. */
export function writeDriverFeatures(bus: MmioBus, features: bigint): void {
  writeRegister(bus, REG.driverFeaturesSel, 0);
  writeRegister(bus, REG.driverFeatures, Number(features & 0xffff_ffffn));
  writeRegister(bus, REG.driverFeaturesSel, 1);
  writeRegister(bus, REG.driverFeatures, Number((features >> 32n) & 0xffff_ffffn));
}

/**
 * Configures queue `index` from `queue` (QueueSel, QueueNum, the three addresses) and, unless
 * `ready` is false, sets QueueReady. Returns the QueueNumMax the device reported for it.
 */
export function setUpQueue(bus: MmioBus, index: number, queue: QueueLayout, ready = true): number {
  writeRegister(bus, REG.queueSel, index);
  const max = readRegister(bus, REG.queueNumMax);
  writeRegister(bus, REG.queueNum, queue.size);
  writeAddress(bus, REG.queueDescLow, queue.descTable);
  writeAddress(bus, REG.queueDriverLow, queue.availRing);
  writeAddress(bus, REG.queueDeviceLow, queue.usedRing);
  if (ready) writeRegister(bus, REG.queueReady, 1);
  return max;
}

export interface HandshakeOptions {
  /**
   * The feature bits the driver accepts. Default: every bit the device offers. They are written
   * as given, offered or not, so a test can see the device refuse them.
   */
  readonly features?: bigint;
  /** The queues to set up, by index; `undefined` leaves that queue alone (not ready). */
  readonly queues?: readonly (QueueLayout | undefined)[];
  /** Whether to finish with DRIVER_OK. Default true. */
  readonly driverOk?: boolean;
}

export interface HandshakeResult {
  /** What DeviceFeatures offered. */
  readonly deviceFeatures: bigint;
  /** Whether the device kept FEATURES_OK; if not, the driver set FAILED and stopped there. */
  readonly featuresAccepted: boolean;
  /** Status as read back at the end. */
  readonly status: number;
}

/**
 * The driver's initialization sequence (virtio 1.2, 3.1.1 and 4.2.3.1): reset (Status 0),
 * ACKNOWLEDGE, DRIVER, read the offered features, write the accepted ones, FEATURES_OK and read
 * it back — if the device did not keep it, set FAILED and stop, as a driver must — then set up
 * each queue given and write DRIVER_OK.
 */
export function driveHandshake(bus: MmioBus, options: HandshakeOptions = {}): HandshakeResult {
  writeRegister(bus, REG.status, 0);
  let status = STATUS.acknowledge;
  writeRegister(bus, REG.status, status);
  status |= STATUS.driver;
  writeRegister(bus, REG.status, status);
  const deviceFeatures = readDeviceFeatures(bus);
  writeDriverFeatures(bus, options.features ?? deviceFeatures);
  status |= STATUS.featuresOk;
  writeRegister(bus, REG.status, status);
  if ((readRegister(bus, REG.status) & STATUS.featuresOk) === 0) {
    writeRegister(bus, REG.status, status | STATUS.failed);
    return { deviceFeatures, featuresAccepted: false, status: readRegister(bus, REG.status) };
  }
  (options.queues ?? []).forEach((queue, index) => {
    if (queue !== undefined) setUpQueue(bus, index, queue);
  });
  if (options.driverOk ?? true) writeRegister(bus, REG.status, status | STATUS.driverOk);
  return { deviceFeatures, featuresAccepted: true, status: readRegister(bus, REG.status) };
}

/** Writes queue `index` to QueueNotify. */
export function notifyQueue(bus: MmioBus, index: number): void {
  writeRegister(bus, REG.queueNotify, index);
}

/** Reads InterruptStatus and acknowledges every bit in it, as an interrupt handler does; returns the bits. */
export function acknowledgeInterrupts(bus: MmioBus): number {
  const bits = readRegister(bus, REG.interruptStatus);
  if (bits !== 0) writeRegister(bus, REG.interruptAck, bits);
  return bits;
}

/** Reads `length` bytes of the device configuration space from `offset` (relative to 0x100). */
export function readConfig(bus: MmioBus, offset: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  bus.read(REG.config + offset, data);
  return data;
}

/** Writes `data` into the device configuration space at `offset` (relative to 0x100). */
export function writeConfig(bus: MmioBus, offset: number, data: Uint8Array): void {
  bus.write(REG.config + offset, data);
}
