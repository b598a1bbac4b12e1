/**
 * KvmGuestMemory: anonymous memory of this process, its accessors the same as GuestMemory's
 * (checked against it by property), and discardRange giving memory back to the host
 * (madvise(MADV_DONTNEED)), measured in the process's RSS, and counting the pages that held it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { KvmGuestMemory } from '../../src/kvm/memory.js';
import { processRssBytes } from '../../src/kvm/rss.js';
import { libc } from '../../src/kvm/sys/libc.js';
import { GuestMemory, GuestMemoryError } from '../../src/vstate/memory.js';
import { koffiOrSkip } from './support.js';

const MIB = 1 << 20;
const PAGE = 4096;

describe('KvmGuestMemory', () => {
  test('discarding 128 MiB of the 200 MiB written gives at least 120 MiB back to the host; the range reads zero', async (t) => {
    if (!(await koffiOrSkip(t))) return;
    const memory = KvmGuestMemory.map(await libc(), 256 * MIB);
    try {
      assert.equal(memory.residentBytes(), 0);
      const bytes = memory.bytes;
      for (let at = 0; at < 200 * MIB; at += PAGE) bytes[at] = 7;
      assert.equal(memory.residentBytes(), 200 * MIB);
      bytes[129 * MIB + 100] = 9;
      const before = processRssBytes();
      // Unaligned at both ends: the edges are zeroed, the whole pages between released.
      const released = memory.discardRange(MIB + 100, 128 * MIB);
      const after = processRssBytes();
      assert.equal(released, (128 * MIB) / PAGE - 1);
      assert.ok(before - after >= 120 * MIB, `RSS ${(before / MIB).toFixed(1)} → ${(after / MIB).toFixed(1)} MiB`);
      assert.equal(memory.residentBytes(), 200 * MIB - released * PAGE);
      assert.equal(bytes[MIB], 7, 'before the range');
      assert.equal(memory.readU32(MIB + 100), 0);
      assert.equal(bytes[MIB + PAGE], 0);
      assert.equal(bytes[129 * MIB], 0, 'the partial page at the end, zeroed');
      assert.equal(bytes[129 * MIB + 100], 9, 'past the range');
      assert.equal(bytes[129 * MIB + PAGE], 7);
      assert.equal(memory.discardRange(MIB + 2 * PAGE, 4 * PAGE), 0, 'pages given back already give nothing more');
      bytes[MIB + 3 * PAGE] = 1;
      assert.equal(memory.discardRange(MIB + 2 * PAGE, 4 * PAGE), 1, 'the one page touched since');
    } finally {
      memory.close();
    }
  });

  test('reads what GuestMemory reads after any writes and discards, and refuses what it refuses', async (t) => {
    if (!(await koffiOrSkip(t))) return;
    const c = await libc();
    const size = 16 * PAGE;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), at: fc.integer({ min: 0, max: size + 8 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 2 * PAGE }) }),
      fc.record({ kind: fc.constant('u16' as const), at: fc.integer({ min: 0, max: size }), value: fc.integer({ min: 0, max: 0xffff }) }),
      fc.record({ kind: fc.constant('u32' as const), at: fc.integer({ min: 0, max: size }), value: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      fc.record({ kind: fc.constant('u64' as const), at: fc.integer({ min: 0, max: size }), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
      fc.record({ kind: fc.constant('discard' as const), at: fc.integer({ min: 0, max: size }), length: fc.integer({ min: 0, max: 6 * PAGE }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const reference = new GuestMemory(size);
        const memory = KvmGuestMemory.map(c, size);
        try {
          for (const o of ops) {
            const apply = (target: GuestMemory | KvmGuestMemory): unknown => {
              try {
                switch (o.kind) {
                  case 'write':
                    target.write(o.at, o.bytes);
                    return 'ok';
                  case 'u16':
                    target.writeU16(o.at, o.value);
                    return target.readU16(o.at);
                  case 'u32':
                    target.writeU32(o.at, o.value);
                    return target.readU32(o.at);
                  case 'u64':
                    target.writeU64(o.at, o.value);
                    return target.readU64(o.at);
                  case 'discard':
                    target.discardRange(o.at, o.length);
                    return 'ok';
                }
              } catch (error) {
                assert.ok(error instanceof GuestMemoryError, String(error));
                return error.message;
              }
            };
            assert.deepEqual(apply(memory), apply(reference));
          }
          assert.deepEqual(memory.read(0, size), reference.read(0, size));
        } finally {
          memory.close();
        }
      }),
      { numRuns: 200 },
    );
  });

  test('after close() every access is a GuestMemoryError, not a crash', async (t) => {
    if (!(await koffiOrSkip(t))) return;
    const memory = KvmGuestMemory.map(await libc(), 4 * PAGE);
    memory.writeU32(0, 1);
    memory.close();
    assert.equal(memory.size, 0);
    assert.throws(() => memory.readU32(0), GuestMemoryError);
    assert.throws(() => KvmGuestMemory.map(memory as never, 100), /positive multiple of 4096/);
  });
});
