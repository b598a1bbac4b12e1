/**
 * A tiny virtio-mmio version 2 register block for the guest driver's tests, independent of the
 * project's transport: it keeps a log of register accesses, offers the features it is given,
 * hands the driver's queue set-up to `Queue` objects (the device side of src/devices/virtio/
 * queue.ts), and calls `onNotify` when the driver notifies a queue.
 */
import type { GuestMemory } from '../../../src/vstate/memory.js';
import { Queue } from '../../../src/devices/virtio/queue.js';

export interface FakeDeviceOptions {
  readonly memory: GuestMemory;
  readonly deviceId?: number;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize?: number;
  readonly magic?: number;
  /** Called on QueueNotify, after DRIVER_OK. */
  readonly onNotify?: (index: number, device: FakeMmioDevice) => void;
  /** Called when the driver writes the configuration space. */
  readonly onConfigWrite?: (offset: number, data: Uint8Array, device: FakeMmioDevice) => void;
  /** Refuse FEATURES_OK whatever the driver acked. */
  readonly refuseFeatures?: boolean;
  /** Called when InterruptStatus gains a bit. */
  readonly onInterrupt?: () => void;
}

export interface RegisterAccess {
  readonly op: 'read' | 'write';
  readonly offset: number;
  readonly value: number;
}

export class FakeMmioDevice {
  readonly memory: GuestMemory;
  readonly queues: Queue[];
  readonly config: Uint8Array;
  readonly log: RegisterAccess[] = [];
  status = 0;
  interruptStatus = 0;
  configGeneration = 0;
  driverFeatures = 0n;
  /** Reads of ConfigGeneration that should bump it first (to test the retry loop). */
  tearConfigReads = 0;
  readonly notified: number[] = [];
  readonly #options: FakeDeviceOptions;
  #deviceFeaturesSel = 0;
  #driverFeaturesSel = 0;
  #queueSel = 0;

  constructor(options: FakeDeviceOptions) {
    this.#options = options;
    this.memory = options.memory;
    this.queues = options.queueMaxSizes.map((size) => new Queue(size));
    this.config = new Uint8Array(options.configSize ?? 12);
  }

  get configView(): DataView {
    return new DataView(this.config.buffer);
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset >= 0x100) {
      data.set(this.config.subarray(offset - 0x100, offset - 0x100 + data.length));
      this.log.push({ op: 'read', offset, value: data.length === 4 ? new DataView(data.buffer, data.byteOffset).getUint32(0, true) : -1 });
      return;
    }
    if (data.length !== 4) return;
    const value = this.#readRegister(offset) >>> 0;
    new DataView(data.buffer, data.byteOffset).setUint32(0, value, true);
    this.log.push({ op: 'read', offset, value });
  }

  write(offset: number, data: Uint8Array): void {
    if (offset >= 0x100) {
      this.config.set(data, offset - 0x100);
      this.log.push({ op: 'write', offset, value: data.length === 4 ? new DataView(data.buffer, data.byteOffset).getUint32(0, true) : -1 });
      this.#options.onConfigWrite?.(offset - 0x100, data, this);
      return;
    }
    if (data.length !== 4) return;
    const value = new DataView(data.buffer, data.byteOffset).getUint32(0, true);
    this.log.push({ op: 'write', offset, value });
    this.#writeRegister(offset, value);
  }

  /** Raises an interrupt cause (1 used buffer, 2 configuration change). */
  raise(bits: number): void {
    const before = this.interruptStatus;
    this.interruptStatus |= bits;
    if (bits === 2) this.configGeneration++;
    if (this.interruptStatus !== before) this.#options.onInterrupt?.();
  }

  /** The register writes, as [offset, value] pairs. */
  writes(): [number, number][] {
    return this.log.filter((a) => a.op === 'write').map((a) => [a.offset, a.value]);
  }

  #queue(): Queue | undefined {
    return this.queues[this.#queueSel];
  }

  #readRegister(offset: number): number {
    const features = this.#options.features;
    switch (offset) {
      case 0x000: return this.#options.magic ?? 0x7472_6976;
      case 0x004: return 2;
      case 0x008: return this.#options.deviceId ?? 5;
      case 0x00c: return 0x1af4;
      case 0x010: return this.#deviceFeaturesSel === 0 ? Number(features & 0xffff_ffffn) : this.#deviceFeaturesSel === 1 ? Number(features >> 32n) : 0;
      case 0x034: return this.#queue()?.maxSize ?? 0;
      case 0x044: return this.#queue()?.ready === true ? 1 : 0;
      case 0x060: return this.interruptStatus;
      case 0x070: return this.status;
      case 0x0fc:
        if (this.tearConfigReads > 0) {
          this.tearConfigReads--;
          this.configGeneration++;
        }
        return this.configGeneration;
      default: return 0;
    }
  }

  #writeRegister(offset: number, value: number): void {
    const queue = this.#queue();
    const low = (old: bigint): bigint => (old & ~0xffff_ffffn) | BigInt(value);
    const high = (old: bigint): bigint => (old & 0xffff_ffffn) | (BigInt(value) << 32n);
    switch (offset) {
      case 0x014: this.#deviceFeaturesSel = value; break;
      case 0x020:
        if (this.#driverFeaturesSel === 0) this.driverFeatures = (this.driverFeatures & ~0xffff_ffffn) | BigInt(value);
        else if (this.#driverFeaturesSel === 1) this.driverFeatures = (this.driverFeatures & 0xffff_ffffn) | (BigInt(value) << 32n);
        break;
      case 0x024: this.#driverFeaturesSel = value; break;
      case 0x030: this.#queueSel = value; break;
      case 0x038: if (queue) queue.size = value; break;
      case 0x044: if (queue) queue.ready = value === 1; break;
      case 0x050:
        if ((this.status & 4) !== 0) {
          this.notified.push(value);
          this.#options.onNotify?.(value, this);
        }
        break;
      case 0x064: this.interruptStatus &= ~value; break;
      case 0x070: this.#writeStatus(value); break;
      case 0x080: if (queue) queue.descTable = low(queue.descTable); break;
      case 0x084: if (queue) queue.descTable = high(queue.descTable); break;
      case 0x090: if (queue) queue.availRing = low(queue.availRing); break;
      case 0x094: if (queue) queue.availRing = high(queue.availRing); break;
      case 0x0a0: if (queue) queue.usedRing = low(queue.usedRing); break;
      case 0x0a4: if (queue) queue.usedRing = high(queue.usedRing); break;
      default: break;
    }
  }

  #writeStatus(value: number): void {
    if (value === 0) {
      this.status = 0;
      this.interruptStatus = 0;
      this.driverFeatures = 0n;
      for (const queue of this.queues) queue.reset();
      return;
    }
    let next = value;
    if ((value & 8) !== 0 && (this.status & 8) === 0) {
      const unoffered = (this.driverFeatures & ~this.#options.features) !== 0n;
      if (this.#options.refuseFeatures === true || unoffered || (this.driverFeatures & (1n << 32n)) === 0n) next &= ~8;
    }
    this.status = next;
  }
}
