/**
 * The inflate, deflate and free page reporting queues, and what any queue does with a guest that
 * breaks the rules (Firecracker's `test_invalid_request`, `test_inflate`, `test_deflate`,
 * `test_process_balloon_queues`, the reporting tests, and the avail-index panic it does not
 * copy). Every test builds its own metrics group and pins every counter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PAGE_COMPACT_BUFFER } from '../../../../src/devices/virtio/balloon/device.js';
import { PAGE_SIZE } from '../../../../src/vstate/memory.js';
import { setAvailIndex, writeDescriptor, pushAvail, DESC_F_NEXT, DESC_F_INDIRECT } from '../support/index.js';
import {
  activated,
  counts,
  DATA_BASE,
  expected,
  filledWith,
  layout,
  MEMORY_MIB,
  MIB,
  pfnBuffer,
  put,
  touchPages,
  used,
} from './device-setup.js';

const INFLATE = 0;
const DEFLATE = 1;
/** Frames the tests inflate: from 4 MiB up, away from the rings and the pfn lists. */
const FIRST_PFN = (4 * MIB) / PAGE_SIZE;

test('inflate: the frames given are released, the chain returned with length 0, one used-buffer interrupt', () => {
  const h = activated();
  touchPages(h.memory, FIRST_PFN, 3);
  const head = put(h, INFLATE, [pfnBuffer(h.memory, DATA_BASE, [FIRST_PFN, FIRST_PFN + 2])]);
  const resident = h.memory.residentBytes();
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(used(h, INFLATE), [{ id: head, len: 0 }]);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, PAGE_SIZE, 0));
  assert.ok(filledWith(h.memory, (FIRST_PFN + 1) * PAGE_SIZE, PAGE_SIZE, 0xa5), 'a frame not given is kept');
  assert.ok(filledWith(h.memory, (FIRST_PFN + 2) * PAGE_SIZE, PAGE_SIZE, 0));
  assert.equal(resident - h.memory.residentBytes(), 2 * PAGE_SIZE);
  assert.deepEqual(h.balloon.releasedBytes(), { inflate: 2 * PAGE_SIZE, reporting: 0, hinting: 0 });
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1 }));
});

test('inflate_count moves once per processing of the queue, whatever it holds', () => {
  const h = activated();
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(h.interrupt.take(), [], 'nothing returned, no interrupt');
  for (let i = 0; i < 3; i++) put(h, INFLATE, [pfnBuffer(h.memory, DATA_BASE + 64 * i, [FIRST_PFN + i])]);
  h.balloon.notifyQueue(INFLATE);
  assert.equal(used(h, INFLATE).length, 3);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 2 }));
});

test('invalid inflate requests: write-only, a length not a multiple of 4, more than 256 frames are skipped but returned', () => {
  const h = activated();
  touchPages(h.memory, FIRST_PFN, 1);
  const frames = pfnBuffer(h.memory, DATA_BASE, new Array<number>(257).fill(FIRST_PFN));
  const heads = [
    put(h, INFLATE, [{ ...frames, len: 4, writeOnly: true }]),
    put(h, INFLATE, [{ ...frames, len: 5 }]),
    put(h, INFLATE, [{ ...frames, len: 257 * 4 }]), // a bogus page count
  ];
  const resident = h.memory.residentBytes();
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(used(h, INFLATE), heads.map((id) => ({ id, len: 0 })));
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, PAGE_SIZE, 0xa5), 'the page was not released');
  assert.equal(h.memory.residentBytes(), resident);
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1 }));
  // Exactly 256 frames is a valid descriptor.
  put(h, INFLATE, [{ ...frames, len: 256 * 4 }]);
  h.balloon.notifyQueue(INFLATE);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, PAGE_SIZE, 0));
});

test('inflate past the 2,048-frame buffer: the descriptor that does not fit waits for the buffer to be released', () => {
  const h = activated();
  const perChain = 256;
  const chains = MAX_PAGE_COMPACT_BUFFER / perChain + 1; // 9 chains, 2,304 frames
  const total = chains * perChain;
  touchPages(h.memory, FIRST_PFN, total + 1);
  const heads: number[] = [];
  for (let c = 0; c < chains; c++) {
    // Frames in reverse order, to be sorted and compacted into ranges.
    const pfns = Array.from({ length: perChain }, (_, i) => FIRST_PFN + total - 1 - (c * perChain + i));
    heads.push(put(h, INFLATE, [pfnBuffer(h.memory, DATA_BASE + c * 4 * perChain, pfns)]));
  }
  const resident = h.memory.residentBytes();
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(used(h, INFLATE), heads.map((id) => ({ id, len: 0 })));
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.equal(resident - h.memory.residentBytes(), total * PAGE_SIZE);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, total * PAGE_SIZE, 0));
  assert.ok(filledWith(h.memory, (FIRST_PFN + total) * PAGE_SIZE, PAGE_SIZE, 0xa5));
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1 }));
});

test('inflate: repeated frames are released once; frames outside guest memory are ignored without a metric', () => {
  const h = activated();
  touchPages(h.memory, FIRST_PFN, 2);
  const outside = (MEMORY_MIB * MIB) / PAGE_SIZE;
  const head = put(h, INFLATE, [pfnBuffer(h.memory, DATA_BASE, [FIRST_PFN + 1, FIRST_PFN, FIRST_PFN + 1, outside, 0xffff_ffff])]);
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(used(h, INFLATE), [{ id: head, len: 0 }]);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 2 * PAGE_SIZE, 0));
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1 }));
});

test('a malformed chain counts event_fails, is returned with length 0, and the queue goes on', () => {
  const h = activated();
  touchPages(h.memory, FIRST_PFN, 1);
  const bad = put(h, INFLATE, [{ addr: MEMORY_MIB * MIB - 2, len: 4 }]); // runs past the end of memory
  const good = put(h, INFLATE, [pfnBuffer(h.memory, DATA_BASE, [FIRST_PFN])]);
  // A head index outside the table, and an indirect descriptor.
  const q = layout(h, INFLATE);
  pushAvail(h.memory, q, 999);
  writeDescriptor(h.memory, q, 10, { addr: DATA_BASE, len: 16, flags: DESC_F_INDIRECT, next: 0 });
  pushAvail(h.memory, q, 10);
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(used(h, INFLATE), [
    { id: bad, len: 0 },
    { id: good, len: 0 },
    { id: 999, len: 0 },
    { id: 10, len: 0 },
  ]);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, PAGE_SIZE, 0));
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1, event_fails: 3 }));
});

test('deflate: every chain is acknowledged with length 0; deflate_count once per processing', () => {
  const h = activated();
  h.balloon.notifyQueue(DEFLATE);
  assert.deepEqual(h.interrupt.take(), []);
  const heads = [put(h, DEFLATE, [{ addr: DATA_BASE, len: 4 }]), put(h, DEFLATE, [{ addr: DATA_BASE, len: 1024 }])];
  h.balloon.notifyQueue(DEFLATE);
  assert.deepEqual(used(h, DEFLATE), heads.map((id) => ({ id, len: 0 })));
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.deepEqual(counts(h.metrics), expected({ deflate_count: 2 }));
});

test('an interrupt that cannot be raised counts event_fails; the buffers are still returned', () => {
  const h = activated();
  h.interrupt.failWith = new Error('no line');
  put(h, DEFLATE, [{ addr: DATA_BASE, len: 4 }]);
  h.balloon.notifyQueue(DEFLATE);
  assert.equal(used(h, DEFLATE).length, 1);
  assert.deepEqual(counts(h.metrics), expected({ deflate_count: 1, event_fails: 1 }));
});

test('a notification for a queue the device does not have, or one not ready, is ignored', () => {
  const h = activated();
  const deflate = h.queues[DEFLATE];
  assert.ok(deflate !== undefined);
  deflate.ready = false;
  put(h, DEFLATE, [{ addr: DATA_BASE, len: 4 }]);
  for (const index of [DEFLATE, 2, 7, -1, 0.5, Number.NaN]) h.balloon.notifyQueue(index);
  assert.deepEqual(used(h, DEFLATE), []);
  assert.deepEqual(counts(h.metrics), expected({}));
});

test('an available index more than the queue size ahead: event_fails, needsReset, and nothing served until reset', () => {
  const h = activated({ stats_polling_interval_s: 1 });
  const q = layout(h, INFLATE);
  setAvailIndex(h.memory, q, q.size + 1);
  h.balloon.notifyQueue(INFLATE);
  assert.equal(h.interrupt.resets, 1);
  assert.equal(h.balloon.needsReset, true);
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1, event_fails: 1 }));
  assert.deepEqual(used(h, INFLATE), []);
  // Every queue is now ignored, and nothing more is counted.
  put(h, DEFLATE, [{ addr: DATA_BASE, len: 4 }]);
  h.balloon.notifyQueue(DEFLATE);
  h.balloon.notifyQueue(INFLATE);
  assert.deepEqual(used(h, DEFLATE), []);
  assert.equal(h.interrupt.resets, 1);
  assert.deepEqual(counts(h.metrics), expected({ inflate_count: 1, event_fails: 1 }));
  // The driver resets the device (the transport resets the queues) and sets it up again.
  h.balloon.reset();
  assert.equal(h.balloon.needsReset, false);
  for (const queue of h.queues) {
    queue.nextAvail = 0;
    queue.nextUsed = 0;
  }
  setAvailIndex(h.memory, q, 0);
  setAvailIndex(h.memory, layout(h, DEFLATE), 0);
  h.memory.writeU16(layout(h, DEFLATE).usedRing + 2n, 0);
  layout(h, DEFLATE).lastUsed = 0;
  h.balloon.activate({ memory: h.memory, queues: h.queues, interrupt: h.interrupt });
  put(h, DEFLATE, [{ addr: DATA_BASE, len: 4 }]);
  h.balloon.notifyQueue(DEFLATE);
  assert.equal(used(h, DEFLATE).length, 1);
  h.balloon.reset();
});

const REPORTING = 2; // no stats, no hinting: reporting follows deflate

test('free page reporting: every descriptor of a chain is a range to release', () => {
  const h = activated({ free_page_reporting: true });
  assert.equal(h.balloon.queueMaxSizes.length, 3);
  touchPages(h.memory, FIRST_PFN, 8);
  const head = put(h, REPORTING, [
    { addr: FIRST_PFN * PAGE_SIZE, len: 2 * PAGE_SIZE, writeOnly: true },
    { addr: (FIRST_PFN + 4) * PAGE_SIZE, len: 4 * PAGE_SIZE, writeOnly: true },
  ]);
  const resident = h.memory.residentBytes();
  h.balloon.notifyQueue(REPORTING);
  assert.deepEqual(used(h, REPORTING), [{ id: head, len: 0 }]);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.equal(resident - h.memory.residentBytes(), 6 * PAGE_SIZE);
  assert.deepEqual(h.balloon.releasedBytes(), { inflate: 0, reporting: 6 * PAGE_SIZE, hinting: 0 }, 'the resident pages it freed');
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 2 * PAGE_SIZE, 0));
  assert.ok(filledWith(h.memory, (FIRST_PFN + 2) * PAGE_SIZE, 2 * PAGE_SIZE, 0xa5));
  assert.ok(filledWith(h.memory, (FIRST_PFN + 4) * PAGE_SIZE, 4 * PAGE_SIZE, 0));
  assert.deepEqual(counts(h.metrics), expected({ free_page_report_count: 2, free_page_report_freed: 6 * PAGE_SIZE }));
});

test('free page reporting: a misaligned range releases its whole pages and zeroes its edges', () => {
  const h = activated({ free_page_reporting: true });
  touchPages(h.memory, FIRST_PFN, 3);
  const start = FIRST_PFN * PAGE_SIZE + 0x800;
  const len = 2 * PAGE_SIZE; // half of page 0, page 1, half of page 2
  put(h, REPORTING, [{ addr: start, len }]);
  const resident = h.memory.residentBytes();
  h.balloon.notifyQueue(REPORTING);
  assert.equal(resident - h.memory.residentBytes(), PAGE_SIZE);
  assert.ok(filledWith(h.memory, start, len, 0));
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, 0x800, 0xa5));
  assert.ok(filledWith(h.memory, start + len, 0x800, 0xa5));
  assert.deepEqual(counts(h.metrics), expected({ free_page_report_count: 1, free_page_report_freed: len }));
});

test('free page reporting: a malformed chain counts event_fails and no range; the next chain is served', () => {
  const h = activated({ free_page_reporting: true });
  touchPages(h.memory, FIRST_PFN, 1);
  const q = layout(h, REPORTING);
  // A chain that loops on itself.
  writeDescriptor(h.memory, q, 5, { addr: FIRST_PFN * PAGE_SIZE, len: PAGE_SIZE, flags: DESC_F_NEXT, next: 5 });
  pushAvail(h.memory, q, 5);
  q.nextDescriptor = 6;
  const good = put(h, REPORTING, [{ addr: FIRST_PFN * PAGE_SIZE, len: PAGE_SIZE }]);
  h.balloon.notifyQueue(REPORTING);
  assert.deepEqual(used(h, REPORTING), [
    { id: 5, len: 0 },
    { id: good, len: 0 },
  ]);
  assert.deepEqual(counts(h.metrics), expected({ event_fails: 1, free_page_report_count: 1, free_page_report_freed: PAGE_SIZE }));
});

test('free page reporting: a range outside guest memory counts free_page_report_fails; the others are released', () => {
  const h = activated({ free_page_reporting: true });
  touchPages(h.memory, FIRST_PFN, 1);
  const head = put(h, REPORTING, [
    { addr: MEMORY_MIB * MIB - PAGE_SIZE, len: 2 * PAGE_SIZE }, // runs past the end
    { addr: 2n ** 64n - 4096n, len: 8192 }, // would wrap around 2^64
    { addr: FIRST_PFN * PAGE_SIZE, len: PAGE_SIZE },
  ]);
  h.balloon.notifyQueue(REPORTING);
  assert.deepEqual(used(h, REPORTING), [{ id: head, len: 0 }]);
  assert.ok(filledWith(h.memory, FIRST_PFN * PAGE_SIZE, PAGE_SIZE, 0));
  assert.deepEqual(
    counts(h.metrics),
    expected({ free_page_report_count: 3, free_page_report_fails: 2, free_page_report_freed: PAGE_SIZE }),
  );
});
