/**
 * A scripted virtio-balloon device on the fake register block, for the driver's tests: it
 * records what the driver sends on each queue and, unless told to hold them, gives buffers back
 * at once (discarding inflated, reported and hinted ranges as a host would).
 */
import type { DescriptorChain, Descriptor } from '../../../src/devices/virtio/queue.js';
import { GuestMemory, PAGE_SIZE } from '../../../src/vstate/memory.js';
import { FakeMmioDevice } from './fake-mmio-device.js';

export const F = { mustTellHost: 0, statsVq: 1, deflateOnOom: 2, freePageHint: 3, pageReporting: 5, version1: 32 } as const;

export type Role = 'inflate' | 'deflate' | 'stats' | 'hint' | 'report';

export interface Received {
  readonly role: Role;
  readonly head: number;
  readonly descriptors: readonly Descriptor[];
  /** The contents of the first descriptor when received, if it is small (a pfn array, stats, an id). */
  readonly bytes: Uint8Array;
}

export class FakeBalloon {
  readonly memory: GuestMemory;
  readonly device: FakeMmioDevice;
  readonly roles: Role[];
  readonly received: Received[] = [];
  /** Chains taken but not yet given back, by role. */
  readonly held = new Map<Role, DescriptorChain[]>();
  /** Roles whose buffers the device keeps until `release()`. */
  readonly hold = new Set<Role>();
  #interrupt: (() => void) | undefined;

  constructor(options: { memoryMiB: number; features: readonly number[]; queueSize?: number }) {
    this.memory = new GuestMemory(options.memoryMiB * 1024 * 1024);
    const bits = options.features.reduce((all, bit) => all | (1n << BigInt(bit)), 1n << 32n);
    const has = (bit: number): boolean => options.features.includes(bit);
    this.roles = ['inflate', 'deflate'];
    if (has(F.statsVq)) this.roles.push('stats');
    if (has(F.freePageHint)) this.roles.push('hint');
    if (has(F.pageReporting)) this.roles.push('report');
    // The stats buffer is always held, as a device holds it until its next poll.
    this.hold.add('stats');
    this.device = new FakeMmioDevice({
      memory: this.memory,
      features: bits,
      queueMaxSizes: this.roles.map(() => options.queueSize ?? 256),
      onNotify: (index) => {
        this.#serve(index);
      },
      onInterrupt: () => this.#interrupt?.(),
    });
  }

  /** Where the transport would call the guest's interrupt handler. */
  connect(handler: () => void): void {
    this.#interrupt = handler;
  }

  setConfig(field: 'num_pages' | 'free_page_hint_cmd_id', value: number): void {
    this.device.configView.setUint32(field === 'num_pages' ? 0 : 8, value, true);
    this.device.raise(2);
  }

  get actualPages(): number {
    return this.device.configView.getUint32(4, true);
  }

  /** Everything received on `role`, each chain's descriptors. */
  on(role: Role): Received[] {
    return this.received.filter((r) => r.role === role);
  }

  /** The u32 frame numbers of an inflate or deflate buffer, as received. */
  pfns(received: Received | undefined): number[] {
    if (received === undefined) return [];
    const view = new DataView(received.bytes.buffer);
    const out: number[] = [];
    for (let i = 0; i + 4 <= received.bytes.length; i += 4) out.push(view.getUint32(i, true));
    return out;
  }

  /** The first u32 of a buffer as received (a hinting command id). */
  u32(received: Received | undefined): number | undefined {
    if (received === undefined || received.bytes.length < 4) return undefined;
    return new DataView(received.bytes.buffer).getUint32(0, true);
  }

  /** Gives back every held chain of `role`. */
  release(role: Role): void {
    const queue = this.device.queues[this.roles.indexOf(role)];
    const chains = this.held.get(role) ?? [];
    this.held.set(role, []);
    if (queue === undefined || chains.length === 0) return;
    for (const chain of chains) queue.addUsed(this.memory, chain.head, 0);
    this.device.raise(1);
  }

  #serve(index: number): void {
    const role = this.roles[index];
    const queue = this.device.queues[index];
    if (role === undefined || queue === undefined) return;
    let used = false;
    for (let chain = queue.pop(this.memory); chain !== undefined; chain = queue.pop(this.memory)) {
      const descriptors = chain.descriptors(this.memory);
      const [first] = descriptors;
      const bytes = first !== undefined && first.len <= PAGE_SIZE ? this.memory.read(first.addr, first.len) : new Uint8Array(0);
      const received: Received = { role, head: chain.head, descriptors, bytes };
      this.received.push(received);
      if (role === 'inflate') {
        for (const pfn of this.pfns(received)) this.memory.discardRange(pfn * PAGE_SIZE, PAGE_SIZE);
      }
      if (role === 'report' || role === 'hint') {
        for (const d of descriptors) if (d.len !== 4) this.memory.discardRange(d.addr, d.len);
      }
      if (this.hold.has(role)) {
        this.held.set(role, [...(this.held.get(role) ?? []), chain]);
      } else {
        queue.addUsed(this.memory, chain.head, 0);
        used = true;
      }
    }
    if (used) this.device.raise(1);
  }
}
