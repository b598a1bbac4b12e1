/**
 * The driver's side of a split virtqueue (virtio 1.2, 2.7): it owns the descriptor table and the
 * available ring, reads the used ring. Descriptors are handed out from a free list kept by the
 * driver itself (as Linux's `virtio_ring.c` does), so nothing the device writes can corrupt it;
 * a used entry naming a descriptor that is not the head of a chain in flight is a
 * `DeviceProtocolError`.
 *
 * Layout in guest memory, from `base` (each part aligned as 2.7 asks):
 * the descriptor table (16 bytes × size, 16-aligned), the available ring
 * (flags, idx, ring[size], used_event: 6 + 2 × size, 2-aligned), then the used ring
 * (flags, idx, ring[size] of {id u32, len u32}, avail_event: 6 + 8 × size) at the next
 * 64-byte boundary (4-alignment is the minimum; a cache line keeps the device's writes apart).
 */
import type { GuestMemory } from '../vstate/memory.js';
import { DeviceProtocolError, QueueFullError } from './errors.js';

/** Descriptor flags. */
export const DESC_F_NEXT = 1;
export const DESC_F_WRITE = 2;
/** In the used ring's flags: the device asks not to be notified (an optimization hint). */
export const USED_F_NO_NOTIFY = 1;

const DESCRIPTOR_SIZE = 16;
const USED_ALIGN = 64;

/** Where a queue's three parts lie in guest memory. */
export interface QueueLayout {
  readonly size: number;
  readonly descTable: bigint;
  readonly availRing: bigint;
  readonly usedRing: bigint;
}

/** One buffer of a chain: device-readable, or device-writable with `writable`. */
export interface Buffer {
  readonly addr: bigint | number;
  readonly len: number;
  readonly writable?: boolean;
}

/** A chain the device gave back: what the driver attached to it, and the bytes it wrote. */
export interface UsedChain<T> {
  readonly token: T;
  readonly head: number;
  readonly len: number;
}

/** The layout of a queue of `size` entries placed at `base`, and the bytes it spans. */
export function queueLayout(base: bigint, size: number): QueueLayout & { readonly bytes: number } {
  if (!Number.isInteger(size) || size < 1 || size > 32768 || (size & (size - 1)) !== 0) throw new RangeError(`queueLayout: size ${size} is not a power of 2 up to 32768`);
  if (base % 16n !== 0n) throw new RangeError('queueLayout: the descriptor table must be 16-byte aligned');
  const availOffset = DESCRIPTOR_SIZE * size;
  const usedOffset = Math.ceil((availOffset + 6 + 2 * size) / USED_ALIGN) * USED_ALIGN;
  return {
    size,
    descTable: base,
    availRing: base + BigInt(availOffset),
    usedRing: base + BigInt(usedOffset),
    bytes: usedOffset + 6 + 8 * size,
  };
}

export class VirtqueueDriver<T> {
  readonly memory: GuestMemory;
  readonly layout: QueueLayout;
  readonly size: number;
  /** The free list's links, then each chain's links while it is in flight. */
  readonly #next: Uint16Array;
  readonly #chainLength: Uint16Array;
  readonly #tokens: (T | undefined)[];
  #freeHead = 0;
  #numFree: number;
  #availIdx = 0;
  #lastUsed = 0;
  /**
   * The three parts' addresses as numbers (exact: the constructor wrote them, so they lie in
   * guest memory, below 2^46): each chain reads and writes the rings several times, and BigInt
   * arithmetic allocates.
   */
  readonly #descTable: number;
  readonly #availRing: number;
  readonly #usedRing: number;
  /** One descriptor as written to the table, reused for each. */
  readonly #descriptor = new Uint8Array(DESCRIPTOR_SIZE);
  readonly #descriptorView = new DataView(this.#descriptor.buffer);

  /** Takes over the queue's memory: zeroes both rings and frees every descriptor. */
  constructor(memory: GuestMemory, layout: QueueLayout) {
    this.memory = memory;
    this.layout = layout;
    this.size = layout.size;
    this.#next = new Uint16Array(this.size);
    for (let i = 0; i < this.size; i++) this.#next[i] = (i + 1) % this.size;
    this.#chainLength = new Uint16Array(this.size);
    this.#tokens = new Array<T | undefined>(this.size);
    this.#numFree = this.size;
    memory.write(layout.descTable, new Uint8Array(DESCRIPTOR_SIZE * this.size));
    memory.write(layout.availRing, new Uint8Array(6 + 2 * this.size));
    memory.write(layout.usedRing, new Uint8Array(6 + 8 * this.size));
    this.#descTable = Number(layout.descTable);
    this.#availRing = Number(layout.availRing);
    this.#usedRing = Number(layout.usedRing);
  }

  /** Descriptors free for new chains. */
  get numFree(): number {
    return this.#numFree;
  }

  /** Chains made available and not yet given back. */
  get inFlight(): number {
    let chains = 0;
    for (const token of this.#tokens) if (token !== undefined) chains++;
    return chains;
  }

  /**
   * Writes `buffers` as one chain, puts its head in the available ring and publishes it;
   * `token` comes back with the chain from `popUsed()`. Returns the head's index. The caller
   * notifies the device (`needsNotification()` says whether it asked to be).
   */
  add(buffers: readonly Buffer[], token: T): number {
    if (buffers.length === 0) throw new RangeError('VirtqueueDriver.add: a chain needs at least one buffer');
    if (buffers.length > this.#numFree) throw new QueueFullError(`queue of ${this.size}: ${buffers.length} descriptors wanted, ${this.#numFree} free`);
    const head = this.#freeHead;
    let index = head;
    const bytes = this.#descriptor;
    const view = this.#descriptorView;
    for (let i = 0; i < buffers.length; i++) {
      const buffer = buffers[i];
      if (buffer === undefined) continue;
      const last = i === buffers.length - 1;
      const next = this.#next[index] ?? 0;
      const addr = buffer.addr;
      if (typeof addr === 'number' && Number.isSafeInteger(addr) && addr >= 0) {
        // Split into its two halves: an ordinary address needs no BigInt.
        view.setUint32(0, addr % 0x1_0000_0000, true);
        view.setUint32(4, Math.floor(addr / 0x1_0000_0000), true);
      } else {
        view.setBigUint64(0, BigInt(addr), true);
      }
      view.setUint32(8, buffer.len, true);
      view.setUint16(12, (last ? 0 : DESC_F_NEXT) | (buffer.writable === true ? DESC_F_WRITE : 0), true);
      view.setUint16(14, last ? 0 : next, true);
      this.memory.write(this.#descTable + DESCRIPTOR_SIZE * index, bytes);
      if (!last) index = next;
    }
    this.#freeHead = this.#next[index] ?? 0;
    this.#numFree -= buffers.length;
    this.#chainLength[head] = buffers.length;
    this.#tokens[head] = token;
    // The ring entry first, then the index that publishes it (virtio 1.2, 2.7.13).
    this.memory.writeU16(this.#availRing + 4 + 2 * (this.#availIdx % this.size), head);
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.memory.writeU16(this.#availRing + 2, this.#availIdx);
    return head;
  }

  /** Whether the device wants a notification for new buffers (VIRTQ_USED_F_NO_NOTIFY clear). */
  needsNotification(): boolean {
    return (this.memory.readU16(this.#usedRing) & USED_F_NO_NOTIFY) === 0;
  }

  /** Whether the device has given back a chain not yet taken. */
  hasUsed(): boolean {
    return this.memory.readU16(this.#usedRing + 2) !== this.#lastUsed;
  }

  /**
   * The next chain the device gave back, its descriptors freed, or undefined. Throws
   * `DeviceProtocolError` when the used ring is corrupted.
   */
  popUsed(): UsedChain<T> | undefined {
    const usedIdx = this.memory.readU16(this.#usedRing + 2);
    const ahead = (usedIdx - this.#lastUsed) & 0xffff;
    if (ahead === 0) return undefined;
    if (ahead > this.size) throw new DeviceProtocolError(`the used ring's index ${usedIdx} is ${ahead} entries ahead of ${this.#lastUsed}, more than the queue's size ${this.size}`);
    const entry = this.#usedRing + 4 + 8 * (this.#lastUsed % this.size);
    const head = this.memory.readU32(entry);
    const len = this.memory.readU32(entry + 4);
    const token = head < this.size ? this.#tokens[head] : undefined;
    if (token === undefined) throw new DeviceProtocolError(`the used ring names descriptor ${head}, which is not the head of a chain in flight`);
    this.#lastUsed = (this.#lastUsed + 1) & 0xffff;
    this.#tokens[head] = undefined;
    // Back on the free list, chain and all: the chain's links are the driver's own copy.
    let tail = head;
    const length = this.#chainLength[head] ?? 1;
    for (let i = 1; i < length; i++) tail = this.#next[tail] ?? 0;
    this.#next[tail] = this.#numFree === 0 ? tail : this.#freeHead;
    this.#freeHead = head;
    this.#numFree += length;
    return { token, head, len };
  }
}
