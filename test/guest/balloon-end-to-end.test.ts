/**
 * The simulated guest against the real device: `SimulatedBalloonDriver` probing a `Balloon`
 * through `MmioTransport`, in one 64 MiB guest memory, with the VM's own metrics document.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { test } from 'node:test';
import { Balloon } from '../../src/devices/virtio/balloon/device.js';
import { MmioTransport } from '../../src/devices/virtio/transport/mmio.js';
import { GuestMemoryModel, SimulatedBalloonDriver, Workload } from '../../src/guest/index.js';
import { FirecrackerMetrics } from '../../src/index.js';
import { GuestMemory, PAGE_SIZE } from '../../src/vstate/memory.js';

const MiB = 1024 * 1024;

function vm(memoryMiB: number, config: Partial<ConstructorParameters<typeof Balloon>[0]> = {}) {
  const memory = new GuestMemory(memoryMiB * MiB);
  const metrics = new FirecrackerMetrics().balloon;
  const balloon = new Balloon(
    { amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1, free_page_hinting: true, free_page_reporting: true, ...config },
    { metrics },
  );
  // The host wires the device's interrupt line to the guest's handler.
  const guest: { driver?: SimulatedBalloonDriver } = {};
  const transport = new MmioTransport(balloon, memory, { onInterrupt: () => guest.driver?.handleInterrupt() });
  const workload = new Workload(new GuestMemoryModel(memory), { seed: 11 });
  const driver = new SimulatedBalloonDriver({ mmio: transport, memory, workload });
  guest.driver = driver;
  return { memory, metrics, balloon, transport, workload, driver };
}

/** The driver's work runs in a microtask after the interrupt: let it. */
async function settle(): Promise<void> {
  await nextMacrotask();
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a 64 MiB guest: probe, inflate to 16 MiB, stats, reporting, hinting, deflate to 0', async () => {
  const { memory, metrics, balloon, transport, workload, driver } = vm(64);
  driver.probe();
  assert.equal(transport.status, 1 | 2 | 8 | 4);
  assert.ok(balloon.activated);
  assert.deepEqual(driver.negotiated, { statsVq: true, deflateOnOom: true, freePageHint: true, pageReporting: true });
  assert.equal(metrics.activate_fails.count(), 0);
  // The stats buffer was made available once: one processing of the stats queue.
  assert.equal(metrics.stats_updates_count.count(), 1);

  // Free page reporting: the workload touches 32 MiB and frees it; the chunks go back to the host.
  workload.allocate(8192 - driver.driverPages);
  workload.resize(0);
  const beforeReport = memory.residentBytes();
  driver.tick(0);
  // 32 chunks of 2 MiB; the first holds the driver's rings. Chunks 1–15 were resident; the
  // reporting queue's two ring pages are touched for the first time.
  assert.deepEqual(driver.activity.reportedRanges, 31);
  assert.equal(metrics.free_page_report_count.count(), 31);
  assert.equal(metrics.free_page_report_freed.count(), 31 * 2 * MiB);
  assert.equal(metrics.free_page_report_fails.count(), 0);
  assert.equal(beforeReport - memory.residentBytes(), 15 * 2 * MiB - 2 * PAGE_SIZE);
  driver.tick(1000);
  driver.tick(5000);
  assert.equal(metrics.free_page_report_count.count(), 31, 'reported chunks are not reported again');

  // A first round trip touches the inflate and deflate rings, so they do not count below.
  balloon.updateSize(1);
  await settle();
  balloon.updateSize(0);
  await settle();
  assert.equal(metrics.inflate_count.count(), 1);
  assert.equal(metrics.deflate_count.count(), 1);

  // The workload holds 40 MiB and frees 20 MiB again: those pages are still resident.
  workload.allocate(10 * 1024);
  workload.free(5 * 1024);
  const beforeInflate = memory.residentBytes();
  balloon.updateSize(16);
  assert.equal(driver.actualPages, 0, 'the work waits for the microtask');
  await settle();
  assert.equal(driver.targetPages, 4096);
  assert.equal(driver.actualPages, 4096);
  assert.equal(balloon.actualPages, 4096);
  assert.equal(driver.balloonPages, 4096);
  assert.equal(beforeInflate - memory.residentBytes(), 16 * MiB);
  // One processing per buffer of 256 frame numbers.
  assert.equal(metrics.inflate_count.count(), 1 + 16);
  assert.equal(metrics.event_fails.count(), 0);

  // Statistics: the device hands the buffer back after its 1 s interval; the driver refills it.
  await waitFor(() => metrics.stats_updates_count.count() >= 2, 3000);
  const stats = balloon.latestStats();
  assert.equal(stats.target_mib, 16);
  assert.equal(stats.actual_mib, 16);
  assert.equal(stats.total_memory, 64 * MiB);
  assert.equal(stats.free_memory, driver.freePages * PAGE_SIZE);
  assert.equal(stats.minor_faults, driver.stats().minor_faults);
  assert.equal(metrics.stats_update_fails.count(), 0);

  // Free page hinting: free pages still holding data (16, at the top of a free 4 MiB block) are
  // given back to the host.
  const stale = Array.from({ length: 16 }, (_, i) => 16383 - i);
  for (const pfn of stale) {
    assert.equal(driver.model.ownerOf(pfn), 'free');
    memory.writeU64(pfn * PAGE_SIZE, 0xdead_beefn);
  }
  const beforeHint = memory.residentBytes();
  balloon.startHinting({ acknowledge_on_stop: true });
  await settle();
  const hinted = driver.activity.hintedRanges;
  assert.ok(hinted >= 5, `${hinted} blocks hinted`);
  assert.equal(metrics.free_page_hint_count.count(), hinted);
  assert.equal(metrics.free_page_hint_freed.count(), hinted * 4 * MiB);
  assert.equal(metrics.free_page_hint_fails.count(), 0);
  for (const pfn of stale) assert.equal(memory.readU64(pfn * PAGE_SIZE), 0n);
  // Less the hinting queue's two ring pages, touched for the first time.
  assert.equal(beforeHint - memory.residentBytes(), (16 - 2) * PAGE_SIZE);
  // The guest ended its run with STOP; acknowledged, the host said DONE and the blocks came back.
  assert.deepEqual(balloon.hintingStatus(), { host_cmd: 1, guest_cmd: 0 });
  assert.equal(driver.hintedPages, 0);
  assert.equal(driver.activity.hintedBlocksReturned, hinted);

  // Deflating to 0.
  const free = driver.freePages;
  balloon.updateSize(0);
  await settle();
  assert.equal(driver.actualPages, 0);
  assert.equal(balloon.actualPages, 0);
  assert.equal(driver.freePages, free + 4096);
  assert.equal(metrics.deflate_count.count(), 1 + 16);

  // Everything the device did is what the driver sent, and nothing failed.
  assert.equal(metrics.inflate_count.count(), driver.activity.inflateBuffers);
  assert.equal(metrics.deflate_count.count(), driver.activity.deflateBuffers);
  assert.equal(metrics.stats_updates_count.count(), driver.activity.statsBuffers);
  assert.equal(metrics.free_page_report_count.count(), driver.activity.reportedRanges);
  assert.equal(metrics.free_page_report_freed.count(), driver.activity.reportedBytes);
  assert.equal(metrics.free_page_hint_freed.count(), driver.activity.hintedBytes);
  assert.equal(metrics.event_fails.count(), 0);
  assert.equal(metrics.activate_fails.count(), 0);
  assert.equal(driver.broken, undefined);
  transport.write(0x070, new Uint8Array(4)); // reset: the device stops its stats timer
});

test('deflate_on_oom: a workload that needs the balloon\'s pages gets them through the deflate queue', async () => {
  const { metrics, balloon, transport, workload, driver } = vm(8, { stats_polling_interval_s: 0, free_page_hinting: false, free_page_reporting: false });
  driver.probe();
  assert.deepEqual(driver.negotiated, { statsVq: false, deflateOnOom: true, freePageHint: false, pageReporting: false });
  balloon.updateSize(4);
  await settle();
  assert.equal(balloon.actualPages, 1024);
  workload.allocate(driver.freePages);
  assert.equal(workload.allocate(100), 100);
  assert.equal(metrics.deflate_count.count(), 1);
  assert.equal(balloon.actualPages, 1024 - 256);
  assert.equal(driver.balloonPages, 1024 - 256);
  // The balloon does not grow back until the host changes the target.
  driver.tick(0);
  assert.equal(metrics.inflate_count.count(), 4);
  assert.equal(metrics.event_fails.count(), 0);
  transport.write(0x070, new Uint8Array(4));
});
