/**
 * The statistics queue (Firecracker's `test_stats`, `test_update_balloon_stats`, the oversized
 * stats descriptor test): the device holds the guest's buffer and hands it back every polling
 * interval. The interval runs on a fake clock (test/support/fake-timers.ts), except in one test that checks the real timer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SIZE_OF_STAT, STAT_TAGS } from '../../../../src/devices/virtio/balloon/abi.js';
import { MAX_STATS_DESC_LEN } from '../../../../src/devices/virtio/balloon/stats.js';
import { activated, counts, DATA_BASE, expected, MEMORY_MIB, MIB, put, used, type Harness } from './device-setup.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const STATS = 2;

/** Writes `{tag u16, val u64}` entries at `addr` and returns the buffer for a stats descriptor. */
function statsBuffer(h: Harness, addr: number, entries: readonly (readonly [number, bigint])[]): { addr: number; len: number } {
  const bytes = new Uint8Array(SIZE_OF_STAT * entries.length);
  const view = new DataView(bytes.buffer);
  entries.forEach(([tag, val], i) => {
    view.setUint16(SIZE_OF_STAT * i, tag, true);
    view.setBigUint64(SIZE_OF_STAT * i + 2, val, true);
  });
  h.memory.write(addr, bytes);
  return { addr, len: bytes.length };
}

test('a stats entry is 10 bytes; tags 0–15 carry Firecracker’s names', () => {
  assert.equal(SIZE_OF_STAT, 10);
  assert.equal(MAX_STATS_DESC_LEN, 2560);
  assert.deepEqual(STAT_TAGS, [
    'swap_in',
    'swap_out',
    'major_faults',
    'minor_faults',
    'free_memory',
    'total_memory',
    'available_memory',
    'disk_caches',
    'hugetlb_allocations',
    'hugetlb_failures',
    'oom_kill',
    'alloc_stall',
    'async_scan',
    'direct_scan',
    'async_reclaim',
    'direct_reclaim',
  ]);
});

test('stats: every tag is parsed, the buffer held without an interrupt, and handed back each interval', (t) => {
  const timers = FakeTimers.install(t);
  const h = activated({ stats_polling_interval_s: 1, amount_mib: 20 });
  const entries = STAT_TAGS.map((_, tag) => [tag, BigInt(1000 + tag)] as const);
  const head = put(h, STATS, [statsBuffer(h, DATA_BASE, entries)]);
  h.balloon.notifyQueue(STATS);
  assert.deepEqual(used(h, STATS), [], 'held until the interval');
  assert.deepEqual(h.interrupt.take(), []);
  const stats = h.balloon.latestStats();
  assert.equal(stats.target_pages, 5120);
  assert.equal(stats.target_mib, 20);
  STAT_TAGS.forEach((name, tag) => {
    assert.equal(stats[name], 1000 + tag, name);
  });
  timers.tick(999);
  assert.deepEqual(used(h, STATS), []);
  timers.tick(1);
  assert.deepEqual(used(h, STATS), [{ id: head, len: 0 }]);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  // Nothing held: the next tick hands nothing back (Firecracker: "missing descriptor").
  timers.tick(1000);
  assert.deepEqual(used(h, STATS), []);
  assert.deepEqual(h.interrupt.take(), []);
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 1 }));
  h.balloon.reset();
});

test('stats: each tag the device does not know counts stats_update_fails and is skipped; the others are read', (t) => {
  const timers = FakeTimers.install(t);
  const h = activated({ stats_polling_interval_s: 1 });
  const head = put(h, STATS, [
    statsBuffer(h, DATA_BASE, [
      [99, 1n],
      [4, 7n],
      [16, 1n],
      [5, 9n],
      [300, 2n],
    ]),
  ]);
  h.balloon.notifyQueue(STATS);
  const stats = h.balloon.latestStats();
  assert.equal(stats.free_memory, 7);
  assert.equal(stats.total_memory, 9, 'read past the unknown tags');
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 1, stats_update_fails: 3 }));
  // The buffer is held all the same, and handed back.
  timers.tick(1000);
  assert.deepEqual(used(h, STATS), [{ id: head, len: 0 }]);
  h.balloon.reset();
});

test('stats: a buffer of more than 256 entries is held but not parsed', (t) => {
  const timers = FakeTimers.install(t);
  const h = activated({ stats_polling_interval_s: 1 });
  const entries = Array.from({ length: 257 }, () => [4, 123n] as const);
  const head = put(h, STATS, [statsBuffer(h, DATA_BASE, entries)]);
  h.balloon.notifyQueue(STATS);
  assert.equal(h.balloon.latestStats().free_memory, undefined);
  timers.tick(1000);
  assert.deepEqual(used(h, STATS), [{ id: head, len: 0 }]);
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 1 }));
  h.balloon.reset();
});

test('stats: exactly 256 entries are parsed; a trailing partial entry is not read', () => {
  const h = activated({ stats_polling_interval_s: 1 });
  const entries = Array.from({ length: 256 }, (_, i) => [4, BigInt(i)] as const);
  put(h, STATS, [statsBuffer(h, DATA_BASE, entries)]);
  h.balloon.notifyQueue(STATS);
  assert.equal(h.balloon.latestStats().free_memory, 255);
  // 2 entries and 3 bytes of a third (tag 5, whose value would be read past the buffer).
  const buffer = statsBuffer(h, DATA_BASE + 0x1000, [[4, 1n], [4, 2n], [5, 3n]]);
  put(h, STATS, [{ ...buffer, len: 23 }]);
  h.balloon.notifyQueue(STATS);
  assert.equal(h.balloon.latestStats().free_memory, 2);
  assert.equal(h.balloon.latestStats().total_memory, undefined);
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 2 }));
  h.balloon.reset();
});

test('stats: a second buffer returns the first at once', () => {
  const h = activated({ stats_polling_interval_s: 1 });
  const first = put(h, STATS, [statsBuffer(h, DATA_BASE, [[0, 1n]])]);
  h.balloon.notifyQueue(STATS);
  const second = put(h, STATS, [statsBuffer(h, DATA_BASE + 0x100, [[0, 2n]])]);
  h.balloon.notifyQueue(STATS);
  assert.deepEqual(used(h, STATS), [{ id: first, len: 0 }]);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  assert.equal(h.balloon.latestStats().swap_in, 2);
  assert.notEqual(second, first);
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 2 }));
  h.balloon.reset();
});

test('stats: a buffer outside guest memory counts event_fails and is returned at once', () => {
  const h = activated({ stats_polling_interval_s: 1 });
  const head = put(h, STATS, [{ addr: MEMORY_MIB * MIB - 5, len: 10 }]);
  h.balloon.notifyQueue(STATS);
  assert.deepEqual(used(h, STATS), [{ id: head, len: 0 }]);
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 1, event_fails: 1 }));
  h.balloon.reset();
});

test('updateStatsPollingInterval hands the held buffer back at once and re-arms the timer', (t) => {
  const timers = FakeTimers.install(t);
  const h = activated({ stats_polling_interval_s: 1 });
  const head = put(h, STATS, [statsBuffer(h, DATA_BASE, [[0, 1n]])]);
  h.balloon.notifyQueue(STATS);
  h.balloon.updateStatsPollingInterval(3);
  assert.deepEqual(used(h, STATS), [{ id: head, len: 0 }]);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  const again = put(h, STATS, [statsBuffer(h, DATA_BASE, [[0, 2n]])]);
  h.balloon.notifyQueue(STATS);
  timers.tick(2999);
  assert.deepEqual(used(h, STATS), [], 'the old 1 s interval is gone');
  timers.tick(1);
  assert.deepEqual(used(h, STATS), [{ id: again, len: 0 }]);
  h.balloon.reset();
});

test('reset stops the timer: a held buffer is not handed back afterwards', (t) => {
  const timers = FakeTimers.install(t);
  const h = activated({ stats_polling_interval_s: 1 });
  put(h, STATS, [statsBuffer(h, DATA_BASE, [[0, 1n]])]);
  h.balloon.notifyQueue(STATS);
  h.balloon.reset();
  timers.tick(5000);
  assert.deepEqual(used(h, STATS), []);
  assert.deepEqual(h.interrupt.raised, []);
});

test('the polling timer is a real, unref’d timer', async () => {
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const h = activated({ stats_polling_interval_s: 1 });
  assert.equal(
    process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
    timersBefore,
    'an unref’d timer keeps nothing alive, so it is not an active resource',
  );
  const head = put(h, STATS, [statsBuffer(h, DATA_BASE, [[0, 1n]])]);
  h.balloon.notifyQueue(STATS);
  await sleep(1100);
  assert.deepEqual(used(h, STATS), [{ id: head, len: 0 }]);
  assert.deepEqual(h.interrupt.take(), ['vring']);
  h.balloon.reset();
});

test('stats: a driver that sends its next buffer from inside the interrupt finds it held, none lost', () => {
  const h = activated({ stats_polling_interval_s: 1 });
  const a = put(h, STATS, [statsBuffer(h, DATA_BASE, [[0, 1n]])]);
  h.balloon.notifyQueue(STATS);
  const b = put(h, STATS, [statsBuffer(h, DATA_BASE + 0x100, [[0, 2n]])]);
  let c = -1;
  h.interrupt.onNextRaise = () => {
    c = put(h, STATS, [statsBuffer(h, DATA_BASE + 0x200, [[0, 3n]])]);
    h.balloon.notifyQueue(STATS);
  };
  h.balloon.notifyQueue(STATS);
  // A came back for B; from inside that interrupt C came, and B came back for it.
  assert.deepEqual(used(h, STATS), [
    { id: a, len: 0 },
    { id: b, len: 0 },
  ]);
  assert.equal(h.balloon.latestStats().swap_in, 3);
  h.balloon.updateStatsPollingInterval(2); // hands back what is held: C
  assert.deepEqual(used(h, STATS), [{ id: c, len: 0 }]);
  assert.deepEqual(counts(h.metrics), expected({ stats_updates_count: 3 }));
  h.balloon.reset();
});

test('stats: a value past 2^53 is kept exact, as a bigint', () => {
  const h = activated({ stats_polling_interval_s: 1 });
  put(h, STATS, [statsBuffer(h, DATA_BASE, [[4, 2n ** 60n + 3n], [5, 1024n]])]);
  h.balloon.notifyQueue(STATS);
  const stats = h.balloon.latestStats();
  assert.equal(stats.free_memory, 2n ** 60n + 3n);
  assert.equal(stats.total_memory, 1024);
  h.balloon.reset();
});
