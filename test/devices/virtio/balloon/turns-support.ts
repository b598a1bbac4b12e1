/**
 * Test support for the balloon's work in turns of the event loop: a guest memory that counts the
 * discards made through it (per turn, as the tests take them), a flat memory like v86's RAM, and
 * the hostile queue of issue 16 §3 — full chains whose every range names the RAM above the rings.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FlatGuestMemory } from '../../../../src/vstate/flat-memory.js';
import type { GuestAddress, GuestMemoryAccess } from '../../../../src/vstate/memory.js';
import { pushAvail, putChain, type QueueLayout } from '../support/index.js';

/** What the device discarded through a `CountingMemory` since the last `take()`. */
export interface Discards {
  /** `discardRange` calls that succeeded. */
  calls: number;
  /** The bytes they named. */
  bytes: number;
  /** The whole pages they gave up. */
  pages: number;
}

/** A guest memory that counts the device's discards; every access goes to `inner`. */
export class CountingMemory implements GuestMemoryAccess {
  readonly size: number;
  #counted: Discards = { calls: 0, bytes: 0, pages: 0 };
  #total: Discards = { calls: 0, bytes: 0, pages: 0 };

  constructor(readonly inner: GuestMemoryAccess) {
    this.size = inner.size;
  }

  /** The discards since the last call, and starts counting again. */
  take(): Discards {
    const counted = this.#counted;
    this.#counted = { calls: 0, bytes: 0, pages: 0 };
    return counted;
  }

  /** Every discard since the memory was made. */
  get total(): Readonly<Discards> {
    return this.#total;
  }

  discardRange(address: GuestAddress, length: number): number {
    const pages = this.inner.discardRange(address, length);
    for (const counts of [this.#counted, this.#total]) {
      counts.calls++;
      counts.bytes += length;
      counts.pages += pages;
    }
    return pages;
  }

  residentBytes(): number {
    return this.inner.residentBytes();
  }
  checkRange(address: GuestAddress, length: number): number {
    return this.inner.checkRange(address, length);
  }
  read(address: GuestAddress, length: number): Uint8Array {
    return this.inner.read(address, length);
  }
  readInto(address: GuestAddress, into: Uint8Array): void {
    this.inner.readInto(address, into);
  }
  write(address: GuestAddress, bytes: Uint8Array): void {
    this.inner.write(address, bytes);
  }
  readU16(address: GuestAddress): number {
    return this.inner.readU16(address);
  }
  readU32(address: GuestAddress): number {
    return this.inner.readU32(address);
  }
  readU64(address: GuestAddress): bigint {
    return this.inner.readU64(address);
  }
  writeU16(address: GuestAddress, value: number): void {
    this.inner.writeU16(address, value);
  }
  writeU32(address: GuestAddress, value: number): void {
    this.inner.writeU32(address, value);
  }
  writeU64(address: GuestAddress, value: bigint | number): void {
    this.inner.writeU64(address, value);
  }
}

/** Guest memory as v86's is: one flat byte array, where a discard zeroes. */
export function flatMemory(bytes: number): { memory: FlatGuestMemory; ram: Uint8Array } {
  const ram = new Uint8Array(bytes);
  return { memory: new FlatGuestMemory({ bytes: () => ram }), ram };
}

/** Where the rings of these tests live: below this, never named by a hostile range. */
export const RINGS_END = 0x1_0000;

/**
 * Fills queue `layout` with `chains` chains of `ranges` device-writable descriptors each, every
 * one naming guest memory from `RINGS_END` to its end; returns the chains' heads in order.
 */
export function hostileChains(memory: GuestMemoryAccess, layout: QueueLayout, chains: number, ranges: number): number[] {
  const buffers = Array.from({ length: ranges }, () => ({ addr: RINGS_END, len: memory.size - RINGS_END, writeOnly: true }));
  if (chains * ranges <= layout.size) return Array.from({ length: chains }, () => putChain(memory, layout, buffers));
  // A full table of one chain, made available `chains` times (the 256 × 256).
  const head = putChain(memory, layout, buffers);
  for (let i = 1; i < chains; i++) pushAvail(memory, layout, head);
  return Array.from({ length: chains }, () => head);
}

/** Lets the event loop turn once: the device's pending turn (scheduled before) runs first. */
export async function turn(): Promise<void> {
  await nextTurn();
}
