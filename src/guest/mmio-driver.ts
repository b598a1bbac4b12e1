/**
 * The generic half of a virtio-mmio driver (virtio 1.2, 3.1.1 and 4.2.3), what Linux's
 * `virtio_mmio.c` and `virtio.c` do for any device: identify the device, reset it, walk the
 * status handshake, negotiate features through the two 32-bit feature windows, place queues in
 * guest memory and hand their addresses over, notify, acknowledge interrupts, and read the
 * configuration space consistently (ConfigGeneration). It touches the device through the
 * register block only.
 */
import type { GuestMemory } from '../vstate/memory.js';
import { ProbeError } from './errors.js';
import { MMIO, MMIO_MAGIC, MMIO_VERSION, STATUS, VIRTIO_F_VERSION_1, type MmioRegisterBlock } from './mmio-registers.js';
import { queueLayout, VirtqueueDriver } from './virtqueue-driver.js';

/** Reads of ConfigGeneration around a configuration read before giving up on a stable value. */
const CONFIG_RETRIES = 8;
/** Reads of Status after a reset before concluding the device never finishes it. */
const RESET_POLLS = 16;

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
    const magic = this.readRegister(MMIO.magicValue);
    if (magic !== MMIO_MAGIC) throw new ProbeError(`wrong magic value 0x${magic.toString(16)}, expected 0x${MMIO_MAGIC.toString(16)}`);
    const version = this.readRegister(MMIO.version);
    if (version !== MMIO_VERSION) throw new ProbeError(`virtio-mmio version ${version} is not supported, only ${MMIO_VERSION}`);
    const deviceId = this.readRegister(MMIO.deviceId);
    if (deviceId === 0) throw new ProbeError('no device behind this register block (DeviceID 0)');
    return { version, deviceId, vendorId: this.readRegister(MMIO.vendorId) };
  }

  get status(): number {
    return this.readRegister(MMIO.status);
  }

  /** Writes 0 to Status and waits (a bounded number of reads) until the device reads back 0. */
  reset(): void {
    this.writeRegister(MMIO.status, 0);
    for (let i = 0; i < RESET_POLLS; i++) if (this.status === 0) return;
    throw new ProbeError('the device did not finish its reset (Status never read 0)');
  }

  /** Sets `bits` in Status, keeping the ones already set (3.1.1). */
  addStatus(bits: number): void {
    this.writeRegister(MMIO.status, (this.status | bits) & 0xff);
  }

  /** Both 32-bit windows of DeviceFeatures. */
  deviceFeatures(): bigint {
    this.writeRegister(MMIO.deviceFeaturesSel, 0);
    const low = this.readRegister(MMIO.deviceFeatures);
    this.writeRegister(MMIO.deviceFeaturesSel, 1);
    const high = this.readRegister(MMIO.deviceFeatures);
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
    this.writeRegister(MMIO.driverFeaturesSel, 0);
    this.writeRegister(MMIO.driverFeatures, Number(accepted & 0xffff_ffffn));
    this.writeRegister(MMIO.driverFeaturesSel, 1);
    this.writeRegister(MMIO.driverFeatures, Number(accepted >> 32n));
    this.addStatus(STATUS.featuresOk);
    if ((this.status & STATUS.featuresOk) === 0) throw new ProbeError(`the device refused the features 0x${accepted.toString(16)} (FEATURES_OK did not stick)`);
    return accepted;
  }

  /**
   * Sets up queue `index` with at most `maxSize` entries (the device's QueueNumMax rounded down
   * to a power of 2) in `bytes` of guest memory the caller reserved at `base`.
   */
  setUpQueue<T>(memory: GuestMemory, index: number, base: bigint, bytes: number, maxSize: number): VirtqueueDriver<T> {
    this.writeRegister(MMIO.queueSel, index);
    if (this.readRegister(MMIO.queueReady) !== 0) throw new ProbeError(`queue ${index} is already live (QueueReady is not 0)`);
    const max = this.readRegister(MMIO.queueNumMax);
    if (max === 0) throw new ProbeError(`queue ${index} is not available (QueueNumMax 0)`);
    let size = 1;
    while (size * 2 <= Math.min(max, maxSize)) size *= 2;
    const layout = queueLayout(base, size);
    if (layout.bytes > bytes) throw new ProbeError(`queue ${index} of ${size} entries needs ${layout.bytes} bytes, ${bytes} were reserved`);
    const queue = new VirtqueueDriver<T>(memory, layout);
    this.writeRegister(MMIO.queueNum, size);
    this.#writeAddress(MMIO.queueDescLow, layout.descTable);
    this.#writeAddress(MMIO.queueDriverLow, layout.availRing);
    this.#writeAddress(MMIO.queueDeviceLow, layout.usedRing);
    this.writeRegister(MMIO.queueReady, 1);
    return queue;
  }

  /** Tells the device that queue `index` has new buffers. */
  notify(index: number): void {
    this.writeRegister(MMIO.queueNotify, index);
  }

  /** Reads InterruptStatus and acknowledges every bit in it; returns the bits. */
  takeInterrupt(): number {
    const status = this.readRegister(MMIO.interruptStatus);
    if (status !== 0) this.writeRegister(MMIO.interruptAck, status);
    return status;
  }

  /**
   * A u32 of the configuration space, read between two equal ConfigGeneration values so it is
   * not torn by a concurrent change (what Linux's `virtio_cread` does).
   */
  readConfigU32(offset: number): number {
    for (let attempt = 0; ; attempt++) {
      const before = this.readRegister(MMIO.configGeneration);
      const value = this.readRegister(MMIO.config + offset);
      if (this.readRegister(MMIO.configGeneration) === before || attempt === CONFIG_RETRIES) return value;
    }
  }

  writeConfigU32(offset: number, value: number): void {
    this.writeRegister(MMIO.config + offset, value);
  }

  #writeAddress(lowOffset: number, address: bigint): void {
    this.writeRegister(lowOffset, Number(address & 0xffff_ffffn));
    this.writeRegister(lowOffset + 4, Number(address >> 32n));
  }
}
