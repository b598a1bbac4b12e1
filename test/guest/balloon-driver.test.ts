/** The simulated balloon driver against a scripted device (test/guest/support/fake-balloon.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STAT_TAG } from '../../src/devices/virtio/balloon/abi.js';
import { MMIO_REGISTER } from '../../src/devices/virtio/transport/registers.js';
import { SimulatedBalloonDriver, type SimulatedBalloonDriverOptions } from '../../src/guest/balloon-driver.js';
import { DeviceProtocolError, ProbeError } from '../../src/guest/errors.js';
import { GuestMemoryModel } from '../../src/guest/memory-model.js';
import { Workload } from '../../src/guest/workload.js';
import { PAGE_SIZE } from '../../src/vstate/memory.js';
import { F, FakeBalloon } from './support/fake-balloon.js';

const ALL = [F.statsVq, F.deflateOnOom, F.freePageHint, F.pageReporting];
const MiB = 1024 * 1024;

function setUp(
  features: readonly number[] = ALL,
  options: Partial<SimulatedBalloonDriverOptions> & { memoryMiB?: number; withWorkload?: boolean } = {},
): { fake: FakeBalloon; driver: SimulatedBalloonDriver; workload: Workload | undefined } {
  const fake = new FakeBalloon({ memoryMiB: options.memoryMiB ?? 16, features });
  const workload = options.withWorkload === true ? new Workload(new GuestMemoryModel(fake.memory), { seed: 5 }) : undefined;
  const driver = new SimulatedBalloonDriver({
    mmio: fake.device,
    memory: fake.memory,
    ...(workload === undefined ? {} : { workload }),
    schedule: (work) => {
      work();
    },
    ...options,
  });
  fake.connect(() => {
    driver.handleInterrupt();
  });
  return { fake, driver, workload };
}

describe('SimulatedBalloonDriver: probe', () => {
  test('walks the handshake, accepts the offered features it knows, and sets up the queues in order', () => {
    const { fake, driver } = setUp();
    driver.probe();
    const statusWrites = fake.device.writes().filter(([offset]) => offset === MMIO_REGISTER.status).map(([, value]) => value);
    assert.deepEqual(statusWrites, [0, 1, 3, 11, 15]);
    assert.equal(fake.device.driverFeatures, (1n << 32n) | (1n << 1n) | (1n << 2n) | (1n << 3n) | (1n << 5n));
    assert.deepEqual(driver.negotiated, { statsVq: true, deflateOnOom: true, freePageHint: true, pageReporting: true });
    const selected = fake.device.writes().filter(([offset]) => offset === MMIO_REGISTER.queueSel).map(([, value]) => value);
    assert.deepEqual(selected, [0, 1, 2, 3, 4]);
    for (const queue of fake.device.queues) {
      assert.ok(queue.isValid(fake.memory));
      // Rings live in pages the driver reserved from its own RAM.
      assert.equal(driver.model.ownerOf(Math.floor(Number(queue.descTable) / PAGE_SIZE)), 'driver');
      assert.equal(driver.model.ownerOf(Math.floor(Number(queue.usedRing) / PAGE_SIZE)), 'driver');
    }
    assert.equal(driver.driverPages, 11);
    // The stats buffer is made available after DRIVER_OK: the device holds it.
    assert.equal(fake.on('stats').length, 1);
    const driverOkAt = fake.device.log.findIndex((a) => a.op === 'write' && a.offset === MMIO_REGISTER.status && a.value === 15);
    const notifyAt = fake.device.log.findIndex((a) => a.op === 'write' && a.offset === MMIO_REGISTER.queueNotify);
    assert.ok(driverOkAt >= 0 && notifyAt > driverOkAt);
  });

  test('only the features it is asked to use, and only queues for them', () => {
    const { fake, driver } = setUp(ALL, { features: { statsVq: false, freePageHint: false } });
    driver.probe();
    assert.equal(fake.device.driverFeatures, (1n << 32n) | (1n << 2n) | (1n << 5n));
    assert.deepEqual(driver.negotiated, { statsVq: false, deflateOnOom: true, freePageHint: false, pageReporting: true });
    // The device offered five queues; the driver set up inflate, deflate and reporting at 0, 1, 2.
    assert.deepEqual(fake.device.queues.map((q) => q.ready), [true, true, true, false, false]);
  });

  test('a refused FEATURES_OK or another device type fails the probe, with FAILED set', () => {
    const { fake, driver } = setUp([F.statsVq]);
    Object.assign(fake.device, { status: 0 });
    const refusing = new FakeBalloon({ memoryMiB: 4, features: [] });
    (refusing.device as unknown as { write: (o: number, d: Uint8Array) => void }).write = ((write) => (offset: number, data: Uint8Array) => {
      if (offset === MMIO_REGISTER.status && (data[0] ?? 0) & 8) data = Uint8Array.of((data[0] ?? 0) & ~8, 0, 0, 0);
      write(offset, data);
    })(refusing.device.write.bind(refusing.device));
    const other = new SimulatedBalloonDriver({ mmio: refusing.device, memory: refusing.memory });
    assert.throws(() => {
      other.probe();
    }, (e) => e instanceof ProbeError && /FEATURES_OK did not stick/.test(e.message));
    assert.equal(refusing.device.status & 128, 128);
    driver.probe();
    assert.equal(fake.device.status, 15);
  });
});

describe('SimulatedBalloonDriver: inflate and deflate', () => {
  test('inflates towards num_pages in buffers of at most 256 frame numbers, writing actual_pages after each', () => {
    const { fake, driver } = setUp();
    driver.probe();
    const actualWrites = (): number[] => fake.device.log.filter((a) => a.op === 'write' && a.offset === MMIO_REGISTER.config + 4).map((a) => a.value);
    fake.setConfig('num_pages', 1000);
    const buffers = fake.on('inflate');
    assert.deepEqual(buffers.map((b) => b.descriptors.length), [1, 1, 1, 1]);
    assert.deepEqual(buffers.map((b) => fake.pfns(b).length), [256, 256, 256, 232]);
    assert.ok(buffers.every((b) => b.descriptors[0]?.writeOnly === false));
    assert.deepEqual(actualWrites(), [256, 512, 768, 1000]);
    assert.equal(fake.actualPages, 1000);
    assert.equal(driver.balloonPages, 1000);
    assert.equal(driver.targetPages, 1000);
    const pfns = buffers.flatMap((b) => fake.pfns(b));
    assert.equal(new Set(pfns).size, 1000);
    assert.ok(pfns.every((pfn) => driver.model.ownerOf(pfn) === 'balloon'));
    assert.deepEqual(driver.activity.inflatedPages, 1000);
  });

  test('never takes the workload\'s pages; the host sees the resident pages go', () => {
    const { fake, driver, workload } = setUp(ALL, { withWorkload: true });
    assert.ok(workload);
    driver.probe();
    // A first round trip touches the inflate and deflate rings, so they do not count below.
    fake.setConfig('num_pages', 1);
    fake.setConfig('num_pages', 0);
    workload.allocate(3000);
    workload.free(1000);
    const held = new Set(Array.from({ length: driver.totalPages }, (_, pfn) => pfn).filter((pfn) => driver.model.ownerOf(pfn) === 'workload'));
    const before = fake.memory.residentBytes();
    fake.setConfig('num_pages', 1000);
    const pfns = fake.on('inflate').slice(1).flatMap((b) => fake.pfns(b));
    assert.equal(pfns.length, 1000);
    assert.ok(pfns.every((pfn) => !held.has(pfn)));
    // The balloon took the pages the workload freed last, still resident: all of them go.
    assert.equal(before - fake.memory.residentBytes(), 1000 * PAGE_SIZE);
  });

  test('deflates towards a lower target, telling the host before the pages are free again', () => {
    const { fake, driver } = setUp();
    driver.probe();
    fake.setConfig('num_pages', 600);
    fake.hold.add('deflate');
    fake.setConfig('num_pages', 100);
    // One deflate buffer in flight: its pages are not free yet, actual_pages unchanged.
    assert.equal(fake.on('deflate').length, 1);
    const first = fake.pfns(fake.on('deflate')[0]);
    assert.equal(first.length, 256);
    assert.ok(first.every((pfn) => driver.model.ownerOf(pfn) === 'balloon'));
    assert.equal(fake.actualPages, 600);
    fake.hold.delete('deflate');
    fake.release('deflate');
    assert.deepEqual(fake.on('deflate').map((b) => fake.pfns(b).length), [256, 244]);
    assert.ok(first.every((pfn) => driver.model.ownerOf(pfn) === 'free'));
    assert.equal(fake.actualPages, 100);
    assert.equal(driver.balloonPages, 100);
  });

  test('waits for each buffer: nothing more is sent while one is in flight', () => {
    const { fake, driver } = setUp();
    driver.probe();
    fake.hold.add('inflate');
    fake.setConfig('num_pages', 700);
    assert.equal(fake.on('inflate').length, 1);
    assert.equal(fake.actualPages, 0);
    driver.tick(0);
    assert.equal(fake.on('inflate').length, 1, 'a tick does not send a second buffer');
    fake.release('inflate');
    assert.equal(fake.on('inflate').length, 2);
    assert.equal(fake.actualPages, 256);
    fake.hold.delete('inflate');
    fake.release('inflate');
    assert.equal(fake.actualPages, 700);
  });

  test('out of free pages it stops, and tries again on a later tick', () => {
    const { fake, driver, workload } = setUp([F.statsVq], { withWorkload: true, memoryMiB: 4 });
    assert.ok(workload);
    driver.probe();
    workload.allocate(driver.freePages - 100);
    fake.setConfig('num_pages', 300);
    assert.equal(fake.actualPages, 100);
    workload.free(500);
    driver.tick(0);
    assert.equal(fake.actualPages, 300);
  });

  test('by default the interrupt\'s work runs in a microtask, never inside the host\'s call', async () => {
    const { fake, driver } = setUp(ALL, { schedule: queueMicrotask });
    driver.probe();
    fake.setConfig('num_pages', 10);
    assert.equal(fake.on('inflate').length, 0);
    await Promise.resolve();
    assert.equal(fake.actualPages, 10);
  });
});

describe('SimulatedBalloonDriver: statistics', () => {
  test('the stats buffer holds every tag; each time the device gives it back it is refilled and re-added', () => {
    const { fake, driver, workload } = setUp(ALL, { withWorkload: true });
    assert.ok(workload);
    driver.probe();
    const read = (index: number): Map<number, bigint> => {
      const [d] = fake.on('stats')[index]?.descriptors ?? [];
      assert.ok(d);
      assert.equal(d.writeOnly, false);
      assert.equal(d.len, 160);
      const out = new Map<number, bigint>();
      for (let at = 0; at < d.len; at += 10) out.set(fake.memory.readU16(d.addr + BigInt(at)), fake.memory.readU64(d.addr + BigInt(at + 2)));
      return out;
    };
    const first = read(0);
    assert.deepEqual([...first.keys()].sort((a, b) => a - b), Object.values(STAT_TAG));
    assert.equal(first.get(STAT_TAG.total_memory), BigInt(16 * MiB));
    workload.allocate(1000);
    fake.release('stats');
    assert.equal(fake.on('stats').length, 2);
    const second = read(1);
    const stats = driver.stats();
    assert.equal(second.get(STAT_TAG.free_memory), BigInt(stats.free_memory));
    assert.equal(stats.free_memory, driver.freePages * PAGE_SIZE);
    assert.equal(second.get(STAT_TAG.minor_faults), 1000n);
    assert.equal(driver.activity.statsBuffers, 2);
  });

  test('without DEFLATE_ON_OOM the balloon leaves total_memory, as Linux adjusts managed pages', () => {
    const { fake, driver } = setUp([F.statsVq]);
    driver.probe();
    fake.setConfig('num_pages', 256);
    assert.equal(driver.stats().total_memory, (driver.totalPages - 256) * PAGE_SIZE);
    const withOom = setUp([F.statsVq, F.deflateOnOom]);
    withOom.driver.probe();
    withOom.fake.setConfig('num_pages', 256);
    assert.equal(withOom.driver.stats().total_memory, withOom.driver.totalPages * PAGE_SIZE);
  });
});

describe('SimulatedBalloonDriver: free page reporting', () => {
  test('reports whole free 2 MiB chunks in chains of device-writable ranges, holding them until they come back', () => {
    const { fake, driver, workload } = setUp(ALL, { withWorkload: true, memoryMiB: 160, reportingIntervalMs: 2000 });
    assert.ok(workload);
    driver.probe();
    workload.allocate(driver.freePages);
    workload.free(workload.pages);
    const before = fake.memory.residentBytes();
    fake.hold.add('report');
    driver.tick(0);
    const [chain] = fake.on('report');
    assert.ok(chain);
    assert.equal(chain.descriptors.length, 32);
    assert.ok(chain.descriptors.every((d) => d.writeOnly && d.len === 2 * MiB && d.addr % BigInt(2 * MiB) === 0n));
    const first = Number(chain.descriptors[0]?.addr ?? 0n) / PAGE_SIZE;
    assert.equal(driver.model.ownerOf(first), 'reporting');
    // While the chain is out, its pages are not handed out.
    assert.equal(driver.freePages, driver.totalPages - driver.driverPages - 32 * 512);
    fake.hold.delete('report');
    fake.release('report');
    // 80 chunks, the first holds the driver's pages: 79 reported in chains of 32, 32, 15.
    assert.deepEqual(fake.on('report').map((r) => r.descriptors.length), [32, 32, 15]);
    assert.equal(driver.model.ownerOf(first), 'free');
    // Every reported chunk is gone from the host; the reporting queue's two ring pages, touched
    // for the first time, came in.
    assert.equal(before - fake.memory.residentBytes(), 79 * 2 * MiB - 2 * PAGE_SIZE);
    assert.equal(driver.model.reportedFreePages(), 79 * 512);
    // Not again before the interval, and not the same chunks after it.
    driver.tick(1000);
    driver.tick(2500);
    assert.equal(fake.on('report').length, 3);
    assert.deepEqual(driver.activity, { ...driver.activity, reportChains: 3, reportedRanges: 79, reportedBytes: 79 * 2 * MiB });
  });
});

describe('SimulatedBalloonDriver: free page hinting', () => {
  test('a new command id: the id, free 4 MiB blocks, then STOP; DONE gives the blocks back', () => {
    const { fake, driver } = setUp(ALL, { memoryMiB: 32 });
    driver.probe();
    fake.setConfig('free_page_hint_cmd_id', 7);
    const chains = fake.on('hint');
    const cmd = (i: number): number | undefined => fake.u32(chains[i]);
    const start = chains[0]?.descriptors[0];
    assert.deepEqual([start?.len, start?.writeOnly], [4, false]);
    assert.equal(cmd(0), 7);
    const ranges = chains.slice(1, -1);
    // 8 blocks of 4 MiB; the first holds the driver's pages.
    assert.equal(ranges.length, 7);
    assert.ok(ranges.every((c) => c.descriptors.length === 1 && c.descriptors[0]?.len === 4 * MiB && c.descriptors[0].writeOnly));
    assert.equal(chains.at(-1)?.descriptors[0]?.len, 4);
    assert.equal(cmd(chains.length - 1), 0, 'the run ends with STOP (0), as Linux sends it');
    assert.equal(driver.hintedPages, 7 * 1024);
    assert.equal(driver.freePages, 1024 - driver.driverPages);
    // The same id again: nothing new.
    fake.setConfig('free_page_hint_cmd_id', 7);
    assert.equal(fake.on('hint').length, chains.length);
    fake.setConfig('free_page_hint_cmd_id', 1);
    assert.equal(driver.hintedPages, 0);
    assert.equal(driver.freePages, 8 * 1024 - driver.driverPages);
    assert.equal(driver.activity.hintedBlocksReturned, 7);
  });

  test('a host that changes the id in the middle of a run ends it; hinted blocks go back under memory pressure', () => {
    const { fake, driver, workload } = setUp(ALL, { memoryMiB: 32, withWorkload: true });
    assert.ok(workload);
    driver.probe();
    let ranges = 0;
    const original = fake.device.write.bind(fake.device);
    fake.device.write = (offset, data) => {
      original(offset, data);
      if (offset === MMIO_REGISTER.queueNotify && data[0] === 3 && ++ranges === 3) fake.setConfig('free_page_hint_cmd_id', 0);
    };
    fake.setConfig('free_page_hint_cmd_id', 9);
    // cmd 9, two blocks, then the STOP from the host is seen: STOP from the guest ends the run.
    assert.deepEqual(fake.on('hint').map((c) => c.descriptors[0]?.len), [4, 4 * MiB, 4 * MiB, 4]);
    assert.equal(driver.hintedPages, 2 * 1024);
    fake.device.write = original;
    // Memory pressure: the workload needs every page; hinted blocks come back first (shrinker).
    workload.allocate(driver.freePages + 100);
    assert.equal(driver.hintedPages, 1024);
    assert.equal(fake.on('deflate').length, 0);
  });
});

describe('SimulatedBalloonDriver: deflate on OOM', () => {
  test('an allocation that finds no free page deflates 256 pages and updates actual_pages; the balloon does not grow back', () => {
    const { fake, driver, workload } = setUp([F.statsVq, F.deflateOnOom], { withWorkload: true, memoryMiB: 8 });
    assert.ok(workload);
    driver.probe();
    fake.setConfig('num_pages', 1024);
    workload.allocate(driver.freePages);
    assert.equal(driver.freePages, 0);
    assert.equal(workload.allocate(10), 10);
    assert.equal(fake.on('deflate').length, 1);
    assert.equal(fake.pfns(fake.on('deflate')[0]).length, 256);
    assert.equal(fake.actualPages, 1024 - 256);
    assert.equal(driver.freePages, 246);
    assert.equal(driver.activity.oomDeflations, 1);
    driver.tick(0);
    assert.equal(fake.on('inflate').length, 4, 'no re-inflation until the target changes');
    assert.equal(driver.stats().alloc_stall, 1);
  });

  test('without DEFLATE_ON_OOM the allocation fails and the balloon keeps its pages', () => {
    const { fake, driver, workload } = setUp([F.statsVq], { withWorkload: true, memoryMiB: 8 });
    assert.ok(workload);
    driver.probe();
    fake.setConfig('num_pages', 1024);
    workload.allocate(driver.freePages);
    assert.equal(workload.allocate(10), 0);
    assert.equal(fake.on('deflate').length, 0);
    assert.equal(fake.actualPages, 1024);
    assert.equal(driver.stats().oom_kill, 1);
  });
});

describe('SimulatedBalloonDriver: a misbehaving device', () => {
  test('a corrupted used ring marks the driver broken; it stops using the device until probed again', () => {
    const { fake, driver } = setUp();
    driver.probe();
    const inflate = fake.device.queues[0];
    assert.ok(inflate);
    fake.memory.writeU16(inflate.usedRing + 2n, 4000);
    fake.device.raise(1);
    assert.ok(driver.broken instanceof DeviceProtocolError);
    const writes = fake.device.log.length;
    fake.setConfig('num_pages', 10);
    driver.tick(0);
    assert.equal(fake.device.log.length, writes, 'no register access once broken');
    driver.probe();
    assert.equal(driver.broken, undefined);
    // Probed again, the driver moves to the target at once, as Linux's probe does.
    assert.equal(fake.actualPages, 10);
    fake.setConfig('num_pages', 20);
    assert.equal(fake.actualPages, 20);
  });

  test('probing again drops the old session whole: its balloon, a round in flight, hinted blocks and a reporting chain go back to the allocator', () => {
    // Queues of 4: a reporting chain of 4 chunks leaves free blocks for hinting.
    const { fake, driver } = setUp(ALL, { memoryMiB: 64, reportingIntervalMs: 0, maxQueueSize: 4 });
    driver.probe();
    fake.setConfig('num_pages', 300);
    fake.hold.add('inflate');
    fake.setConfig('num_pages', 600);
    fake.hold.add('report');
    driver.tick(0);
    fake.setConfig('free_page_hint_cmd_id', 5);
    const model = driver.model;
    assert.deepEqual([model.pages('balloon'), driver.balloonPages], [300 + 256, 300], 'a round of 256 is in flight');
    assert.equal(model.pages('reporting'), 4 * 512);
    const hintedBlocks = model.pages('hinting') / 1024;
    assert.ok(hintedBlocks > 0);
    const returned = driver.activity.hintedBlocksReturned;
    fake.hold.clear();
    // The target and the command id settle first, so that the new session has nothing to do.
    fake.setConfig('num_pages', 0);
    fake.setConfig('free_page_hint_cmd_id', 0);
    driver.probe();
    assert.deepEqual([model.pages('balloon'), model.pages('hinting'), model.pages('reporting')], [0, 0, 0]);
    assert.equal(driver.freePages, driver.totalPages - driver.driverPages);
    assert.deepEqual([driver.balloonPages, driver.actualPages, driver.hintedPages], [0, 0, 0]);
    assert.equal(driver.activity.hintedBlocksReturned - returned, hintedBlocks);
  });

  test('DEVICE_NEEDS_RESET with a configuration interrupt stops the driver', () => {
    const { fake, driver } = setUp();
    driver.probe();
    fake.device.status |= 64;
    fake.device.raise(2);
    assert.match(driver.broken?.message ?? '', /DEVICE_NEEDS_RESET/);
  });
});
