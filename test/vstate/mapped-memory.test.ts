/**
 * MappedGuestMemory's own decisions, over a mapping whose calls the test scripts (the real one,
 * mmap through koffi, is test/kvm/memory.test.ts's): a discard counts the pages that held memory,
 * advises only when one did, and zeroes the partial pages at its edges; close() unmaps once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MappedGuestMemory, type HostMapping } from '../../src/vstate/mapped-memory.js';
import { GuestMemoryError, PAGE_SIZE } from '../../src/vstate/memory.js';

const BASE = 0x7f00_0000_0000;

/** A mapping of `pages` pages whose residency is what the test says, recording each call. */
function scripted(pages: number, resident: Set<number>): HostMapping & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    address: BigInt(BASE),
    bytes: new Uint8Array(pages * PAGE_SIZE),
    discard(at, length) {
      calls.push(`discard ${(at - BASE) / PAGE_SIZE} +${length / PAGE_SIZE}`);
      for (let page = (at - BASE) / PAGE_SIZE; page < (at - BASE + length) / PAGE_SIZE; page++) resident.delete(page);
    },
    residency(at, length, vector) {
      for (let i = 0; i < length / PAGE_SIZE; i++) vector[i] = resident.has((at - BASE) / PAGE_SIZE + i) ? 1 : 0;
    },
    unmap() {
      calls.push('unmap');
    },
  };
}

test('a discard returns the whole pages that held memory, and advises only then', () => {
  const resident = new Set([2, 3, 7]);
  const mapping = scripted(16, resident);
  const memory = new MappedGuestMemory(mapping);
  assert.equal(memory.residentBytes(), 3 * PAGE_SIZE);
  assert.equal(memory.discardRange(2 * PAGE_SIZE, 4 * PAGE_SIZE), 2, 'pages 2 and 3 held memory, 4 and 5 did not');
  assert.deepEqual(mapping.calls, ['discard 2 +4']);
  assert.equal(memory.discardRange(2 * PAGE_SIZE, 4 * PAGE_SIZE), 0, 'named again, the range gives nothing back');
  assert.deepEqual(mapping.calls, ['discard 2 +4'], 'and is not advised');
  assert.equal(memory.residentBytes(), PAGE_SIZE);
});

test('the partial pages at the edges are zeroed and kept; a range inside one page gives nothing back', () => {
  const mapping = scripted(4, new Set([0, 1, 2, 3]));
  const memory = new MappedGuestMemory(mapping);
  mapping.bytes.fill(0xa5);
  assert.equal(memory.discardRange(100, 2 * PAGE_SIZE), 1, 'page 1 whole; pages 0 and 2 in part');
  assert.equal(mapping.bytes[99], 0xa5);
  assert.equal(mapping.bytes[100], 0);
  assert.equal(mapping.bytes[2 * PAGE_SIZE + 99], 0);
  assert.equal(mapping.bytes[2 * PAGE_SIZE + 100], 0xa5);
  assert.equal(memory.discardRange(3 * PAGE_SIZE + 8, 16), 0);
  assert.deepEqual(mapping.calls, ['discard 1 +1']);
});

test('whatever the guest names, a discard counts each resident page once and never more than the range holds', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 32 }),
      fc.array(fc.record({ at: fc.integer({ min: 0, max: 32 * PAGE_SIZE }), length: fc.integer({ min: 0, max: 40 * PAGE_SIZE }) }), { maxLength: 20 }),
      (pages, ranges) => {
        const resident = new Set(pages);
        const memory = new MappedGuestMemory(scripted(32, resident));
        let given = 0;
        for (const { at, length } of ranges) {
          try {
            const count = memory.discardRange(at, length);
            assert.ok(count <= Math.max(0, Math.floor((at + length) / PAGE_SIZE) - Math.ceil(at / PAGE_SIZE)));
            given += count;
          } catch (error) {
            assert.ok(error instanceof GuestMemoryError);
            assert.ok(at + length > 32 * PAGE_SIZE);
          }
        }
        assert.equal(given, pages.length - resident.size, 'what was given back is what left');
      },
    ),
  );
});

test('a mapping that is no whole number of pages is refused; after close() every access is a GuestMemoryError', () => {
  assert.throws(() => new MappedGuestMemory({ ...scripted(1, new Set()), bytes: new Uint8Array(100) }), /positive multiple of 4096 bytes, got 100/);
  const mapping = scripted(2, new Set());
  const memory = new MappedGuestMemory(mapping);
  memory.close();
  memory.close();
  assert.deepEqual(mapping.calls, ['unmap'], 'unmapped once');
  assert.equal(memory.size, 0);
  assert.throws(() => memory.readU32(0), GuestMemoryError);
  assert.throws(() => memory.discardRange(0, PAGE_SIZE), GuestMemoryError);
});
