/**
 * A split virtqueue (virtio 1.2, 2.7): the descriptor table, the available ring the driver fills
 * and the used ring the device fills, all in guest memory. The queue knows nothing of devices.
 *
 * Everything read from the guest is untrusted and checked here, in one place:
 * - the available index may run at most `size` entries ahead of the device's own, or the ring
 *   is corrupted (`InvalidAvailIndexError`; Firecracker panics the VMM here, a device of this
 *   project asks for a reset instead);
 * - a chain's descriptor indices are below `size`, it has at most `size` descriptors (so a loop
 *   ends), it uses no indirect table (VIRTIO_F_INDIRECT_DESC is not offered), and every buffer
 *   lies inside guest memory (`MalformedChainError`: the device skips that chain).
 * Each notification thus costs at most `size` chains of at most `size` descriptors.
 *
 * Every walk of a chain is this module's. A device that judges the buffers' ranges itself walks
 * with `{ buffers: false }`, and checks a buffer here (`checkBuffer`) before it reads it: for a
 * buffer it may skip unread, or a range it only hands to `discardRange` (where outside memory is
 * a release that failed, not a malformed chain).
 */
import { GuestMemoryError, type GuestAddress, type GuestMemoryAccess } from '../../vstate/memory.js';

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;

const DESCRIPTOR_SIZE = 16;
/** Below this, a ring address plus an offset into the ring is exact as a number. */
const NUMBER_ADDRESS_LIMIT = 1n << 52n;

/**
 * `base + offset` (an offset into a ring, far below 2^20), as a number whenever that is exact:
 * the rings are read and written several times per chain, and BigInt arithmetic allocates.
 */
function ringAddress(base: bigint, offset: number): GuestAddress {
  return base < NUMBER_ADDRESS_LIMIT ? Number(base) + offset : base + BigInt(offset);
}

/** A descriptor as read from the table, already checked. */
export interface Descriptor {
  readonly index: number;
  readonly addr: bigint;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
  /** The device may write this buffer (VIRTQ_DESC_F_WRITE); it must not read it. */
  readonly writeOnly: boolean;
}

/** What a walk of a chain checks beyond its structure (indices, length, no indirect table). */
export interface ChainChecks {
  /** Whether each buffer must lie inside guest memory. @default true */
  readonly buffers?: boolean;
}

/** The available index ran more than a queue's size ahead: the ring cannot be trusted. */
export class InvalidAvailIndexError extends Error {
  override name = 'InvalidAvailIndexError';
  constructor(
    readonly availIndex: number,
    readonly nextAvail: number,
    readonly size: number,
  ) {
    super(`The available ring's index ${availIndex} is ${(availIndex - nextAvail) & 0xffff} entries ahead of ${nextAvail}, more than the queue's size ${size}`);
  }
}

/** A chain the device cannot use: what is wrong and where. */
export class MalformedChainError extends Error {
  override name = 'MalformedChainError';
}

/** One chain popped from the available ring: its head, and its descriptors read on demand. */
export class DescriptorChain {
  constructor(
    readonly queue: Queue,
    /** The head descriptor's index, as the driver wrote it in the available ring. */
    readonly head: number,
  ) {}

  /**
   * The chain's descriptors, in order, each checked; throws `MalformedChainError`. With
   * `{ buffers: false }` the buffers' ranges are left to the caller.
   */
  descriptors(memory: GuestMemoryAccess, checks: ChainChecks = {}): Descriptor[] {
    const size = this.queue.size;
    const out: Descriptor[] = [];
    let index = this.head;
    for (;;) {
      if (index >= size) throw new MalformedChainError(`descriptor index ${index} is outside the table of ${size}`);
      if (out.length === size) throw new MalformedChainError(`the chain from ${this.head} is longer than the queue (a loop?)`);
      const descriptor = this.queue.readDescriptor(memory, index);
      if ((descriptor.flags & VIRTQ_DESC_F_INDIRECT) !== 0) throw new MalformedChainError(`descriptor ${index} is indirect, which was not offered`);
      if (checks.buffers !== false) this.checkBuffer(memory, descriptor);
      out.push(descriptor);
      if ((descriptor.flags & VIRTQ_DESC_F_NEXT) === 0) return out;
      index = descriptor.next;
    }
  }

  /**
   * The head descriptor alone, checked as `descriptors()` checks each; throws
   * `MalformedChainError`. With `{ buffers: false }` its buffer is left to the caller: for a
   * device that may skip it unread, and calls `checkBuffer` only before it reads.
   */
  headDescriptor(memory: GuestMemoryAccess, checks: ChainChecks = {}): Descriptor {
    const size = this.queue.size;
    if (this.head >= size) throw new MalformedChainError(`descriptor index ${this.head} is outside the table of ${size}`);
    const descriptor = this.queue.readDescriptor(memory, this.head);
    if ((descriptor.flags & VIRTQ_DESC_F_INDIRECT) !== 0) throw new MalformedChainError(`descriptor ${this.head} is indirect, which was not offered`);
    if (checks.buffers !== false) this.checkBuffer(memory, descriptor);
    return descriptor;
  }

  /** Checks that `descriptor`'s buffer lies inside guest memory; throws `MalformedChainError`. */
  checkBuffer(memory: GuestMemoryAccess, descriptor: Descriptor): void {
    try {
      memory.checkRange(descriptor.addr, descriptor.len);
    } catch (error) {
      if (error instanceof GuestMemoryError) throw new MalformedChainError(`descriptor ${descriptor.index}: ${error.message}`);
      throw error;
    }
  }
}

export class Queue {
  /** The size the driver chose (a power of 2, at most `maxSize`); `maxSize` until it chooses. */
  size: number;
  ready = false;
  descTable = 0n;
  availRing = 0n;
  usedRing = 0n;
  /** The next available-ring entry the device will take, modulo 2^16. */
  nextAvail = 0;
  /** The next used-ring entry the device will fill, modulo 2^16. */
  nextUsed = 0;

  constructor(readonly maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > 32768 || (maxSize & (maxSize - 1)) !== 0) {
      throw new RangeError(`Queue: the largest size must be a power of 2 up to 32768, got ${maxSize}`);
    }
    this.size = maxSize;
  }

  /**
   * Whether the driver's set-up can be used: a size that is a power of 2 up to `maxSize`, and the
   * three areas aligned (16, 2 and 4 bytes) and inside guest memory.
   */
  isValid(memory: GuestMemoryAccess): boolean {
    const size = this.size;
    if (!this.ready || size < 1 || size > this.maxSize || (size & (size - 1)) !== 0) return false;
    if (this.descTable % 16n !== 0n || this.availRing % 2n !== 0n || this.usedRing % 4n !== 0n) return false;
    try {
      memory.checkRange(this.descTable, DESCRIPTOR_SIZE * size);
      memory.checkRange(this.availRing, 6 + 2 * size);
      memory.checkRange(this.usedRing, 6 + 8 * size);
    } catch (error) {
      if (error instanceof GuestMemoryError) return false;
      throw error;
    }
    return true;
  }

  /** How many chains the driver has made available and the device not yet taken. */
  pending(memory: GuestMemoryAccess): number {
    const availIndex = memory.readU16(ringAddress(this.availRing, 2));
    const ahead = (availIndex - this.nextAvail) & 0xffff;
    if (ahead > this.size) throw new InvalidAvailIndexError(availIndex, this.nextAvail, this.size);
    return ahead;
  }

  /** The next available chain, or undefined; throws `InvalidAvailIndexError` on a corrupted ring. */
  pop(memory: GuestMemoryAccess): DescriptorChain | undefined {
    if (this.pending(memory) === 0) return undefined;
    const head = memory.readU16(ringAddress(this.availRing, 4 + 2 * (this.nextAvail % this.size)));
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    return new DescriptorChain(this, head);
  }

  /** Puts the last popped chain back, to be popped again next time. */
  undoPop(): void {
    this.nextAvail = (this.nextAvail - 1) & 0xffff;
  }

  /** Returns chain `head` to the driver, with `len` bytes written into it. */
  addUsed(memory: GuestMemoryAccess, head: number, len: number): void {
    const entry = 4 + 8 * (this.nextUsed % this.size);
    memory.writeU32(ringAddress(this.usedRing, entry), head);
    memory.writeU32(ringAddress(this.usedRing, entry + 4), len);
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
    memory.writeU16(ringAddress(this.usedRing, 2), this.nextUsed);
  }

  /** Back to the state before the driver set the queue up. */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descTable = 0n;
    this.availRing = 0n;
    this.usedRing = 0n;
    this.nextAvail = 0;
    this.nextUsed = 0;
  }

  /** Descriptor `index` of the table, its fields as the guest wrote them. */
  readDescriptor(memory: GuestMemoryAccess, index: number): Descriptor {
    const at = DESCRIPTOR_SIZE * index;
    const flags = memory.readU16(ringAddress(this.descTable, at + 12));
    return {
      index,
      addr: memory.readU64(ringAddress(this.descTable, at)),
      len: memory.readU32(ringAddress(this.descTable, at + 8)),
      flags,
      next: memory.readU16(ringAddress(this.descTable, at + 14)),
      writeOnly: (flags & VIRTQ_DESC_F_WRITE) !== 0,
    };
  }
}
