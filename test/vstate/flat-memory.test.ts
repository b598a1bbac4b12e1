/**
 * Guest memory over an emulator's RAM (`FlatGuestMemory`): the same checked accessors as
 * `GuestMemory` — pinned against it with fast-check, operation by operation — every write
 * reported to the emulator (its JIT), discards that zero without releasing anything, and a view
 * fetched again when a WebAssembly memory grows and detaches the old one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FlatGuestMemory } from '../../src/vstate/flat-memory.js';
import { GuestMemory, GuestMemoryError, PAGE_SIZE, type GuestMemoryAccess } from '../../src/vstate/memory.js';
import { propertyParameters } from '../devices/virtio/support/fast-check.js';

const SIZE = 16 * PAGE_SIZE;

/** `WebAssembly.Memory`, which this project's type libraries (ES2022 and Node's) do not declare. */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer; grow(pages: number): number } } }).WebAssembly.Memory;

function flat(size = SIZE): { memory: FlatGuestMemory; ram: Uint8Array; written: [number, number][] } {
  const ram = new Uint8Array(size);
  const written: [number, number][] = [];
  const memory = new FlatGuestMemory({ bytes: () => ram, written: (start, end) => written.push([start, end]) });
  return { memory, ram, written };
}

test('reads and writes go to the RAM in place, little-endian; every write is reported, end exclusive', () => {
  const { memory, ram, written } = flat();
  memory.writeU16(0x10, 0xbeef);
  memory.writeU32(0x20, 0xdead_beef);
  memory.writeU64(0x30, 2n ** 64n - 2n);
  memory.writeU64(0x40, 2 ** 53 - 1);
  memory.write(0x50, Uint8Array.of(1, 2, 3));
  memory.write(0x60, new Uint8Array(0));
  assert.deepEqual(written, [[0x10, 0x12], [0x20, 0x24], [0x30, 0x38], [0x40, 0x48], [0x50, 0x53]], 'an empty write reports nothing');
  assert.deepEqual([...ram.subarray(0x10, 0x12)], [0xef, 0xbe]);
  assert.equal(memory.readU32(0x20), 0xdead_beef);
  assert.equal(memory.readU64(0x30), 2n ** 64n - 2n);
  assert.equal(memory.readU64(0x40), 2n ** 53n - 1n);
  ram[0x70] = 9;
  assert.deepEqual([...memory.read(0x6f, 3)], [0, 9, 0], 'what the emulator wrote is what the device reads');
  const into = new Uint8Array(3);
  memory.readInto(0x50, into);
  assert.deepEqual([...into], [1, 2, 3]);
  assert.equal(memory.size, SIZE);
  assert.equal(memory.residentBytes(), SIZE, 'the whole RAM, always');
});

test('the same bounds as GuestMemory: GuestMemoryError outside, nothing written, nothing reported', () => {
  const { memory, ram, written } = flat();
  for (const [address, length] of [
    [SIZE - 1, 2],
    [SIZE, 0],
    [-1, 1],
    [2n ** 64n, 1],
    [2n ** 64n - 1n, 2],
    [0.5, 1],
  ] as const) {
    if (address === SIZE && length === 0) {
      assert.equal(memory.checkRange(address, length), SIZE, 'an empty range at the end is inside');
      continue;
    }
    assert.throws(() => { memory.write(address, new Uint8Array(length)); }, GuestMemoryError);
    assert.throws(() => memory.read(address, length), GuestMemoryError);
  }
  assert.throws(() => { memory.writeU32(SIZE - 2, 1); }, GuestMemoryError);
  assert.throws(() => { memory.writeU16(0, 0x1_0000); }, /does not fit 2 bytes/);
  assert.throws(() => { memory.writeU64(0, -1n); }, /is not a 64-bit value/);
  assert.throws(() => memory.discardRange(SIZE - PAGE_SIZE, PAGE_SIZE + 1), GuestMemoryError);
  assert.deepEqual(written, []);
  assert.ok(ram.every((byte) => byte === 0));
});

test('a discard zeroes the range, reports it, and returns the whole pages in it', () => {
  const { memory, ram, written } = flat();
  ram.fill(0xa5);
  assert.equal(memory.discardRange(PAGE_SIZE / 2, 3 * PAGE_SIZE), 2, 'two whole pages between two halves');
  assert.deepEqual(written, [[PAGE_SIZE / 2, PAGE_SIZE / 2 + 3 * PAGE_SIZE]]);
  assert.ok(ram.subarray(PAGE_SIZE / 2, PAGE_SIZE / 2 + 3 * PAGE_SIZE).every((byte) => byte === 0));
  assert.equal(ram[PAGE_SIZE / 2 - 1], 0xa5);
  assert.equal(ram[PAGE_SIZE / 2 + 3 * PAGE_SIZE], 0xa5);
  assert.equal(memory.discardRange(8 * PAGE_SIZE, 10), 0);
  assert.equal(memory.discardRange(0, 0), 0);
  assert.equal(written.length, 2, 'an empty discard reports nothing');
  assert.equal(memory.residentBytes(), SIZE, 'nothing is released');
});

test('RAM that is not whole pages is refused', () => {
  assert.throws(() => new FlatGuestMemory({ bytes: () => new Uint8Array(PAGE_SIZE + 1) }), RangeError);
  assert.throws(() => new FlatGuestMemory({ bytes: () => new Uint8Array(0) }), RangeError);
});

test('a WebAssembly memory that grows detaches the view: a fresh one is fetched, the contents kept', () => {
  const wasm = new WasmMemory({ initial: 2, maximum: 4 });
  let fetched = 0;
  const memory = new FlatGuestMemory({
    bytes: () => {
      fetched++;
      // The guest RAM is the first page of 64 KiB, as an emulator keeps its RAM at an offset.
      return new Uint8Array(wasm.buffer, 0, 65536);
    },
  });
  memory.writeU32(0x100, 0x1234_5678);
  assert.equal(fetched, 1);
  wasm.grow(1);
  assert.equal(memory.readU32(0x100), 0x1234_5678);
  assert.equal(fetched, 2);
  memory.write(0x200, Uint8Array.of(5));
  assert.equal(new Uint8Array(wasm.buffer)[0x200], 5, 'written into the new buffer');
  assert.equal(fetched, 2, 'fetched once per detach, not per access');
});

type Op =
  | { readonly t: 'write'; readonly address: number; readonly bytes: Uint8Array }
  | { readonly t: 'u16' | 'u32'; readonly address: number; readonly value: number }
  | { readonly t: 'u64'; readonly address: number; readonly value: bigint }
  | { readonly t: 'discard'; readonly address: number; readonly length: number };

test('every operation reads back as it does from GuestMemory, inside and outside the bounds', () => {
  const address = fc.integer({ min: -2, max: SIZE + 2 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ t: fc.constant('write' as const), address, bytes: fc.uint8Array({ maxLength: 2 * PAGE_SIZE + 3 }) }),
    fc.record({ t: fc.constantFrom('u16' as const, 'u32' as const), address, value: fc.nat({ max: 0xffff }) }),
    fc.record({ t: fc.constant('u64' as const), address, value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
    fc.record({ t: fc.constant('discard' as const), address, length: fc.nat({ max: 3 * PAGE_SIZE }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const sparse = new GuestMemory(SIZE);
      const { memory } = flat();
      const outcome = (target: GuestMemoryAccess, o: Op): string => {
        try {
          switch (o.t) {
            case 'write':
              target.write(o.address, o.bytes);
              break;
            case 'u16':
              target.writeU16(o.address, o.value);
              break;
            case 'u32':
              target.writeU32(o.address, o.value);
              break;
            case 'u64':
              target.writeU64(o.address, o.value);
              break;
            case 'discard':
              target.discardRange(o.address, o.length);
              break;
          }
          return 'ok';
        } catch (error) {
          return (error as Error).message;
        }
      };
      for (const o of ops) assert.equal(outcome(memory, o), outcome(sparse, o), o.t);
      assert.deepEqual(memory.read(0, SIZE), sparse.read(0, SIZE));
      for (const at of [0, 1, SIZE - 8, PAGE_SIZE - 3]) {
        assert.equal(memory.readU64(at), sparse.readU64(at));
        assert.equal(memory.readU16(at), sparse.readU16(at));
      }
    }),
    propertyParameters(200),
  );
});
