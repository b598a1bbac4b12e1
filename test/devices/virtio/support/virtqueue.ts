/**
 * Test support: a split virtqueue laid out in guest memory the way a driver lays it out, and the
 * driver's side of it — writing descriptors, making chains available, reading what the device
 * returned in the used ring (virtio 1.2, 2.7).
 *
 * Everything is written through `GuestMemory` with the layout of the specification, not through
 * `Queue`, so a test checks the device's reading of the rings against an independent writer.
 * Offsets written out here on purpose: descriptor {addr u64, len u32, flags u16, next u16} (16
 * bytes), available ring {flags u16, idx u16, ring[size] u16}, used ring {flags u16, idx u16,
 * ring[size] {id u32, len u32}}; no event-index fields (VIRTIO_F_EVENT_IDX is never offered).
 */
import { Queue } from '../../../../src/devices/virtio/queue.js';
import type { GuestMemoryAccess as GuestMemory } from '../../../../src/vstate/memory.js';

/** Descriptor flags (virtio 1.2, 2.7.5), spelled out again so the tests do not trust the queue's. */
export const DESC_F_NEXT = 1;
export const DESC_F_WRITE = 2;
export const DESC_F_INDIRECT = 4;

/**
 * Where a queue lives in guest memory, and the driver's own progress on it. `nextDescriptor` and
 * `lastUsed` are the driver's state; tests may change them (to reuse slots or re-read entries).
 */
export interface QueueLayout {
  /** The queue size the driver will write to QueueNum. */
  readonly size: number;
  readonly descTable: bigint;
  /** The available ring (the driver area). */
  readonly availRing: bigint;
  /** The used ring (the device area). */
  readonly usedRing: bigint;
  /** The first byte after the used ring: where the next queue or a buffer may go. */
  readonly end: bigint;
  /** The table slot `putChain` writes the next descriptor into (modulo `size`). */
  nextDescriptor: number;
  /** The used-ring index `usedEntries` has read up to (modulo 2^16). */
  lastUsed: number;
}

/** One buffer of a chain, as `putChain` takes it. */
export interface BufferSpec {
  readonly addr: bigint | number;
  readonly len: number;
  /** The device writes it (VIRTQ_DESC_F_WRITE). */
  readonly writeOnly?: boolean;
}

/** A descriptor written raw, every field as given (for malformed tables). */
export interface RawDescriptor {
  readonly addr: bigint | number;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

/** An element of the used ring. */
export interface UsedElement {
  /** The head index of the chain returned. */
  readonly id: number;
  /** The bytes the device says it wrote. */
  readonly len: number;
}

/**
 * Lays out a queue of `size` entries at `base` (16-byte aligned): the descriptor table, then the
 * available ring, then the used ring at the next 4-byte boundary. Zeroes the three areas, as a
 * driver's freshly allocated rings are. Throws a RangeError if `base` is misaligned.
 */
export function layoutQueue(memory: GuestMemory, base: bigint | number, size: number): QueueLayout {
  const descTable = BigInt(base);
  if (descTable % 16n !== 0n) throw new RangeError(`layoutQueue: base 0x${descTable.toString(16)} is not 16-byte aligned`);
  const availRing = descTable + BigInt(16 * size);
  const usedRing = alignUp(availRing + BigInt(6 + 2 * size), 4n);
  const end = usedRing + BigInt(6 + 8 * size);
  memory.write(descTable, new Uint8Array(Number(end - descTable)));
  return { size, descTable, availRing, usedRing, end, nextDescriptor: 0, lastUsed: 0 };
}

/**
 * The device's side of a queue laid out at `layout` (by `layoutQueue` or a driver), as a
 * transport hands it to a device once the driver made it ready: size, the three addresses, ready.
 */
export function deviceQueue(
  layout: { readonly size: number; readonly descTable: bigint; readonly availRing: bigint; readonly usedRing: bigint },
  maxSize: number = layout.size,
): Queue {
  const queue = new Queue(maxSize);
  queue.size = layout.size;
  queue.descTable = layout.descTable;
  queue.availRing = layout.availRing;
  queue.usedRing = layout.usedRing;
  queue.ready = true;
  return queue;
}

/** Writes descriptor `index` of the table with every field as given (no checks: a guest's table). */
export function writeDescriptor(memory: GuestMemory, queue: QueueLayout, index: number, descriptor: RawDescriptor): void {
  const at = queue.descTable + BigInt(16 * index);
  memory.writeU64(at, BigInt(descriptor.addr));
  memory.writeU32(at + 8n, descriptor.len);
  memory.writeU16(at + 12n, descriptor.flags);
  memory.writeU16(at + 14n, descriptor.next);
}

/**
 * Makes the chain starting at descriptor `head` available: writes `head` into the available ring
 * at the current `avail.idx` (read from memory, so a test that moved it is respected), then bumps
 * `avail.idx` modulo 2^16. Returns the new `avail.idx`.
 */
export function pushAvail(memory: GuestMemory, queue: QueueLayout, head: number): number {
  const idx = availIndex(memory, queue);
  memory.writeU16(queue.availRing + 4n + BigInt(2 * (idx % queue.size)), head);
  const next = (idx + 1) & 0xffff;
  memory.writeU16(queue.availRing + 2n, next);
  return next;
}

/**
 * Writes `buffers` as one chain into consecutive table slots from `queue.nextDescriptor`
 * (wrapping at `size`), linked with VIRTQ_DESC_F_NEXT, makes it available (`pushAvail`) and
 * returns its head index. At least one buffer, at most `size`.
 */
export function putChain(memory: GuestMemory, queue: QueueLayout, buffers: readonly BufferSpec[]): number {
  if (buffers.length === 0 || buffers.length > queue.size) throw new RangeError(`putChain: ${buffers.length} buffers for a queue of ${queue.size}`);
  const head = queue.nextDescriptor % queue.size;
  buffers.forEach((buffer, i) => {
    const index = (head + i) % queue.size;
    const last = i === buffers.length - 1;
    writeDescriptor(memory, queue, index, {
      addr: buffer.addr,
      len: buffer.len,
      flags: (last ? 0 : DESC_F_NEXT) | (buffer.writeOnly === true ? DESC_F_WRITE : 0),
      next: last ? 0 : (index + 1) % queue.size,
    });
  });
  queue.nextDescriptor = (head + buffers.length) % queue.size;
  pushAvail(memory, queue, head);
  return head;
}

/** The driver's `avail.idx` as it is in memory. */
export function availIndex(memory: GuestMemory, queue: QueueLayout): number {
  return memory.readU16(queue.availRing + 2n);
}

/** Sets `avail.idx` (for a guest that corrupts it). */
export function setAvailIndex(memory: GuestMemory, queue: QueueLayout, idx: number): void {
  memory.writeU16(queue.availRing + 2n, idx & 0xffff);
}

/** The device's `used.idx` as it is in memory. */
export function usedIndex(memory: GuestMemory, queue: QueueLayout): number {
  return memory.readU16(queue.usedRing + 2n);
}

/**
 * The used elements the device added since the last call (from `queue.lastUsed` to `used.idx`),
 * in order, and moves `queue.lastUsed` on — what a driver's `virtqueue_get_buf` loop sees.
 * Throws if the device moved `used.idx` more than `size` ahead (a device bug).
 */
export function usedEntries(memory: GuestMemory, queue: QueueLayout): UsedElement[] {
  const idx = usedIndex(memory, queue);
  const count = (idx - queue.lastUsed) & 0xffff;
  if (count > queue.size) throw new Error(`usedEntries: used.idx ${idx} is ${count} ahead of ${queue.lastUsed}, more than the size ${queue.size}`);
  const out: UsedElement[] = [];
  for (let i = 0; i < count; i++) {
    const at = queue.usedRing + 4n + BigInt(8 * ((queue.lastUsed + i) % queue.size));
    out.push({ id: memory.readU32(at), len: memory.readU32(at + 4n) });
  }
  queue.lastUsed = idx;
  return out;
}

/** `value` rounded up to a multiple of `to`. */
export function alignUp(value: bigint, to: bigint): bigint {
  return ((value + to - 1n) / to) * to;
}
