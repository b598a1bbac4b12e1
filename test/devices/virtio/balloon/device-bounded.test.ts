/**
 * A guest asking for huge discards: one notification of the reporting or hinting queue may
 * carry 256 chains of 256 descriptors of up to 4 GiB each (a terabyte's worth of ranges). Found
 * by review: when a discard walked every page of its range, such a notification held the
 * process for minutes. A discard now costs what is resident in the range; the test's timeout is
 * the guard (the old walk would run far past it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balloon } from '../../../../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../../../../src/devices/virtio/balloon/metrics.js';
import { GuestMemory, PAGE_SIZE } from '../../../../src/vstate/memory.js';
import { deviceQueue, layoutQueue, pushAvail, putChain, usedEntries } from '../support/index.js';
import { RecordingInterrupt } from './device-setup.js';

const GUEST_BYTES = 2 ** 40;
const SIZE = 256;
// 4 GiB less 4 MiB: 256 of them from 1 GiB end exactly at the guest's 1 TiB.
const RANGE = 2 ** 32 - 2 ** 22;

test('a notification of 256 chains × 256 ranges of 4 GiB each is served in bounded time, and counted', { timeout: 30_000 }, () => {
  const memory = new GuestMemory(GUEST_BYTES);
  const metrics = BalloonDeviceMetrics.create();
  const balloon = new Balloon({ amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0, free_page_reporting: true }, { metrics });
  const queues = balloon.queueMaxSizes.map((maxSize, i) => {
    const layout = layoutQueue(memory, 0x10_0000 + i * 0x10_000, SIZE);
    return { layout, queue: deviceQueue(layout, maxSize) };
  });
  balloon.activate({ memory, queues: queues.map((q) => q.queue), interrupt: new RecordingInterrupt() });
  const reporting = queues[2]?.layout;
  assert.ok(reporting !== undefined);
  // Resident pages scattered over the whole guest, some inside the ranges.
  const one = new Uint8Array([1]);
  for (let gib = 1; gib < 1024; gib += 7) memory.write(gib * 2 ** 30 + 12 * PAGE_SIZE, one);
  const resident = memory.residentBytes();
  // One chain of 256 ranges, each 4 GiB, from 1 GiB up; the same head made available 256 times.
  const head = putChain(
    memory,
    reporting,
    Array.from({ length: SIZE }, (_, i) => ({ addr: 2 ** 30 + i * RANGE, len: RANGE, writeOnly: true })),
  );
  for (let i = 1; i < SIZE; i++) pushAvail(memory, reporting, head);
  balloon.notifyQueue(2);
  assert.equal(usedEntries(memory, reporting).length, SIZE, 'every chain is returned');
  assert.equal(metrics.free_page_report_count.count(), SIZE * SIZE);
  assert.equal(metrics.free_page_report_freed.countBigInt(), BigInt(SIZE * SIZE) * BigInt(RANGE));
  assert.ok(memory.residentBytes() < resident, 'the resident pages inside the ranges were released');
  balloon.reset();
});
