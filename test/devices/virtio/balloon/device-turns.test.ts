/**
 * A guest must not freeze its host through the balloon (issue 16 §3): one notification may name
 * far more memory to discard than a host thread can get through at once — every descriptor of a
 * full reporting queue may name the whole RAM, and on an emulator's RAM (`FlatGuestMemory`) a
 * discard zeroes. The device discards at most one turn's budget (the guest's memory size, at most
 * 128 MiB, a range counting 64 KiB more) per turn of the event loop and goes on at the next,
 * returning the chains done and raising their interrupt before each wait.
 *
 * Counted, never timed: the discards made through the memory in each turn (a `CountingMemory`),
 * against the budget. The CPU time of the notification and the lateness of a 10 ms timer
 * while a guest kicks in a loop are figures of `bench/hostile-balloon.ts`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Balloon, MAX_DISCARD_BYTES_PER_TURN, RANGE_WORK_BYTES, type BalloonConfig, type BalloonOptions } from '../../../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../../../src/devices/virtio/balloon/metrics.js';
import { GuestMemory, PAGE_SIZE, type GuestMemoryAccess } from '../../../../src/vstate/memory.js';
import { deviceQueue, layoutQueue, pushAvail, putChain, usedEntries, type BufferSpec, type QueueLayout, type UsedElement } from '../support/index.js';
import { counts, RecordingInterrupt } from './device-setup.js';
import { CountingMemory, flatMemory, hostileChains, RINGS_END, turn } from './turns-support.js';

const MIB = 1024 * 1024;
const QUEUE = { inflate: 0, deflate: 1 } as const;

interface Rig {
  readonly memory: CountingMemory;
  readonly balloon: Balloon;
  readonly metrics: BalloonDeviceMetrics;
  readonly interrupt: RecordingInterrupt;
  readonly layouts: QueueLayout[];
}

/** A balloon with its queues (of `queueSize`) in the first 64 KiB of `inner`, activated. */
function rig(inner: GuestMemoryAccess, config: Partial<BalloonConfig>, queueSize: number, options: Omit<BalloonOptions, 'metrics'> = {}): Rig {
  const memory = new CountingMemory(inner);
  const metrics = BalloonDeviceMetrics.create();
  const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0, ...config }, { ...options, metrics });
  const layouts = balloon.queueMaxSizes.map((_, i) => layoutQueue(memory, 0x1000 + i * 0x2000, queueSize));
  const interrupt = new RecordingInterrupt();
  balloon.activate({ memory, queues: layouts.map((layout, i) => deviceQueue(layout, balloon.queueMaxSizes[i])), interrupt });
  assert.ok((layouts.at(-1)?.end ?? 0n) <= BigInt(RINGS_END));
  return { memory, balloon, metrics, interrupt, layouts };
}

function layoutOf(r: Rig, index: number): QueueLayout {
  const layout = r.layouts[index];
  assert.ok(layout !== undefined);
  return layout;
}

/**
 * Lets the event loop turn until queue `index` has returned `expected` chains; checks each turn's
 * discards with `check` and returns the used elements and the number of turns.
 */
async function drain(r: Rig, index: number, expected: number, check: (turnNumber: number) => void): Promise<{ used: UsedElement[]; turns: number }> {
  const used = usedEntries(r.memory, layoutOf(r, index));
  check(0);
  let turns = 0;
  while (used.length < expected) {
    await turn();
    turns++;
    check(turns);
    used.push(...usedEntries(r.memory, layoutOf(r, index)));
    assert.ok(turns < 100_000, `still ${expected - used.length} chains to come after ${turns} turns`);
  }
  return { used, turns };
}

test("v86's flat RAM: a reporting notification naming the RAM above the rings in every descriptor zeroes at most the guest's memory per turn; every chain comes back once, in order, counted once", async () => {
  const SIZE = 4 * MIB;
  const { memory: flat, ram } = flatMemory(SIZE);
  ram.fill(0xa5, RINGS_END);
  const r = rig(flat, { free_page_reporting: true }, 16);
  const reporting = 2;
  // 16 chains of 16 ranges (the queue full), each range the whole RAM above the rings.
  const heads = hostileChains(r.memory, layoutOf(r, reporting), 16, 16);
  const range = SIZE - RINGS_END;
  r.balloon.notifyQueue(reporting);
  const { used, turns } = await drain(r, reporting, 16, (n) => {
    const done = r.memory.take();
    assert.ok(done.bytes <= SIZE, `turn ${n} zeroed ${done.bytes} bytes of a ${SIZE}-byte guest`);
  });
  assert.deepEqual(used.map((element) => element.id), heads, 'each chain once, in the order the guest gave them');
  assert.ok(used.every((element) => element.len === 0));
  assert.ok(turns >= (256 * range) / SIZE - 1, `${turns} turns for ${256 * range} bytes`);
  assert.equal(r.memory.total.bytes, 256 * range, 'every range discarded whole, once');
  assert.ok(ram.subarray(RINGS_END).every((byte) => byte === 0));
  assert.deepEqual(counts(r.metrics), { ...counts(BalloonDeviceMetrics.create()), free_page_report_count: 256, free_page_report_freed: 256 * range });
  // One interrupt per turn that returned chains at most, and one at least at the end.
  const vring = r.interrupt.take().filter((kind) => kind === 'vring').length;
  assert.ok(vring >= 1 && vring <= 16, `${vring} interrupts for 16 chains`);
  assert.equal(r.balloon.releasedBytes().reporting, 256 * range);
  // Nothing is left to do: a later turn discards nothing.
  await turn();
  assert.deepEqual(r.memory.take(), { calls: 0, bytes: 0, pages: 0 });
});

test('sparse memory: 256 chains × 256 ranges of 4 GiB in a 1 TiB guest: per turn at most the budget released and a bounded number of discards; every chain returned, counted once', { timeout: 60_000 }, async () => {
  const GUEST_BYTES = 2 ** 40;
  const SIZE = 256;
  // 4 GiB less 4 MiB: 256 of them from 1 GiB end exactly at the guest's 1 TiB.
  const RANGE = 2 ** 32 - 2 ** 22;
  const sparse = new GuestMemory(GUEST_BYTES);
  const r = rig(sparse, { free_page_reporting: true }, SIZE);
  const reporting = 2;
  // Resident pages scattered over the whole guest, some inside the ranges.
  const one = new Uint8Array([1]);
  for (let gib = 1; gib < 1024; gib += 7) sparse.write(gib * 2 ** 30 + 12 * PAGE_SIZE, one);
  const resident = sparse.residentBytes();
  // One chain of 256 ranges, each 4 GiB, from 1 GiB up; the same head made available 256 times.
  const head = putChain(r.memory, layoutOf(r, reporting), Array.from({ length: SIZE }, (_, i) => ({ addr: 2 ** 30 + i * RANGE, len: RANGE, writeOnly: true })));
  for (let i = 1; i < SIZE; i++) pushAvail(r.memory, layoutOf(r, reporting), head);
  const budget = MAX_DISCARD_BYTES_PER_TURN;
  r.balloon.notifyQueue(reporting);
  const { used } = await drain(r, reporting, SIZE, (n) => {
    const done = r.memory.take();
    assert.ok(done.pages * PAGE_SIZE <= budget, `turn ${n} released ${done.pages} pages`);
    assert.ok(done.calls <= budget / RANGE_WORK_BYTES + 1, `turn ${n} made ${done.calls} discards`);
  });
  assert.equal(used.length, SIZE);
  assert.equal(r.metrics.free_page_report_count.count(), SIZE * SIZE);
  assert.equal(r.metrics.free_page_report_freed.countBigInt(), BigInt(SIZE * SIZE) * BigInt(RANGE));
  assert.equal(r.metrics.free_page_report_fails.count(), 0);
  assert.ok(sparse.residentBytes() < resident, 'the resident pages inside the ranges were released');
  r.balloon.reset();
});

test('a guest that kicks in a loop, giving back every chain it gets: each turn zeroes at most its memory, and the chains keep coming back', async () => {
  const SIZE = 2 * MIB;
  const { memory: flat } = flatMemory(SIZE);
  const r = rig(flat, { free_page_reporting: true }, 16);
  const reporting = 2;
  const layout = layoutOf(r, reporting);
  hostileChains(r.memory, layout, 16, 16);
  let returned = 0;
  for (let n = 0; n < 60; n++) {
    // The device's turn (it was scheduled first), then the guest's in the same turn of the loop:
    // every chain back in the available ring, and 200 kicks.
    if (n > 0) await turn();
    for (const element of usedEntries(r.memory, layout)) {
      pushAvail(r.memory, layout, element.id);
      returned++;
    }
    for (let kick = 0; kick < 200; kick++) r.balloon.notifyQueue(reporting);
    const done = r.memory.take();
    assert.ok(done.bytes <= SIZE, `turn ${n}: ${done.bytes} bytes zeroed in a ${SIZE}-byte guest`);
  }
  assert.ok(returned >= 2, `${returned} chains came back in 60 turns`);
  assert.equal(r.metrics.free_page_report_freed.count(), r.memory.total.bytes, 'every byte zeroed is counted, once');
  r.balloon.reset();
});

test('a notification made while its queue waits for a turn joins it: inflate_count moves once for the processing it joined', async () => {
  const sparse = new GuestMemory(64 * MIB);
  // One page per turn: each inflate round waits for a turn of its own.
  const r = rig(sparse, {}, 16, { maxDiscardBytesPerTurn: PAGE_SIZE });
  const layout = layoutOf(r, QUEUE.inflate);
  const frames = (first: number): BufferSpec => {
    const bytes = new Uint8Array(4 * 256);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 256; i++) view.setUint32(4 * i, first + 2 * i, true);
    const addr = 0x2_0000 + first * 4;
    r.memory.write(addr, bytes);
    return { addr, len: bytes.length };
  };
  // 16 buffers of 256 frames: 2 rounds of 2,048 frames.
  for (let i = 0; i < 16; i++) putChain(r.memory, layout, [frames(0x1000 + i * 512)]);
  r.balloon.notifyQueue(QUEUE.inflate);
  for (let kick = 0; kick < 10; kick++) r.balloon.notifyQueue(QUEUE.inflate);
  const { turns } = await drain(r, QUEUE.inflate, 16, () => undefined);
  assert.ok(turns >= 1, 'the second round waited for a turn');
  assert.equal(r.metrics.inflate_count.count(), 1, 'one processing, joined by ten notifications');
  assert.equal(r.memory.total.calls, 16 * 256, 'every frame discarded once (none adjacent)');
});

test('an inflate round is never split: a buffer is returned, and the guest told, only once its frames are discarded', async () => {
  const sparse = new GuestMemory(64 * MIB);
  const r = rig(sparse, {}, 16, { maxDiscardBytesPerTurn: PAGE_SIZE });
  const layout = layoutOf(r, QUEUE.inflate);
  const pfns = new Map<number, number[]>();
  for (let i = 0; i < 16; i++) {
    const list = Array.from({ length: 256 }, (_, k) => 0x2000 + i * 256 + k);
    const bytes = new Uint8Array(4 * 256);
    list.forEach((pfn, k) => {
      new DataView(bytes.buffer).setUint32(4 * k, pfn, true);
      sparse.write(pfn * PAGE_SIZE, new Uint8Array([7]));
    });
    const addr = 0x4_0000 + i * 1024;
    r.memory.write(addr, bytes);
    pfns.set(putChain(r.memory, layout, [{ addr, len: bytes.length }]), list);
  }
  const seen: number[] = [];
  const check = (): void => {
    for (const element of usedEntries(r.memory, layout)) {
      seen.push(element.id);
      for (const pfn of pfns.get(element.id) ?? []) assert.equal(sparse.read(pfn * PAGE_SIZE, 1)[0], 0, `frame ${pfn} of buffer ${element.id} was returned before it was discarded`);
    }
  };
  r.interrupt.onNextRaise = function answer(): void {
    check();
    r.interrupt.onNextRaise = answer;
  };
  r.balloon.notifyQueue(QUEUE.inflate);
  for (let n = 0; n < 10 && seen.length < 16; n++) await turn();
  assert.equal(seen.length, 16);
  assert.ok(r.interrupt.take().length >= 2, 'an interrupt per round');
  r.interrupt.onNextRaise = undefined;
});

test('hinting: a run the host ends while the device waits for a turn discards nothing more of what the guest hinted', async () => {
  const sparse = new GuestMemory(64 * MIB);
  const budget = 4 * PAGE_SIZE;
  const r = rig(sparse, { free_page_hinting: true }, 16, { maxDiscardBytesPerTurn: budget });
  const hinting = 2;
  const touched = (addr: number, len: number): void => {
    sparse.write(addr, new Uint8Array(len).fill(0xa5));
  };
  // 4 ranges of 64 KiB: far more than a turn of 16 KiB.
  const ranges = Array.from({ length: 4 }, (_, i) => ({ addr: 8 * MIB + i * 0x1_0000, len: 0x1_0000, writeOnly: true }));
  for (const range of ranges) touched(range.addr, range.len);
  r.balloon.startHinting();
  const cmd = 0x3_0000;
  sparse.writeU32(cmd, r.balloon.hintingStatus().host_cmd);
  const head = putChain(r.memory, layoutOf(r, hinting), [{ addr: cmd, len: 4 }, ...ranges]);
  r.balloon.notifyQueue(hinting);
  await turn();
  await turn();
  const before = r.metrics.free_page_hint_freed.count();
  assert.ok(before > 0 && before < 4 * 0x1_0000, `${before} bytes discarded so far`);
  r.balloon.stopHinting();
  const { used } = await drain(r, hinting, 1, () => undefined);
  assert.deepEqual(used, [{ id: head, len: 0 }]);
  assert.equal(r.metrics.free_page_hint_freed.count(), before, 'nothing more discarded once the run ended');
  const last = ranges.at(-1);
  assert.ok(last !== undefined);
  assert.ok(sparse.read(last.addr, last.len).every((byte) => byte === 0xa5), "the last range is the guest's again, as it was");
  assert.equal(r.memory.total.bytes, before);
});

test('a reset while work waits for a turn drops it: nothing more is discarded or returned', async () => {
  const { memory: flat } = flatMemory(2 * MIB);
  const r = rig(flat, { free_page_reporting: true }, 16);
  const reporting = 2;
  hostileChains(r.memory, layoutOf(r, reporting), 16, 16);
  r.balloon.notifyQueue(reporting);
  await turn();
  r.balloon.reset();
  const returned = usedEntries(r.memory, layoutOf(r, reporting)).length;
  const discarded = r.memory.total.bytes;
  for (let n = 0; n < 5; n++) await turn();
  assert.equal(r.memory.total.bytes, discarded);
  assert.equal(usedEntries(r.memory, layoutOf(r, reporting)).length, 0, `no chain returned after the reset (${returned} before)`);
});

/** One property case: a queue's chains of ranges, on a memory of a kind, with a small turn budget. */
interface Case {
  readonly flat: boolean;
  readonly role: 'reporting' | 'hinting' | 'inflate';
  readonly budgetPages: number;
  readonly chains: readonly (readonly { readonly start: number; readonly pages: number; readonly offset: number }[])[];
}

const PROPERTY_MEMORY = 1 * MIB;
const PROPERTY_PAGES = PROPERTY_MEMORY / PAGE_SIZE;

/** Runs `c` with the budget it names (or none) until the queue is empty; what the guest and the host can see afterwards. */
async function outcome(c: Case, bounded: boolean): Promise<{ used: UsedElement[]; counters: Record<string, number>; released: number; memory: string; turns: number }> {
  const inner = c.flat ? flatMemory(PROPERTY_MEMORY).memory : new GuestMemory(PROPERTY_MEMORY);
  // Every page above the rings holds data: a discard shows.
  for (let page = RINGS_END / PAGE_SIZE; page < PROPERTY_PAGES; page++) inner.write(page * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(page & 0xff || 1));
  const config = c.role === 'inflate' ? {} : c.role === 'hinting' ? { free_page_hinting: true } : { free_page_reporting: true };
  const r = rig(inner, config, 16, { maxDiscardBytesPerTurn: bounded ? c.budgetPages * PAGE_SIZE : 2 ** 52 });
  const index = c.role === 'inflate' ? QUEUE.inflate : 2;
  const layout = layoutOf(r, index);
  if (c.role === 'hinting') r.balloon.startHinting();
  c.chains.forEach((chain, i) => {
    const buffers: BufferSpec[] =
      c.role === 'inflate'
        ? [frameBuffer(r.memory, 0xe000 + i * 0x100, chain.map((range) => range.start))]
        : chain.map((range) => ({ addr: range.start * PAGE_SIZE + range.offset, len: range.pages * PAGE_SIZE - range.offset, writeOnly: true }));
    if (c.role === 'hinting') {
      const cmd = 0xf000 + i * 8;
      r.memory.writeU32(cmd, r.balloon.hintingStatus().host_cmd);
      buffers.unshift({ addr: cmd, len: 4 });
    }
    putChain(r.memory, layout, buffers);
  });
  r.balloon.notifyQueue(index);
  const { used, turns } = await drain(r, index, c.chains.length, () => undefined);
  const bytes = r.memory.read(0, PROPERTY_MEMORY);
  let hash = 0;
  for (let i = 0; i < bytes.length; i += 64) hash = (Math.imul(hash, 31) + (bytes[i] ?? 0)) | 0;
  const released = r.balloon.releasedBytes();
  return { used, counters: counts(r.metrics), released: released.inflate + released.reporting + released.hinting, memory: `${hash}`, turns };
}

/** Frame numbers at `addr` (up to 16), as an inflate buffer. */
function frameBuffer(memory: GuestMemoryAccess, addr: number, pfns: readonly number[]): BufferSpec {
  const bytes = new Uint8Array(4 * pfns.length);
  pfns.forEach((pfn, i) => {
    new DataView(bytes.buffer).setUint32(4 * i, pfn, true);
  });
  memory.write(addr, bytes);
  return { addr, len: bytes.length };
}

test('property: the work done in turns is the work done at once — the same chains returned, counters, memory and released bytes', async () => {
  const range = fc.record({
    start: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: RINGS_END / PAGE_SIZE, max: PROPERTY_PAGES - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: PROPERTY_PAGES - 2, max: PROPERTY_PAGES + 4 }) }),
    pages: fc.integer({ min: 1, max: PROPERTY_PAGES }),
    offset: fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        flat: fc.boolean(),
        role: fc.constantFrom('reporting' as const, 'hinting' as const, 'inflate' as const),
        budgetPages: fc.integer({ min: 1, max: 64 }),
        chains: fc.array(fc.array(range, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }),
      }),
      async (c) => {
        const once = await outcome(c, false);
        const inTurns = await outcome(c, true);
        assert.equal(once.turns, 0, 'without a bound, the notification is served before it returns');
        assert.deepEqual({ ...inTurns, turns: 0 }, once);
      },
    ),
    { numRuns: 60 },
  );
});
