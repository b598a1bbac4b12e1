/**
 * The balloon gives host memory back on KVM: `Balloon` behind `MmioTransport` in a microVM
 * (`BalloonVm`: memory mapped by this process and registered with KVM), the process's RSS read
 * from /proc/<pid>/status. The guest's pages are touched by the host and the device is driven
 * through its registers by the tests' own driver (balloon-driver.ts), so these run wherever KVM
 * opens; the same figures with Linux's own driver are linux.test.ts's, on hardware KVM.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BalloonDeviceMetrics, VIRTIO_BALLOON_F_PAGE_REPORTING } from '../../src/devices/virtio/balloon/index.js';
import { BalloonVm } from '../../src/kvm/balloon-vm.js';
import { processRssBytes } from '../../src/kvm/rss.js';
import { TestBalloonDriver } from './balloon-driver.js';
import { kvmOrSkip, tinyElf, X64 } from './support.js';

const MIB = 1 << 20;
const PAGE = 4096;
const MEMORY = 1024 * MIB;
/** The guest's "used" memory: from 256 MiB to 1 GiB, touched page by page. */
const TOUCHED_FROM = 256 * MIB;
const VERSION_1 = 1n << 32n;

async function vmWithTouchedMemory(reporting: boolean): Promise<{ vm: BalloonVm; metrics: BalloonDeviceMetrics }> {
  const metrics = BalloonDeviceMetrics.create();
  const vm = await BalloonVm.create({
    kernel: tinyElf(X64.halt),
    cmdline: '',
    memoryBytes: MEMORY,
    balloon: { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0, free_page_reporting: reporting },
    metrics,
  });
  const bytes = vm.vm.memory.bytes;
  for (let at = TOUCHED_FROM; at < MEMORY; at += PAGE) bytes[at] = 0xa5;
  return { vm, metrics };
}

describe('the balloon on KVM memory', () => {
  test('inflating by 512 MiB after the guest touched 768 MiB makes the process RSS fall by at least 500 MiB', async (t) => {
    if (!(await kvmOrSkip(t))) return;
    const { vm, metrics } = await vmWithTouchedMemory(false);
    try {
      const driver = new TestBalloonDriver(vm.transport, vm.vm.memory, { queueArea: 1 * MIB, queues: 2, features: VERSION_1 });
      assert.equal(vm.balloon.activated, true);
      vm.balloon.updateSize(512);
      assert.equal(driver.targetPages(), 512 * 256);
      // Linux hands frames over as it allocates them: scattered, not in order.
      const pfns = Array.from({ length: 512 * 256 }, (_, i) => TOUCHED_FROM / PAGE + ((i * 7919) % (512 * 256)));
      const before = processRssBytes();
      const notifications = await driver.inflate(pfns);
      const after = processRssBytes();
      assert.ok(before - after >= 500 * MIB, `RSS ${(before / MIB).toFixed(1)} MiB → ${(after / MIB).toFixed(1)} MiB`);
      assert.equal(vm.balloon.actualPages, 512 * 256);
      assert.equal(vm.balloon.releasedBytes().inflate, 512 * MIB);
      assert.equal(metrics.inflate_count.count(), notifications);
      // The pages read zero, and their neighbours outside the balloon are untouched.
      assert.equal(vm.vm.memory.readU32(TOUCHED_FROM), 0);
      assert.equal(vm.vm.memory.bytes[TOUCHED_FROM + 512 * MIB], 0xa5);
    } finally {
      await vm.stop();
    }
  });

  test('free page reporting of 512 MiB the guest freed makes the process RSS fall by at least 500 MiB', async (t) => {
    if (!(await kvmOrSkip(t))) return;
    const { vm, metrics } = await vmWithTouchedMemory(true);
    try {
      const driver = new TestBalloonDriver(vm.transport, vm.vm.memory, {
        queueArea: 1 * MIB,
        queues: 3,
        features: VERSION_1 | (1n << BigInt(VIRTIO_BALLOON_F_PAGE_REPORTING)),
      });
      const before = processRssBytes();
      // Linux reports free blocks of its page_reporting_order (4 MiB here), up to 32 a chain.
      for (let chain = 0; chain < 4; chain++) {
        await driver.report(2, Array.from({ length: 32 }, (_, i) => ({ addr: TOUCHED_FROM + (chain * 32 + i) * 4 * MIB, len: 4 * MIB })));
      }
      const after = processRssBytes();
      assert.ok(before - after >= 500 * MIB, `RSS ${(before / MIB).toFixed(1)} MiB → ${(after / MIB).toFixed(1)} MiB`);
      assert.equal(metrics.free_page_report_count.count(), 128);
      assert.equal(metrics.free_page_report_freed.count(), 512 * MIB);
      assert.equal(vm.balloon.releasedBytes().reporting, 512 * MIB);
    } finally {
      await vm.stop();
    }
  });
});
