/**
 * GuestMemory: sparse page-granular residency, little-endian accessors, discarding, and the
 * bounds checks every device relies on — each out-of-range or malformed access is a
 * GuestMemoryError, never a wrap-around; and fast-check properties against a flat `Uint8Array`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { GuestMemory, GuestMemoryError, PAGE_SIZE, pfnToAddress, type GuestAddress } from '../../src/vstate/memory.js';
import { propertyParameters } from '../devices/virtio/support/index.js';

const U64_LIMIT = 1n << 64n;

describe('GuestMemory', () => {
  test('the size must be a positive multiple of the page size, up to 2^43', () => {
    for (const size of [0, -PAGE_SIZE, PAGE_SIZE + 1, 1.5 * PAGE_SIZE, NaN, 2 ** 43 + PAGE_SIZE, 2 ** 44, 2 ** 53 + PAGE_SIZE]) {
      assert.throws(() => new GuestMemory(size), RangeError, String(size));
    }
    assert.equal(new GuestMemory(BigInt(2 * PAGE_SIZE)).size, 2 * PAGE_SIZE);
    // Several GiB cost nothing until written.
    const big = new GuestMemory(8 * 2 ** 30);
    assert.equal(big.residentBytes(), 0);
    big.writeU32(8 * 2 ** 30 - 4, 1);
    assert.equal(big.residentBytes(), PAGE_SIZE);
  });

  test('a page holds host memory only once something nonzero is written into it', () => {
    const memory = new GuestMemory(16 * PAGE_SIZE);
    assert.equal(memory.residentBytes(), 0);
    memory.write(0, new Uint8Array(3 * PAGE_SIZE));
    memory.writeU64(5 * PAGE_SIZE, 0n);
    assert.equal(memory.residentBytes(), 0, 'zeros written to absent pages keep them absent');
    assert.deepEqual(memory.read(0, 8), new Uint8Array(8));
    assert.equal(memory.residentBytes(), 0, 'reading does not materialize');
    // Two bytes straddling the boundary of pages 1 and 2, and one in page 7.
    memory.write(2 * PAGE_SIZE - 1, Uint8Array.of(1, 2));
    memory.writeU16(7 * PAGE_SIZE + 10, 0x0100);
    assert.equal(memory.residentBytes(), 3 * PAGE_SIZE);
    // Zeros written over a resident page keep it resident: releasing is discardRange's job.
    memory.write(2 * PAGE_SIZE - 1, Uint8Array.of(0, 0));
    assert.equal(memory.residentBytes(), 3 * PAGE_SIZE);
  });

  test('reads and writes across pages round-trip, and unwritten memory reads as zeros', () => {
    const memory = new GuestMemory(4 * PAGE_SIZE);
    const bytes = Uint8Array.from({ length: 2 * PAGE_SIZE + 100 }, (_, i) => (i % 251) + 1);
    memory.write(PAGE_SIZE - 50, bytes);
    assert.deepEqual(memory.read(PAGE_SIZE - 50, bytes.length), bytes);
    assert.deepEqual(memory.read(0, PAGE_SIZE - 50), new Uint8Array(PAGE_SIZE - 50));
    // read() returns a copy: changing it does not change the guest.
    const copy = memory.read(PAGE_SIZE, 4);
    copy.fill(0);
    assert.deepEqual(memory.read(PAGE_SIZE, 4), bytes.subarray(50, 54));
    // The whole memory, to its last byte.
    memory.write(4 * PAGE_SIZE - 1, Uint8Array.of(9));
    assert.equal(memory.read(0, 4 * PAGE_SIZE)[4 * PAGE_SIZE - 1], 9);
    // Empty accesses are fine anywhere up to the end, inclusive.
    assert.deepEqual(memory.read(4 * PAGE_SIZE, 0), new Uint8Array(0));
    memory.write(4 * PAGE_SIZE, new Uint8Array(0));
  });

  test('u16, u32 and u64 are little-endian, in a page and across a page boundary', () => {
    const memory = new GuestMemory(2 * PAGE_SIZE);
    for (const at of [0, 100, PAGE_SIZE - 1, PAGE_SIZE - 3, PAGE_SIZE - 7, 2 * PAGE_SIZE - 8]) {
      memory.writeU64(at, 0x0102_0304_0506_0708n);
      assert.deepEqual([...memory.read(at, 8)], [8, 7, 6, 5, 4, 3, 2, 1], `u64 at ${at}`);
      assert.equal(memory.readU64(at), 0x0102_0304_0506_0708n);
      assert.equal(memory.readU32(at), 0x0506_0708);
      assert.equal(memory.readU16(at), 0x0708);
      memory.writeU32(at, 0xdead_beef);
      assert.deepEqual([...memory.read(at, 4)], [0xef, 0xbe, 0xad, 0xde]);
      memory.writeU16(BigInt(at), 0xcafe);
      assert.deepEqual([...memory.read(at, 2)], [0xfe, 0xca]);
    }
    memory.writeU64(16, 2 ** 53 - 1);
    assert.equal(memory.readU64(16n), 2n ** 53n - 1n);
    memory.writeU64(16, U64_LIMIT - 1n);
    assert.equal(memory.readU64(16), U64_LIMIT - 1n);
    assert.equal(memory.readU32(20), 0xffff_ffff);
  });

  test('values that do not fit the width are GuestMemoryErrors, and nothing is written', () => {
    const memory = new GuestMemory(PAGE_SIZE);
    const cases: [string, () => void][] = [
      ['u16 65536', () => { memory.writeU16(0, 0x1_0000); }],
      ['u16 -1', () => { memory.writeU16(0, -1); }],
      ['u16 1.5', () => { memory.writeU16(0, 1.5); }],
      ['u32 2^32', () => { memory.writeU32(0, 2 ** 32); }],
      ['u32 NaN', () => { memory.writeU32(0, NaN); }],
      ['u64 2^64', () => { memory.writeU64(0, U64_LIMIT); }],
      ['u64 -1n', () => { memory.writeU64(0, -1n); }],
      ['u64 2^53 as a number', () => { memory.writeU64(0, 2 ** 53); }],
      ['u64 0.5', () => { memory.writeU64(0, 0.5); }],
    ];
    for (const [name, write] of cases) assert.throws(write, GuestMemoryError, name);
    assert.equal(memory.residentBytes(), 0);
  });

  test('discardRange releases whole pages and zeroes the partial ones at its edges', () => {
    const memory = new GuestMemory(8 * PAGE_SIZE);
    memory.write(0, new Uint8Array(8 * PAGE_SIZE).fill(0xaa));
    assert.equal(memory.residentBytes(), 8 * PAGE_SIZE);
    // From the middle of page 1 to the middle of page 5: pages 2, 3, 4 released.
    const start = PAGE_SIZE + 100;
    const end = 5 * PAGE_SIZE + 200;
    memory.discardRange(BigInt(start), end - start);
    assert.equal(memory.residentBytes(), 5 * PAGE_SIZE);
    const all = memory.read(0, 8 * PAGE_SIZE);
    for (let i = 0; i < all.length; i++) {
      const expected = i >= start && i < end ? 0 : 0xaa;
      if (all[i] !== expected) assert.fail(`byte ${i} is ${all[i]}, expected ${expected}`);
    }
    // Discarding what is already absent, an empty range, and the whole memory.
    memory.discardRange(2 * PAGE_SIZE, PAGE_SIZE);
    memory.discardRange(0, 0);
    assert.equal(memory.residentBytes(), 5 * PAGE_SIZE);
    memory.discardRange(0, 8 * PAGE_SIZE);
    assert.equal(memory.residentBytes(), 0);
    assert.deepEqual(memory.read(0, 8 * PAGE_SIZE), new Uint8Array(8 * PAGE_SIZE));
    // A released page can be written again.
    memory.writeU32(3 * PAGE_SIZE, 7);
    assert.equal(memory.readU32(3 * PAGE_SIZE), 7);
    assert.equal(memory.residentBytes(), PAGE_SIZE);
  });

  test('pfnToAddress shifts by the page size, as a bigint', () => {
    assert.equal(pfnToAddress(0), 0n);
    assert.equal(pfnToAddress(3), 3n * 4096n);
    assert.equal(pfnToAddress(0xffff_ffff), 0xffff_ffffn << 12n);
  });

  describe('every access outside memory, or with a malformed address or length, is a GuestMemoryError', () => {
    const SIZE = 4 * PAGE_SIZE;
    const badRanges: [string, GuestAddress, number][] = [
      ['one past the end', SIZE, 1],
      ['ending one past the end', SIZE - 3, 4],
      ['far past the end', 2 ** 40, 1],
      ['past the end as a bigint', BigInt(SIZE), 1],
      ['wrapping past 2^64 as a bigint', U64_LIMIT - 1n, 2],
      ['at 2^64 - 4 (would wrap to 0)', U64_LIMIT - 4n, 8],
      ['at 2^64', U64_LIMIT, 0],
      ['past 2^64', U64_LIMIT + 5n, 1],
      ['a negative number', -1, 1],
      ['a negative bigint', -1n, 1],
      ['a fractional address', 1.5, 1],
      ['NaN', NaN, 1],
      ['Infinity', Infinity, 1],
      ['an unsafe integer', 2 ** 53, 1],
      ['a negative length', 0, -1],
      ['a fractional length', 0, 0.5],
      ['a NaN length', 0, NaN],
      ['an infinite length', 0, Infinity],
      ['an unsafe length', 0, 2 ** 53],
      ['a length past the end', 0, SIZE + 1],
    ];
    for (const [name, address, length] of badRanges) {
      test(name, () => {
        const memory = new GuestMemory(SIZE);
        const expectError = (what: string, access: () => unknown): void => {
          assert.throws(access, (error: unknown) => {
            assert.ok(error instanceof GuestMemoryError, `${what}: ${String(error)}`);
            assert.equal(error.name, 'GuestMemoryError');
            assert.equal(error.address, address);
            return true;
          });
        };
        expectError('checkRange', () => memory.checkRange(address, length));
        expectError('read', () => memory.read(address, length));
        expectError('discardRange', () => { memory.discardRange(address, length); });
        if (Number.isSafeInteger(length) && length >= 0 && length <= SIZE + 1) {
          expectError('write', () => {
            memory.write(address, new Uint8Array(length).fill(1));
          });
        }
        // The fixed-width accessors fail wherever a range of their width from `address` does.
        for (const [width, read, write] of [
          [2, () => memory.readU16(address), () => { memory.writeU16(address, 1); }],
          [4, () => memory.readU32(address), () => { memory.writeU32(address, 1); }],
          [8, () => memory.readU64(address), () => { memory.writeU64(address, 1n); }],
        ] as const) {
          if (!rangeFits(address, width, SIZE)) {
            expectError(`read of ${width}`, read);
            expectError(`write of ${width}`, write);
          }
        }
        assert.equal(memory.residentBytes(), 0, 'a refused write writes nothing');
      });
    }

    test('the message says where and why', () => {
      const memory = new GuestMemory(PAGE_SIZE);
      assert.throws(() => memory.read(0x1000n, 4), {
        name: 'GuestMemoryError',
        message: 'Guest memory access at 0x1000 of 4 bytes: past the end of guest memory (4096 bytes)',
      });
      assert.throws(() => memory.readU32(-1), { message: 'Guest memory access at -1 of 4 bytes: not a 64-bit address' });
      assert.throws(() => memory.read(0, -2), { message: 'Guest memory access at 0x0 of -2 bytes: the length is not a byte count' });
    });
  });

  describe('properties against a flat Uint8Array', () => {
    const PAGES = 4;
    const SIZE = PAGES * PAGE_SIZE;
    type Op =
      | { kind: 'write'; address: bigint; bytes: Uint8Array }
      | { kind: 'discard'; address: bigint; length: number }
      | { kind: 'u16' | 'u32' | 'u64'; address: bigint; value: bigint };
    // Addresses near the page boundaries and the end, and now and then far outside.
    const address = fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: PAGES }).chain((page) => fc.integer({ min: -16, max: 16 }).map((delta) => BigInt(Math.max(0, page * PAGE_SIZE + delta)))) },
      { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: BigInt(SIZE) }) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_LIMIT + 16n }) },
    );
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        address,
        bytes: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 2 * PAGE_SIZE + 10 }).map((n) => new Uint8Array(n).fill(n % 3))),
      }),
      fc.record({ kind: fc.constant('discard' as const), address, length: fc.integer({ min: 0, max: 3 * PAGE_SIZE }) }),
      fc.record({ kind: fc.constantFrom('u16' as const, 'u32' as const, 'u64' as const), address, value: fc.bigInt({ min: 0n, max: U64_LIMIT - 1n }) }),
    );

    /** The model: flat bytes and the set of resident pages, with the residency rule spelled out. */
    class Model {
      readonly bytes = new Uint8Array(SIZE);
      readonly resident = new Set<number>();
      fits(at: bigint, length: number): boolean {
        return at + BigInt(length) <= BigInt(SIZE);
      }
      write(at: number, bytes: Uint8Array): void {
        for (let page = Math.floor(at / PAGE_SIZE); page * PAGE_SIZE < at + bytes.length; page++) {
          const from = Math.max(at, page * PAGE_SIZE);
          const to = Math.min(at + bytes.length, (page + 1) * PAGE_SIZE);
          if (bytes.subarray(from - at, to - at).some((b) => b !== 0)) this.resident.add(page);
        }
        this.bytes.set(bytes, at);
      }
      discard(at: number, length: number): void {
        this.bytes.fill(0, at, at + length);
        for (let page = 0; page < PAGES; page++) {
          if (page * PAGE_SIZE >= at && (page + 1) * PAGE_SIZE <= at + length) this.resident.delete(page);
        }
      }
    }

    test('any sequence of accesses reads back what the model holds, and fails exactly where it does', () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
          const memory = new GuestMemory(SIZE);
          const model = new Model();
          for (const o of ops) {
            const width = o.kind === 'write' ? o.bytes.length : o.kind === 'discard' ? o.length : o.kind === 'u16' ? 2 : o.kind === 'u32' ? 4 : 8;
            const fits = model.fits(o.address, width);
            const run = (): void => {
              switch (o.kind) {
                case 'write':
                  memory.write(o.address, o.bytes);
                  break;
                case 'discard':
                  memory.discardRange(o.address, o.length);
                  break;
                case 'u16':
                  memory.writeU16(o.address, Number(o.value & 0xffffn));
                  break;
                case 'u32':
                  memory.writeU32(o.address, Number(o.value & 0xffff_ffffn));
                  break;
                case 'u64':
                  memory.writeU64(o.address, o.value);
                  break;
              }
            };
            if (!fits) {
              assert.throws(run, GuestMemoryError);
              continue;
            }
            run();
            const at = Number(o.address);
            if (o.kind === 'discard') model.discard(at, o.length);
            else if (o.kind === 'write') model.write(at, o.bytes);
            else {
              const bytes = new Uint8Array(width);
              const view = new DataView(bytes.buffer);
              if (o.kind === 'u16') view.setUint16(0, Number(o.value & 0xffffn), true);
              else if (o.kind === 'u32') view.setUint32(0, Number(o.value & 0xffff_ffffn), true);
              else view.setBigUint64(0, o.value, true);
              model.write(at, bytes);
            }
            // Read back through every accessor at the op's address.
            const view = new DataView(model.bytes.buffer);
            if (at + 8 <= SIZE) assert.equal(memory.readU64(at), view.getBigUint64(at, true));
            if (at + 4 <= SIZE) assert.equal(memory.readU32(at), view.getUint32(at, true));
            if (at + 2 <= SIZE) assert.equal(memory.readU16(at), view.getUint16(at, true));
          }
          assert.deepEqual(memory.read(0, SIZE), model.bytes);
          assert.equal(memory.residentBytes(), model.resident.size * PAGE_SIZE);
        }),
        propertyParameters(200),
      );
    });

    test('a range check accepts exactly the ranges inside memory, and returns their start', () => {
      fc.assert(
        fc.property(fc.oneof(address, fc.bigInt({ min: -(1n << 70n), max: 1n << 70n })), fc.integer({ min: -2, max: SIZE + 2 }), fc.boolean(), (at, length, asNumber) => {
          const memory = new GuestMemory(SIZE);
          const given: GuestAddress = asNumber && at >= BigInt(Number.MIN_SAFE_INTEGER) && at <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(at) : at;
          const inside = at >= 0n && length >= 0 && at + BigInt(length) <= BigInt(SIZE);
          if (inside) assert.equal(memory.checkRange(given, length), Number(at));
          else assert.throws(() => memory.checkRange(given, length), GuestMemoryError);
        }),
        propertyParameters(1000),
      );
    });
  });
});

function rangeFits(address: GuestAddress, width: number, size: number): boolean {
  if (typeof address === 'bigint') return address >= 0n && address + BigInt(width) <= BigInt(size);
  return Number.isSafeInteger(address) && address >= 0 && address + width <= size;
}

test('discardRange of a range across one page boundary, with no whole page in it, zeroes both parts', () => {
  // Found by the balloon's fuzz test (a reported range {0x80601, 2560}).
  const memory = new GuestMemory(1 << 20);
  memory.write(0x80000, new Uint8Array(0x80000).fill(0xa5));
  memory.discardRange(0x80601n, 2560);
  assert.ok(memory.read(0x80601, 2560).every((byte) => byte === 0));
  assert.equal(memory.read(0x80600, 1)[0], 0xa5);
  assert.equal(memory.read(0x81001, 1)[0], 0xa5);
});

test('discardRange returns the pages it released, and skips what holds nothing: a terabyte of guest asks costs what is resident', () => {
  const memory = new GuestMemory(2 ** 40);
  const one = new Uint8Array([1]);
  for (const address of [0, 5 * PAGE_SIZE, 2 ** 40 - PAGE_SIZE]) memory.write(address, one);
  assert.equal(memory.residentBytes(), 3 * PAGE_SIZE);
  // 2^28 pages: walked one by one this would take minutes; the residency counts skip the empty
  // 2 MiB chunks and 1 GiB groups (the test's timeout is the guard).
  for (let i = 0; i < 1000; i++) assert.equal(memory.discardRange(PAGE_SIZE * 6, 2 ** 40 - 2 * PAGE_SIZE * 6), 0);
  assert.equal(memory.discardRange(0, 2 ** 40), 3);
  assert.equal(memory.residentBytes(), 0);
  memory.write(7 * PAGE_SIZE, one);
  assert.equal(memory.discardRange(7 * PAGE_SIZE, PAGE_SIZE), 1, 'the counts follow pages written again');
});
