/**
 * The generic half of a virtio-mmio driver (virtio 1.2, 3.1.1 and 4.2.3), what Linux's
 * `virtio_mmio.c` and `virtio.c` do for any device: identify the device, reset it, walk the
 * status handshake, negotiate features through the two 32-bit feature windows, place queues in
 * guest memory and hand their addresses over, notify, acknowledge interrupts, and read the
 * configuration space consistently (ConfigGeneration). It touches the device through the
 * register block only.
 */
import { VIRTIO_F_VERSION_1 } from '../devices/virtio/device.js';
import { DEVICE_STATUS, MMIO_MAGIC_VALUE, MMIO_REGISTER, MMIO_VERSION } from '../devices/virtio/transport/registers.js';
import type { GuestMemory } from '../vstate/memory.js';
import { ProbeError } from './errors.js';
import { queueLayout, VirtqueueDriver } from './virtqueue-driver.js';

/** Reads of ConfigGeneration around a configuration read before giving up on a stable value. */
const CONFIG_RETRIES = 8;
/** Reads of Status after a reset before concluding the device never finishes it. */
const RESET_POLLS = 16;

/**
 * What the driver drives: the register block through `read`/`write` of byte arrays, as a
 * memory-mapped bus would (the `MmioTransport` of `vmm-metrics/virtio` is one). The register
 * offsets and bits are the specification's, defined once beside the transport
 * (`devices/virtio/transport/registers.ts`).
 */
export interface MmioRegisterBlock {
  /** Fills `data` from the register (or configuration bytes) at `offset`. */
  read(offset: number, data: Uint8Array): void;
  /** Writes `data` to the register (or configuration bytes) at `offset`. */
  write(offset: number, data: Uint8Array): void;
}

/** The identity registers of a device. */
export interface DeviceIdentity {
  readonly version: number;
  readonly deviceId: number;
  readonly vendorId: number;
}

export class MmioDriver {
  readonly mmio: MmioRegisterBlock;
  readonly #word = new Uint8Array(4);
  readonly #view = new DataView(this.#word.buffer);
  /**
   * The word of each register write, reused (a driver writes several per request). Apart from
   * the read word: an interrupt handler may run from inside a write and read registers. A bus
   * takes the value during the call, as a store instruction would.
   */
  readonly #writeWord = new Uint8Array(4);
  readonly #writeView = new DataView(this.#writeWord.buffer);

  constructor(mmio: MmioRegisterBlock) {
    this.mmio = mmio;
  }

  readRegister(offset: number): number {
    this.#word.fill(0);
    this.mmio.read(offset, this.#word);
    return this.#view.getUint32(0, true);
  }

  writeRegister(offset: number, value: number): void {
    this.#writeView.setUint32(0, value >>> 0, true);
    this.mmio.write(offset, this.#writeWord);
  }

  /** Checks MagicValue and Version, and that a device sits behind the block (DeviceID not 0). */
  identify(): DeviceIdentity {
    const magic = this.readRegister(MMIO_REGISTER.magicValue);
    if (magic !== MMIO_MAGIC_VALUE) throw new ProbeError(`wrong magic value 0x${magic.toString(16)}, expected 0x${MMIO_MAGIC_VALUE.toString(16)}`);
    const version = this.readRegister(MMIO_REGISTER.version);
    if (version !== MMIO_VERSION) throw new ProbeError(`virtio-mmio version ${version} is not supported, only ${MMIO_VERSION}`);
    const deviceId = this.readRegister(MMIO_REGISTER.deviceId);
    if (deviceId === 0) throw new ProbeError('no device behind this register block (DeviceID 0)');
    return { version, deviceId, vendorId: this.readRegister(MMIO_REGISTER.vendorId) };
  }

  get status(): number {
    return this.readRegister(MMIO_REGISTER.status);
  }

  /** Writes 0 to Status and waits (a bounded number of reads) until the device reads back 0. */
  reset(): void {
    this.writeRegister(MMIO_REGISTER.status, 0);
    for (let i = 0; i < RESET_POLLS; i++) if (this.status === 0) return;
    throw new ProbeError('the device did not finish its reset (Status never read 0)');
  }

  /** Sets `bits` in Status, keeping the ones already set (3.1.1). */
  addStatus(bits: number): void {
    this.writeRegister(MMIO_REGISTER.status, (this.status | bits) & 0xff);
  }

  /** Both 32-bit windows of DeviceFeatures. */
  deviceFeatures(): bigint {
    this.writeRegister(MMIO_REGISTER.deviceFeaturesSel, 0);
    const low = this.readRegister(MMIO_REGISTER.deviceFeatures);
    this.writeRegister(MMIO_REGISTER.deviceFeaturesSel, 1);
    const high = this.readRegister(MMIO_REGISTER.deviceFeatures);
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /**
   * Accepts the offered features among `supported`, writes them, sets FEATURES_OK and checks
   * that it stuck. VERSION_1 is required (a version 2 register block implies it). Returns the
   * accepted set.
   */
  negotiate(supported: bigint): bigint {
    const offered = this.deviceFeatures();
    const version1 = 1n << BigInt(VIRTIO_F_VERSION_1);
    if ((offered & version1) === 0n) throw new ProbeError('the device does not offer VIRTIO_F_VERSION_1');
    const accepted = offered & (supported | version1);
    this.writeRegister(MMIO_REGISTER.driverFeaturesSel, 0);
    this.writeRegister(MMIO_REGISTER.driverFeatures, Number(accepted & 0xffff_ffffn));
    this.writeRegister(MMIO_REGISTER.driverFeaturesSel, 1);
    this.writeRegister(MMIO_REGISTER.driverFeatures, Number(accepted >> 32n));
    this.addStatus(DEVICE_STATUS.featuresOk);
    if ((this.status & DEVICE_STATUS.featuresOk) === 0) throw new ProbeError(`the device refused the features 0x${accepted.toString(16)} (FEATURES_OK did not stick)`);
    return accepted;
  }

  /**
   * Sets up queue `index` with at most `maxSize` entries (the device's QueueNumMax rounded down
   * to a power of 2) in `bytes` of guest memory the caller reserved at `base`.
   */
  setUpQueue<T>(memory: GuestMemory, index: number, base: bigint, bytes: number, maxSize: number): VirtqueueDriver<T> {
    this.writeRegister(MMIO_REGISTER.queueSel, index);
    if (this.readRegister(MMIO_REGISTER.queueReady) !== 0) throw new ProbeError(`queue ${index} is already live (QueueReady is not 0)`);
    const max = this.readRegister(MMIO_REGISTER.queueNumMax);
    if (max === 0) throw new ProbeError(`queue ${index} is not available (QueueNumMax 0)`);
    let size = 1;
    while (size * 2 <= Math.min(max, maxSize)) size *= 2;
    const layout = queueLayout(base, size);
    if (layout.bytes > bytes) throw new ProbeError(`queue ${index} of ${size} entries needs ${layout.bytes} bytes, ${bytes} were reserved`);
    const queue = new VirtqueueDriver<T>(memory, layout);
    this.writeRegister(MMIO_REGISTER.queueNum, size);
    this.#writeAddress(MMIO_REGISTER.queueDescLow, layout.descTable);
    this.#writeAddress(MMIO_REGISTER.queueDriverLow, layout.availRing);
    this.#writeAddress(MMIO_REGISTER.queueDeviceLow, layout.usedRing);
    this.writeRegister(MMIO_REGISTER.queueReady, 1);
    return queue;
  }

  /** Tells the device that queue `index` has new buffers. */
  notify(index: number): void {
    this.writeRegister(MMIO_REGISTER.queueNotify, index);
  }

  /** Notifies queue `index` of `queue`'s new buffers unless the device asked not to be (Linux `virtqueue_kick`). */
  kick(queue: VirtqueueDriver<unknown>, index: number): void {
    if (queue.needsNotification()) this.notify(index);
  }

  /** Reads InterruptStatus and acknowledges every bit in it; returns the bits. */
  takeInterrupt(): number {
    const status = this.readRegister(MMIO_REGISTER.interruptStatus);
    if (status !== 0) this.writeRegister(MMIO_REGISTER.interruptAck, status);
    return status;
  }

  /**
   * A u32 of the configuration space, read between two equal ConfigGeneration values so it is
   * not torn by a concurrent change (what Linux's `virtio_cread` does).
   */
  readConfigU32(offset: number): number {
    for (let attempt = 0; ; attempt++) {
      const before = this.readRegister(MMIO_REGISTER.configGeneration);
      const value = this.readRegister(MMIO_REGISTER.config + offset);
      if (this.readRegister(MMIO_REGISTER.configGeneration) === before || attempt === CONFIG_RETRIES) return value;
    }
  }

  writeConfigU32(offset: number, value: number): void {
    this.writeRegister(MMIO_REGISTER.config + offset, value);
  }

  #writeAddress(lowOffset: number, address: bigint): void {
    this.writeRegister(lowOffset, Number(address & 0xffff_ffffn));
    this.writeRegister(lowOffset + 4, Number(address >> 32n));
  }
}
