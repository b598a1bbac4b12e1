/**
 * Fuzz support: a `GuestMemory` that records every access the device makes, so a property can
 * check that none leaves guest memory and that each notification does bounded work.
 *
 * Only the outermost call is recorded (`readU16` reads through `read`, `writeU32` writes through
 * `write`), and only inside `record()`: the test's own driver writes its rings and buffers
 * outside it. `checkRange` is not an access — it is the checked path a device asks before
 * touching memory — and is not recorded. An attempt is recorded before it runs, so an access
 * that `GuestMemory` refuses (a `GuestMemoryError`) is recorded all the same, with `threw`.
 */
import { GuestMemory, type GuestAddress } from '../../../../../src/vstate/memory.js';

export type AccessKind = 'read' | 'write' | 'discard';

export interface Access {
  readonly kind: AccessKind;
  /** The `GuestMemory` method the device called. */
  readonly method: string;
  /** The address asked for, as a bigint (−1n for a value that is not an address at all). */
  readonly address: bigint;
  readonly length: number;
  /** Whether `address … address + length` lies inside `[0, size]`. */
  readonly inside: boolean;
  /** Whether the call threw (a `GuestMemoryError` for an access outside memory). */
  threw: boolean;
  readonly error?: unknown;
}

export class RecordingMemory extends GuestMemory {
  #depth = 0;
  #recording = false;
  #accesses: Access[] = [];

  /** Runs `body` with the accesses made during it recorded; returns them. */
  record(body: () => void): Access[] {
    if (this.#recording) throw new Error('RecordingMemory.record() is not re-entrant');
    this.#recording = true;
    this.#accesses = [];
    try {
      body();
    } finally {
      this.#recording = false;
    }
    return this.#accesses;
  }

  override read(address: GuestAddress, length: number): Uint8Array {
    return this.#track('read', 'read', address, length, () => super.read(address, length));
  }

  override write(address: GuestAddress, bytes: Uint8Array): void {
    this.#track('write', 'write', address, bytes.length, () => {
      super.write(address, bytes);
    });
  }

  override readU16(address: GuestAddress): number {
    return this.#track('read', 'readU16', address, 2, () => super.readU16(address));
  }

  override readU32(address: GuestAddress): number {
    return this.#track('read', 'readU32', address, 4, () => super.readU32(address));
  }

  override readU64(address: GuestAddress): bigint {
    return this.#track('read', 'readU64', address, 8, () => super.readU64(address));
  }

  override writeU16(address: GuestAddress, value: number): void {
    this.#track('write', 'writeU16', address, 2, () => {
      super.writeU16(address, value);
    });
  }

  override writeU32(address: GuestAddress, value: number): void {
    this.#track('write', 'writeU32', address, 4, () => {
      super.writeU32(address, value);
    });
  }

  override writeU64(address: GuestAddress, value: bigint | number): void {
    this.#track('write', 'writeU64', address, 8, () => {
      super.writeU64(address, value);
    });
  }

  override discardRange(address: GuestAddress, length: number): number {
    return this.#track('discard', 'discardRange', address, length, () => super.discardRange(address, length));
  }

  #track<T>(kind: AccessKind, method: string, address: GuestAddress, length: number, run: () => T): T {
    if (!this.#recording || this.#depth > 0) return run();
    const big = toBigAddress(address);
    const inside = big >= 0n && Number.isSafeInteger(length) && length >= 0 && big + BigInt(length) <= BigInt(this.size);
    const access: Access = { kind, method, address: big, length, inside, threw: false };
    this.#accesses.push(access);
    this.#depth++;
    try {
      return run();
    } catch (error) {
      access.threw = true;
      Object.assign(access, { error });
      throw error;
    } finally {
      this.#depth--;
    }
  }
}

function toBigAddress(address: GuestAddress): bigint {
  if (typeof address === 'bigint') return address;
  return Number.isSafeInteger(address) ? BigInt(address) : -1n;
}

/** An access, for a failure message. */
export function describeAccess(access: Access): string {
  return `${access.method}(0x${access.address.toString(16)}, ${access.length})${access.threw ? ' threw' : ''}`;
}
