import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GuestMemoryModel } from '../../src/guest/memory-model.js';
import { oscillatingWorkingSet, Workload } from '../../src/guest/workload.js';
import { CHUNK_PAGES, GuestMemory, PAGE_SIZE } from '../../src/vstate/memory.js';

const MiB = 1024 * 1024;

function model(mib = 8): GuestMemoryModel {
  return new GuestMemoryModel(new GuestMemory(mib * MiB));
}

describe('GuestMemoryModel', () => {
  test('starts with every page free and hands out the lowest frames first, in order', () => {
    const m = model();
    assert.equal(m.totalPages, 2048);
    assert.equal(m.freePages, 2048);
    assert.deepEqual([0, 1, 2].map(() => m.allocatePage('workload')), [0, 1, 2]);
    assert.equal(m.pages('workload'), 3);
    assert.equal(m.freePages, 2045);
    assert.equal(m.ownerOf(1), 'workload');
  });

  test('a freed page is the next one handed out (hot end), its contents untouched', () => {
    const m = model();
    const pfns = [m.allocatePage('workload'), m.allocatePage('workload'), m.allocatePage('workload')];
    m.touch(1);
    const resident = m.memory.residentBytes();
    m.freePage(1, 'workload');
    assert.equal(m.memory.residentBytes(), resident, 'freeing does not give the page back to the host');
    assert.equal(m.allocatePage('balloon'), 1);
    assert.equal(m.ownerOf(1), 'balloon');
    assert.deepEqual(pfns, [0, 1, 2]);
  });

  test('touch() makes the page resident with nonzero data and counts a minor fault', () => {
    const m = model();
    const pfn = m.allocatePage('workload') ?? -1;
    assert.equal(m.memory.residentBytes(), 0);
    m.touch(pfn);
    assert.equal(m.memory.residentBytes(), PAGE_SIZE);
    assert.notEqual(m.memory.readU64(pfn * PAGE_SIZE), 0n);
    assert.equal(m.events.minorFaults, 1);
  });

  test('freeing a page its holder does not hold is a programming error', () => {
    const m = model();
    const pfn = m.allocatePage('workload') ?? -1;
    assert.throws(() => {
      m.freePage(pfn, 'balloon');
    }, /held by workload, not balloon/);
    assert.throws(() => m.ownerOf(m.totalPages), RangeError);
  });

  test('reserveContiguous() takes a run of free pages for the driver', () => {
    const m = model();
    m.allocatePage('workload');
    const first = m.reserveContiguous(11);
    assert.equal(first, 1);
    for (let pfn = 1; pfn < 12; pfn++) assert.equal(m.ownerOf(pfn), 'driver');
    assert.equal(m.pages('driver'), 11);
    assert.throws(() => m.reserveContiguous(4096), /no run of 4096 free pages/);
  });

  test('isolateFreeBlocks() takes whole free 2 MiB chunks only, and they are not handed out', () => {
    const m = model(8); // 4 chunks
    const used = m.allocatePage('workload') ?? -1; // chunk 0 no longer whole
    const blocks = m.isolateFreeBlocks(CHUNK_PAGES, 'reporting', 32);
    assert.deepEqual(blocks, [512, 1024, 1536]);
    assert.equal(m.pages('reporting'), 3 * CHUNK_PAGES);
    assert.equal(m.freePages, CHUNK_PAGES - 1);
    for (let i = 0; i < CHUNK_PAGES - 1; i++) assert.ok((m.allocatePage('workload') ?? 0) < CHUNK_PAGES);
    assert.equal(m.allocatePage('workload'), undefined, 'isolated pages are not free');
    assert.equal(used, 0);
  });

  test('released reported chunks are not handed out before hot pages, nor reported again until allocated from', () => {
    const m = model(8);
    m.allocatePage('workload'); // page 0
    const blocks = m.isolateFreeBlocks(CHUNK_PAGES, 'reporting', 2);
    assert.deepEqual(blocks, [512, 1024]);
    for (const first of blocks) m.releaseBlock(first, CHUNK_PAGES, 'reporting', { reported: true });
    assert.equal(m.reportedFreePages(), 2 * CHUNK_PAGES);
    // Only chunk 3 is whole and unreported now.
    assert.deepEqual(m.isolateFreeBlocks(CHUNK_PAGES, 'reporting', 32, { unreportedOnly: true }), [1536]);
    m.releaseBlock(1536, CHUNK_PAGES, 'reporting', { reported: true });
    m.freePage(0, 'workload');
    assert.equal(m.allocatePage('workload'), 0, 'a page freed since is hotter than reported chunks');
    // Allocating from a reported chunk clears its mark.
    while (m.ownerOf(512) !== 'workload') m.allocatePage('workload');
    assert.equal(m.reportedFreePages(), 2 * CHUNK_PAGES);
    assert.deepEqual(m.isolateFreeBlocks(CHUNK_PAGES, 'reporting', 32, { unreportedOnly: true }), []);
  });

  test('4 MiB blocks need two aligned whole chunks', () => {
    const m = model(16); // 8 chunks, 4 blocks of 4 MiB
    for (let pfn = 0; pfn < 1024 + 1; pfn++) m.allocatePage('workload'); // blocks 0 and part of 1
    assert.deepEqual(m.isolateFreeBlocks(1024, 'hinting', 8), [2048, 3072]);
    assert.throws(() => m.isolateFreeBlocks(700, 'hinting', 1), RangeError);
    m.releaseBlock(2048, 1024, 'hinting');
    assert.equal(m.pages('hinting'), 1024);
  });

  test('an allocation that finds no free page runs the reclaimers in order, then counts an OOM', () => {
    const m = model(1);
    while (m.allocatePage('workload') !== undefined);
    const calls: string[] = [];
    m.addReclaimer(() => {
      calls.push('shrinker');
      return 0;
    });
    const remove = m.addReclaimer((pages) => {
      calls.push(`oom ${pages}`);
      m.freePage(7, 'workload');
      return 1;
    });
    assert.equal(m.allocatePage('workload'), undefined, 'no reclaim unless asked');
    assert.equal(m.allocatePage('workload', { reclaim: true }), 7);
    assert.deepEqual(calls, ['shrinker', 'oom 1']);
    assert.deepEqual(m.events, { minorFaults: 0, allocStalls: 1, directScan: 1, directReclaim: 1, oomKills: 0 });
    remove();
    assert.equal(m.allocatePage('workload', { reclaim: true }), undefined);
    assert.equal(m.events.oomKills, 1);
    assert.equal(m.events.allocStalls, 2);
  });
});

describe('Workload', () => {
  test('allocate() touches every page it gets; free() gives back random ones; resize() moves to a size', () => {
    const m = model();
    const w = new Workload(m, { seed: 7 });
    assert.equal(w.allocate(100), 100);
    assert.equal(m.memory.residentBytes(), 100 * PAGE_SIZE);
    assert.equal(m.pages('workload'), 100);
    assert.equal(w.free(40), 40);
    assert.equal(w.pages, 60);
    assert.equal(m.pages('workload'), 60);
    assert.equal(m.memory.residentBytes(), 100 * PAGE_SIZE, 'freed pages stay resident until the host discards them');
    w.resize(10);
    assert.equal(w.pages, 10);
    w.resize(2048 + 10);
    assert.equal(w.pages, 2048);
    assert.equal(w.failedAllocations, 1);
  });

  test('the pages it frees depend on the seed only', () => {
    const run = (seed: number): string[] => {
      const m = model();
      const w = new Workload(m, { seed });
      w.allocate(64);
      w.free(32);
      return Array.from({ length: 64 }, (_, pfn) => m.ownerOf(pfn));
    };
    assert.deepEqual(run(3), run(3));
    assert.notDeepEqual(run(3), run(4));
  });

  test('a working set that shrinks from its top leaves whole free chunks for reporting', () => {
    const size = 16 * 1024 * 1024;
    const shrink = (mode: 'random' | 'top'): number => {
      const m = new GuestMemoryModel(new GuestMemory(size));
      const w = new Workload(m, { shrink: mode, seed: 3 });
      w.resize((0.9 * size) / 4096);
      w.resize((0.4 * size) / 4096);
      return m.isolateFreeBlocks(512, 'reporting', 100).length;
    };
    assert.equal(shrink('random'), 0, 'pages freed at random leave no whole 2 MiB chunk');
    assert.ok(shrink('top') >= 3, 'the highest frames go first: their chunks are whole');
  });

  test('tick() churns and follows its target', () => {
    const m = model();
    const target = oscillatingWorkingSet({ minPages: 100, maxPages: 500, periodMs: 1000 });
    assert.equal(target(0), 100);
    assert.equal(Math.round(target(500)), 500);
    const w = new Workload(m, { target, churnPages: 10 });
    w.tick(0);
    assert.equal(w.pages, 100);
    w.tick(500);
    assert.equal(w.pages, 500);
    const faults = m.events.minorFaults;
    w.tick(1000);
    assert.equal(w.pages, 100);
    assert.equal(m.events.minorFaults, faults + 10, 'churn reallocates and touches');
  });
});
