/**
 * A balloon driver of the tests' own, written from the virtio 1.2 specification (4.2.3
 * virtio-mmio initialization, 2.7 split virtqueues, 5.5 balloon): it negotiates features, sets
 * queues up in guest memory, and hands the device page frame numbers (inflate) or page ranges
 * (free page reporting) — through the transport's registers only, as the guest's driver does.
 * It is the stand-in for Linux's virtio_balloon where KVM cannot boot Linux fast (see support.ts);
 * the Linux tests use the real one.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { GuestMemoryAccess } from '../../src/vstate/memory.js';

interface Registers {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

const REG = { deviceFeatures: 0x10, deviceFeaturesSel: 0x14, driverFeatures: 0x20, driverFeaturesSel: 0x24, queueSel: 0x30, queueNum: 0x38, queueReady: 0x44, queueNotify: 0x50, interruptAck: 0x64, status: 0x70, queueDescLow: 0x80, queueDriverLow: 0x90, queueDeviceLow: 0xa0, config: 0x100 } as const;
const STATUS = { acknowledge: 1, driver: 2, featuresOk: 8, driverOk: 4 } as const;
/** Turns of the event loop a notification may take before the driver gives up on it. */
const MAX_TURNS = 1000;
export const QUEUE_SIZE = 256;
/** Linux's VIRTIO_BALLOON_ARRAY_PFNS_MAX: frame numbers per inflate buffer. */
export const PFNS_PER_BUFFER = 256;

interface Ring {
  readonly index: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  next: number;
  availIdx: number;
  usedSeen: number;
}

export class TestBalloonDriver {
  readonly #regs: Registers;
  readonly #memory: GuestMemoryAccess;
  readonly #rings: Ring[] = [];
  /** Where buffers the driver writes (frame number arrays) live, after the rings. */
  #scratch: number;

  /**
   * `queueArea`: guest memory the rings and pfn buffers may use (the caller keeps the balloon's
   * pages out of it). `queues`: how many queues the device has with the features accepted.
   */
  constructor(regs: Registers, memory: GuestMemoryAccess, options: { queueArea: number; queues: number; features: bigint }) {
    this.#regs = regs;
    this.#memory = memory;
    const w32 = (offset: number, value: number): void => {
      const data = new Uint8Array(4);
      new DataView(data.buffer).setUint32(0, value >>> 0, true);
      regs.write(offset, data);
    };
    w32(REG.status, 0);
    w32(REG.status, STATUS.acknowledge);
    w32(REG.status, STATUS.acknowledge | STATUS.driver);
    for (const select of [0, 1]) {
      w32(REG.driverFeaturesSel, select);
      w32(REG.driverFeatures, Number((options.features >> BigInt(32 * select)) & 0xffff_ffffn));
    }
    w32(REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk);
    let at = options.queueArea;
    for (let index = 0; index < options.queues; index++) {
      const ring: Ring = { index, desc: at, avail: at + 16 * QUEUE_SIZE, used: at + 16 * QUEUE_SIZE + 4096, next: 0, availIdx: 0, usedSeen: 0 };
      at += 16 * QUEUE_SIZE + 8192;
      w32(REG.queueSel, index);
      w32(REG.queueNum, QUEUE_SIZE);
      w32(REG.queueDescLow, ring.desc);
      w32(REG.queueDriverLow, ring.avail);
      w32(REG.queueDeviceLow, ring.used);
      w32(REG.queueReady, 1);
      this.#rings.push(ring);
    }
    this.#scratch = at;
    w32(REG.status, STATUS.acknowledge | STATUS.driver | STATUS.featuresOk | STATUS.driverOk);
  }

  /** The device's status register, as the driver reads it. */
  get status(): number {
    const data = new Uint8Array(4);
    this.#regs.read(REG.status, data);
    return new DataView(data.buffer).getUint32(0, true);
  }

  /** `num_pages` of the configuration space. */
  targetPages(): number {
    const data = new Uint8Array(4);
    this.#regs.read(REG.config, data);
    return new DataView(data.buffer).getUint32(0, true);
  }

  /**
   * Inflates: `pfns` in buffers of 256, one notification per buffer, each waited for in the used
   * ring as Linux's tell_host waits, and actual_pages written after each. Returns the
   * notifications.
   */
  async inflate(pfns: readonly number[]): Promise<number> {
    const ring = this.#ring(0);
    let notifications = 0;
    let actual = 0;
    for (let start = 0; start < pfns.length; start += PFNS_PER_BUFFER) {
      const batch = pfns.slice(start, start + PFNS_PER_BUFFER);
      const buffer = this.#scratch;
      batch.forEach((pfn, i) => {
        this.#memory.writeU32(buffer + 4 * i, pfn);
      });
      await this.#submit(ring, [{ addr: buffer, len: 4 * batch.length }]);
      notifications++;
      actual += batch.length;
      const data = new Uint8Array(4);
      new DataView(data.buffer).setUint32(0, actual, true);
      this.#regs.write(REG.config + 4, data);
    }
    return notifications;
  }

  /** Reports free ranges on queue `index` (the reporting queue): one chain of them, waited for. */
  async report(index: number, ranges: readonly { addr: number; len: number }[]): Promise<void> {
    await this.#submit(this.#ring(index), ranges);
  }

  #ring(index: number): Ring {
    const ring = this.#rings[index];
    if (ring === undefined) throw new Error(`no queue ${index}`);
    return ring;
  }

  /** One chain of `buffers` (device-readable), made available, notified, and its use awaited. */
  async #submit(ring: Ring, buffers: readonly { addr: number; len: number }[]): Promise<void> {
    const memory = this.#memory;
    const head = ring.next;
    buffers.forEach((buffer, i) => {
      const slot = (head + i) % QUEUE_SIZE;
      const at = ring.desc + 16 * slot;
      memory.writeU64(at, buffer.addr);
      memory.writeU32(at + 8, buffer.len);
      memory.writeU16(at + 12, i + 1 < buffers.length ? 1 : 0);
      memory.writeU16(at + 14, (slot + 1) % QUEUE_SIZE);
    });
    ring.next = (head + buffers.length) % QUEUE_SIZE;
    memory.writeU16(ring.avail + 4 + 2 * (ring.availIdx % QUEUE_SIZE), head);
    ring.availIdx = (ring.availIdx + 1) & 0xffff;
    memory.writeU16(ring.avail + 2, ring.availIdx);
    const notify = new Uint8Array(4);
    new DataView(notify.buffer).setUint32(0, ring.index, true);
    this.#regs.write(REG.queueNotify, notify);
    // The transport processes a notification at once, as far as the device's budget for this
    // turn of the event loop goes (issue 16 §3); past it, on later turns, as a vCPU's next exit
    // would find it.
    let usedIdx = memory.readU16(ring.used + 2);
    for (let turn = 0; turn < MAX_TURNS && usedIdx === ring.usedSeen; turn++) {
      await nextTurn();
      usedIdx = memory.readU16(ring.used + 2);
    }
    if (usedIdx !== ((ring.usedSeen + 1) & 0xffff)) throw new Error(`queue ${ring.index}: the device used ${usedIdx - ring.usedSeen} chains, expected 1`);
    ring.usedSeen = usedIdx;
    const ack = new Uint8Array([3, 0, 0, 0]);
    this.#regs.write(REG.interruptAck, ack);
  }
}
