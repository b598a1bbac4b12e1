/**
 * The split virtqueue on its own, apart from any device (rust-vmm's `virtio-queue` fuzz target,
 * done with fast-check): with arbitrary descriptor tables, ring contents, indices, lengths and
 * addresses written by an untrusted driver, `pop` and a chain's `descriptors` end after bounded
 * work, never access outside guest memory, and fail only with the queue's own typed errors —
 * agreeing with a reference walk written from the specification (virtio 1.2, 2.7).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { GuestMemory, GuestMemoryError, PAGE_SIZE } from '../../../src/vstate/memory.js';
import {
  DescriptorChain,
  InvalidAvailIndexError,
  MalformedChainError,
  Queue,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from '../../../src/devices/virtio/queue.js';
import {
  DESC_F_INDIRECT,
  DESC_F_NEXT,
  DESC_F_WRITE,
  layoutQueue,
  propertyParameters,
  putChain,
  setAvailIndex,
  usedEntries,
  usedIndex,
  writeDescriptor,
  type QueueLayout,
  type RawDescriptor,
  deviceQueue,
} from './support/index.js';

const U64_MAX = (1n << 64n) - 1n;
const MEMORY_SIZE = 16 * PAGE_SIZE;

function setUp(size: number): { memory: GuestMemory; layout: QueueLayout; queue: Queue } {
  const memory = new GuestMemory(MEMORY_SIZE);
  const layout = layoutQueue(memory, 0x1000, size);
  return { memory, layout, queue: deviceQueue(layout) };
}

describe('Queue', () => {
  test('the flags are the specification\'s', () => {
    assert.deepEqual([VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT], [DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT]);
  });

  test('the largest size must be a power of 2 up to 32768', () => {
    for (const max of [0, 3, 6, 65536, 32769, -1, 1.5, NaN]) assert.throws(() => new Queue(max), RangeError, String(max));
    for (const max of [1, 2, 256, 32768]) assert.equal(new Queue(max).size, max);
  });

  test('pops the chains a driver made available, in order, with their descriptors', () => {
    const { memory, layout, queue } = setUp(8);
    assert.equal(queue.isValid(memory), true);
    assert.equal(queue.pop(memory), undefined);
    const first = putChain(memory, layout, [{ addr: 0x8000, len: 16 }, { addr: 0x9000, len: 4096, writeOnly: true }]);
    const second = putChain(memory, layout, [{ addr: 0xa000n, len: 8 }]);
    assert.equal(queue.pending(memory), 2);
    const chain = queue.pop(memory);
    assert.ok(chain instanceof DescriptorChain);
    assert.equal(chain.head, first);
    assert.deepEqual(chain.descriptors(memory), [
      { index: 0, addr: 0x8000n, len: 16, flags: VIRTQ_DESC_F_NEXT, next: 1, writeOnly: false },
      { index: 1, addr: 0x9000n, len: 4096, flags: VIRTQ_DESC_F_WRITE, next: 0, writeOnly: true },
    ]);
    assert.deepEqual(chain.headDescriptor(memory), chain.descriptors(memory)[0]);
    assert.equal(queue.pop(memory)?.head, second);
    assert.equal(queue.pop(memory), undefined);
    assert.equal(queue.pending(memory), 0);
  });

  test('undoPop puts the last chain back', () => {
    const { memory, layout, queue } = setUp(4);
    putChain(memory, layout, [{ addr: 0x8000, len: 1 }]);
    const head = queue.pop(memory)?.head;
    queue.undoPop();
    assert.equal(queue.pending(memory), 1);
    assert.equal(queue.pop(memory)?.head, head);
  });

  test('addUsed fills the used ring and publishes its index', () => {
    const { memory, layout, queue } = setUp(4);
    queue.addUsed(memory, 3, 100);
    queue.addUsed(memory, 1, 0);
    assert.deepEqual(usedEntries(memory, layout), [
      { id: 3, len: 100 },
      { id: 1, len: 0 },
    ]);
    assert.equal(usedIndex(memory, layout), 2);
  });

  test('the available and used indices wrap at 2^16, and ring positions with them', () => {
    const { memory, layout, queue } = setUp(4);
    queue.nextAvail = 0xfffe;
    queue.nextUsed = 0xffff;
    layout.lastUsed = 0xffff;
    setAvailIndex(memory, layout, 0xfffe);
    memory.writeU16(layout.usedRing + 2n, 0xffff);
    const heads = [0, 1, 2].map((i) => putChain(memory, layout, [{ addr: 0x8000 + i, len: 1 }]));
    assert.equal(memory.readU16(layout.availRing + 2n), 1, 'avail.idx wrapped to 1');
    // 0xfffe % 4 = 2: the first chain is in ring slot 2, then 3, then 0.
    assert.deepEqual([2, 3, 0].map((slot) => memory.readU16(layout.availRing + 4n + BigInt(2 * slot))), heads);
    assert.equal(queue.pending(memory), 3);
    for (const head of heads) {
      assert.equal(queue.pop(memory)?.head, head);
      queue.addUsed(memory, head, head * 10);
    }
    assert.equal(queue.nextAvail, 1);
    assert.equal(queue.nextUsed, 2);
    assert.equal(usedIndex(memory, layout), 2);
    // The used entries went to slots 3, 0, 1 (0xffff % 4 = 3).
    assert.equal(memory.readU32(layout.usedRing + 4n + 8n * 3n), heads[0]);
    assert.deepEqual(usedEntries(memory, layout), heads.map((head) => ({ id: head, len: head * 10 })));
  });

  describe('an available index more than the size ahead is an InvalidAvailIndexError', () => {
    for (const [nextAvail, availIdx, ok] of [
      [0, 8, true],
      [0, 9, false],
      [0, 0xffff, false],
      [0xfffc, 4, true],
      [0xfffc, 5, false],
      [10, 9, false],
    ] as const) {
      test(`next ${nextAvail}, avail.idx ${availIdx}: ${ok ? 'fine' : 'refused'}`, () => {
        const { memory, layout, queue } = setUp(8);
        queue.nextAvail = nextAvail;
        setAvailIndex(memory, layout, availIdx);
        if (ok) {
          assert.equal(queue.pending(memory), (availIdx - nextAvail) & 0xffff);
          return;
        }
        assert.throws(() => queue.pending(memory), InvalidAvailIndexError);
        assert.throws(
          () => queue.pop(memory),
          (error: unknown) => {
            assert.ok(error instanceof InvalidAvailIndexError);
            assert.equal(error.name, 'InvalidAvailIndexError');
            assert.deepEqual([error.availIndex, error.nextAvail, error.size], [availIdx, nextAvail, 8]);
            assert.equal(error.message, `The available ring's index ${availIdx} is ${(availIdx - nextAvail) & 0xffff} entries ahead of ${nextAvail}, more than the queue's size 8`);
            return true;
          },
        );
        assert.equal(queue.nextAvail, nextAvail, 'a refused pop takes nothing');
      });
    }
  });

  describe('malformed chains are MalformedChainErrors', () => {
    const cases: [string, number, RawDescriptor[], RegExp][] = [
      ['a head outside the table', 9, [], /descriptor index 9 is outside the table of 4/],
      ['a next outside the table', 0, [{ addr: 0x8000, len: 1, flags: DESC_F_NEXT, next: 4 }], /descriptor index 4 is outside the table of 4/],
      [
        'a loop',
        0,
        [
          { addr: 0x8000, len: 1, flags: DESC_F_NEXT, next: 1 },
          { addr: 0x8000, len: 1, flags: DESC_F_NEXT, next: 0 },
        ],
        /longer than the queue/,
      ],
      ['a descriptor pointing at itself', 0, [{ addr: 0x8000, len: 1, flags: DESC_F_NEXT, next: 0 }], /longer than the queue/],
      ['an indirect descriptor', 0, [{ addr: 0x8000, len: 64, flags: DESC_F_INDIRECT, next: 0 }], /indirect, which was not offered/],
      ['a buffer past the end of memory', 0, [{ addr: MEMORY_SIZE - 4, len: 5, flags: 0, next: 0 }], /descriptor 0: Guest memory access at/],
      ['a buffer wrapping past 2^64', 0, [{ addr: U64_MAX, len: 2, flags: 0, next: 0 }], /descriptor 0: .*not a 64-bit address|past the end/],
      ['a buffer at 2^64 - 1 of length 0', 0, [{ addr: U64_MAX, len: 0, flags: 0, next: 0 }], /descriptor 0:/],
      ['a huge length', 0, [{ addr: 0, len: 0xffff_ffff, flags: 0, next: 0 }], /descriptor 0:/],
    ];
    for (const [name, head, table, message] of cases) {
      test(name, () => {
        const { memory, layout, queue } = setUp(4);
        table.forEach((descriptor, index) => {
          writeDescriptor(memory, layout, index, descriptor);
        });
        memory.writeU16(layout.availRing + 4n, head);
        setAvailIndex(memory, layout, 1);
        const chain = queue.pop(memory);
        assert.ok(chain !== undefined);
        assert.throws(() => chain.descriptors(memory), (error: unknown) => error instanceof MalformedChainError && error.name === 'MalformedChainError' && message.test(error.message));
        // With the buffers left to the device, only the buffer cases pass, and checkBuffer then
        // finds them as the walk would have.
        const bufferCase = message.source.startsWith('descriptor 0:');
        if (bufferCase) {
          const [descriptor] = chain.descriptors(memory, { buffers: false });
          assert.ok(descriptor !== undefined);
          assert.deepEqual(chain.headDescriptor(memory, { buffers: false }), descriptor);
          assert.throws(() => {
            chain.checkBuffer(memory, descriptor);
          }, (error: unknown) => error instanceof MalformedChainError && message.test(error.message));
        } else {
          assert.throws(() => chain.descriptors(memory, { buffers: false }), (error: unknown) => error instanceof MalformedChainError && message.test(error.message));
        }
      });
    }

    test('a chain of exactly the queue size is fine; the loop check counts descriptors, not slots', () => {
      const { memory, layout, queue } = setUp(4);
      putChain(memory, layout, [0, 1, 2, 3].map((i) => ({ addr: 0x8000 + i, len: 1 })));
      assert.equal(queue.pop(memory)?.descriptors(memory).length, 4);
    });

    test('headDescriptor checks the head alone', () => {
      const { memory, layout, queue } = setUp(4);
      writeDescriptor(memory, layout, 0, { addr: 0x8000, len: 4, flags: DESC_F_NEXT, next: 7 });
      memory.writeU16(layout.availRing + 4n, 0);
      memory.writeU16(layout.availRing + 6n, 5);
      setAvailIndex(memory, layout, 2);
      const chain = queue.pop(memory);
      assert.equal(chain?.headDescriptor(memory).addr, 0x8000n);
      assert.throws(() => chain.descriptors(memory), MalformedChainError);
      assert.throws(() => queue.pop(memory)?.headDescriptor(memory), /descriptor index 5 is outside the table of 4/);
    });
  });

  test('reset returns to the state before the driver set the queue up', () => {
    const { memory, layout, queue } = setUp(4);
    queue.size = 2;
    putChain(memory, layout, [{ addr: 0, len: 1 }]);
    queue.pop(memory);
    queue.addUsed(memory, 0, 0);
    queue.reset();
    assert.deepEqual(
      [queue.size, queue.ready, queue.descTable, queue.availRing, queue.usedRing, queue.nextAvail, queue.nextUsed],
      [4, false, 0n, 0n, 0n, 0, 0],
    );
  });

  describe('isValid', () => {
    test('a well-placed queue is valid only once ready', () => {
      const { memory, queue } = setUp(8);
      queue.ready = false;
      assert.equal(queue.isValid(memory), false);
      queue.ready = true;
      assert.equal(queue.isValid(memory), true);
    });

    test('agrees with the specification\'s rules for any size and addresses', () => {
      const address = fc.oneof(
        fc.bigInt({ min: 0n, max: BigInt(MEMORY_SIZE) }),
        fc.bigInt({ min: BigInt(MEMORY_SIZE) - 600n, max: BigInt(MEMORY_SIZE) + 8n }),
        fc.bigInt({ min: 0n, max: U64_MAX }),
        fc.constantFrom(U64_MAX, U64_MAX - 15n, 1n << 63n),
      );
      fc.assert(
        fc.property(
          fc.oneof(fc.constantFrom(0, 1, 2, 3, 16, 31, 32, 33, 64, 256), fc.integer({ min: 0, max: 0xffff_ffff })),
          fc.boolean(),
          address,
          address,
          address,
          (size, ready, descTable, availRing, usedRing) => {
            const memory = new GuestMemory(MEMORY_SIZE);
            const queue = new Queue(32);
            Object.assign(queue, { size, ready, descTable, availRing, usedRing });
            const end = BigInt(MEMORY_SIZE);
            const s = BigInt(size);
            const expected =
              ready &&
              size >= 1 &&
              size <= 32 &&
              (size & (size - 1)) === 0 &&
              descTable % 16n === 0n &&
              availRing % 2n === 0n &&
              usedRing % 4n === 0n &&
              descTable + 16n * s <= end &&
              availRing + 6n + 2n * s <= end &&
              usedRing + 6n + 8n * s <= end;
            assert.equal(queue.isValid(memory), expected);
          },
        ),
        propertyParameters(2000),
      );
    });
  });

  describe('properties: an arbitrary driver', () => {
    const address = fc.oneof(
      { weight: 5, arbitrary: fc.bigInt({ min: 0n, max: BigInt(MEMORY_SIZE) }) },
      { weight: 2, arbitrary: fc.constantFrom(0n, BigInt(MEMORY_SIZE - 1), BigInt(MEMORY_SIZE), U64_MAX, U64_MAX - 4095n, 1n << 63n) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
    );
    const length = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 2 * PAGE_SIZE }) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1, 0xffff_ffff, 0x8000_0000) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
    );
    const flags = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
    const index = (size: number): fc.Arbitrary<number> =>
      fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: size - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
    const descriptor = (size: number): fc.Arbitrary<RawDescriptor> => fc.record({ addr: address, len: length, flags, next: index(size) });

    const scenario = fc
      .constantFrom(1, 2, 4, 8, 16, 32, 256)
      .chain((size) =>
        fc.record({
          size: fc.constant(size),
          // Where the queue lies: 16-aligned, the whole of it inside memory.
          base: fc.integer({ min: 0, max: Math.floor((MEMORY_SIZE - (16 * size + 6 + 2 * size + 2 + 6 + 8 * size)) / 16) }).map((n) => n * 16),
          table: fc.array(descriptor(size), { minLength: size, maxLength: size }),
          ring: fc.array(index(size), { minLength: size, maxLength: size }),
          nextAvail: fc.integer({ min: 0, max: 0xffff }),
          nextUsed: fc.integer({ min: 0, max: 0xffff }),
          // Mostly within a size ahead, sometimes anywhere.
          ahead: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: size }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
          usedLengths: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: size, maxLength: size }),
        }),
      );

    /**
     * The reference: the chain from `head` as the specification describes it, read from the table
     * the test wrote — the indices of its descriptors, or 'malformed'.
     */
    function referenceWalk(table: readonly RawDescriptor[], head: number, size: number, buffers = true): number[] | 'malformed' {
      const out: number[] = [];
      let at = head;
      for (;;) {
        const descriptor = table[at];
        if (at >= size || descriptor === undefined || out.length === size) return 'malformed';
        if ((descriptor.flags & DESC_F_INDIRECT) !== 0) return 'malformed';
        if (buffers && BigInt(descriptor.addr) + BigInt(descriptor.len) > BigInt(MEMORY_SIZE)) return 'malformed';
        out.push(at);
        if ((descriptor.flags & DESC_F_NEXT) === 0) return out;
        at = descriptor.next;
      }
    }

    test('pop and descriptors agree with the reference, end, and throw only typed queue errors', () => {
      fc.assert(
        fc.property(scenario, (s) => {
          const memory = new GuestMemory(MEMORY_SIZE);
          const layout = layoutQueue(memory, s.base, s.size);
          s.table.forEach((descriptor, i) => {
            writeDescriptor(memory, layout, i, descriptor);
          });
          s.ring.forEach((head, slot) => {
            memory.writeU16(layout.availRing + 4n + BigInt(2 * slot), head);
          });
          const availIdx = (s.nextAvail + s.ahead) & 0xffff;
          setAvailIndex(memory, layout, availIdx);
          memory.writeU16(layout.usedRing + 2n, s.nextUsed);
          layout.lastUsed = s.nextUsed;
          const queue = deviceQueue(layout, s.size);
          queue.nextAvail = s.nextAvail;
          queue.nextUsed = s.nextUsed;
          assert.equal(queue.isValid(memory), true);

          const guarded = <T>(what: string, run: () => T): T | Error => {
            try {
              return run();
            } catch (error) {
              if (error instanceof MalformedChainError || error instanceof InvalidAvailIndexError) return error;
              assert.ok(!(error instanceof GuestMemoryError), `${what}: a GuestMemoryError escaped: ${String(error)}`);
              throw error;
            }
          };

          if (s.ahead > s.size) {
            assert.ok(guarded('pop', () => queue.pop(memory)) instanceof InvalidAvailIndexError);
            assert.equal(queue.nextAvail, s.nextAvail);
            return;
          }
          const popped: number[] = [];
          // At most `size` chains: the loop is bounded whatever the ring says.
          for (let i = 0; i <= s.size; i++) {
            const chain = guarded('pop', () => queue.pop(memory));
            assert.ok(!(chain instanceof Error), `pop threw ${inspect(chain)}`);
            if (chain === undefined) break;
            const slot = (s.nextAvail + i) % s.size;
            assert.equal(chain.head, s.ring[slot], `the head from ring slot ${slot}`);
            popped.push(chain.head);

            const expected = referenceWalk(s.table, chain.head, s.size);
            const descriptors = guarded('descriptors', () => chain.descriptors(memory));
            if (expected === 'malformed') {
              assert.ok(descriptors instanceof MalformedChainError, `expected a MalformedChainError, got ${inspect(descriptors)}`);
            } else {
              assert.ok(!(descriptors instanceof Error), `expected a chain, got ${inspect(descriptors)}`);
              assert.ok(descriptors.length <= s.size);
              assert.deepEqual(
                descriptors.map((d) => d.index),
                expected,
              );
              for (const d of descriptors) {
                const raw = s.table[d.index];
                assert.ok(raw !== undefined);
                assert.deepEqual(d, { index: d.index, addr: BigInt(raw.addr), len: raw.len, flags: raw.flags, next: raw.next, writeOnly: (raw.flags & DESC_F_WRITE) !== 0 });
              }
            }
            const structure = referenceWalk(s.table, chain.head, s.size, false);
            const unchecked = guarded('descriptors without buffers', () => chain.descriptors(memory, { buffers: false }));
            if (structure === 'malformed') assert.ok(unchecked instanceof MalformedChainError, `expected a MalformedChainError, got ${inspect(unchecked)}`);
            else assert.deepEqual(unchecked instanceof Error ? unchecked : unchecked.map((d) => d.index), structure);
            const headAlone = referenceWalk(s.table.map((d) => ({ ...d, flags: d.flags & ~DESC_F_NEXT })), chain.head, s.size);
            const head = guarded('headDescriptor', () => chain.headDescriptor(memory));
            if (headAlone === 'malformed') assert.ok(head instanceof MalformedChainError);
            else assert.ok(!(head instanceof Error) && head.index === chain.head);
          }
          assert.equal(popped.length, s.ahead, 'exactly the chains made available');
          assert.equal(queue.nextAvail, availIdx);

          // Returning every chain: the used ring holds them in order, across the 2^16 wrap.
          popped.forEach((head, i) => {
            queue.addUsed(memory, head, s.usedLengths[i] ?? 0);
          });
          assert.deepEqual(
            usedEntries(memory, layout),
            popped.map((head, i) => ({ id: head, len: s.usedLengths[i] ?? 0 })),
          );
          assert.equal(usedIndex(memory, layout), (s.nextUsed + popped.length) & 0xffff);
        }),
        propertyParameters(400),
      );
    });

    test('raw bytes anywhere in the queue\'s areas: nothing but typed queue errors escapes', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(1, 4, 16, 64),
          fc.uint8Array({ minLength: 64 * 16 + 6 + 128 + 2 + 6 + 512, maxLength: 64 * 16 + 6 + 128 + 2 + 6 + 512 }),
          fc.integer({ min: 0, max: 0xffff }),
          (size, bytes, nextAvail) => {
            const memory = new GuestMemory(MEMORY_SIZE);
            const layout = layoutQueue(memory, MEMORY_SIZE - 2 * PAGE_SIZE, size);
            memory.write(layout.descTable, bytes.subarray(0, Number(layout.end - layout.descTable)));
            const queue = deviceQueue(layout, size);
            queue.nextAvail = nextAvail;
            let pops = 0;
            try {
              for (let chain = queue.pop(memory); chain !== undefined; chain = queue.pop(memory)) {
                assert.ok(++pops <= size, 'more chains than the queue holds');
                try {
                  assert.ok(chain.descriptors(memory).length <= size);
                } catch (error) {
                  if (!(error instanceof MalformedChainError)) throw error;
                }
                queue.addUsed(memory, chain.head, 0);
              }
            } catch (error) {
              if (!(error instanceof InvalidAvailIndexError)) throw error;
            }
          },
        ),
        propertyParameters(300),
      );
    });
  });
});
