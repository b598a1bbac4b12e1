/**
 * Inflating the balloon of a 1 GiB guest by (nearly) 1 GiB through the virtqueues — 262,144
 * page frame numbers minus the few pages the driver's rings live in, the simulated driver
 * included: it allocates the pages, fills descriptors of 256 frames, notifies, and the device
 * reads them, compacts them into ranges and discards them — against discarding the very same
 * pages directly from `GuestMemory`, one `discardRange` per page, in a loop.
 *
 * One guest serves every run, as a VM's balloon goes up and down over its life: before each run
 * (untimed) the balloon deflates to 0 and every free page is written again, so both sides
 * release real, resident memory; then a `gc()`, and the timed inflation. The baseline discards
 * the same number of resident pages of a guest of its own. The figure is the median of 7 runs
 * of each side, interleaved, after one run of each to warm up. Reported with the host memory the
 * guest holds before and after, and pages per second.
 */
import { Balloon } from '../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../src/devices/virtio/balloon/metrics.js';
import { MmioTransport } from '../src/devices/virtio/transport/mmio.js';
import { SimulatedBalloonDriver } from '../src/guest/balloon-driver.js';
import { GuestMemoryModel } from '../src/guest/memory-model.js';
import { GuestMemory, PAGE_SIZE } from '../src/vstate/memory.js';
import { median } from './ratio.js';

const GUEST_MIB = 1024;
const RUNS = 7;

export interface InflationResult {
  readonly name: string;
  readonly ratio: number;
  readonly goal: number;
  readonly pages: number;
  readonly pagesPerSecond: number;
  readonly baselinePagesPerSecond: number;
  readonly residentBeforeBytes: number;
  readonly residentAfterBytes: number;
}

interface Guest {
  readonly memory: GuestMemory;
  readonly balloon: Balloon;
  readonly driver: SimulatedBalloonDriver;
  /** Runs the driver's pending work until there is none. */
  readonly drain: () => void;
}

/** A guest with its driver probed and its work run synchronously, by `drain()`. */
function bootGuest(): Guest {
  const memory = new GuestMemory(GUEST_MIB * 1024 * 1024);
  const work: (() => void)[] = [];
  const drain = (): void => {
    for (let next = work.shift(); next !== undefined; next = work.shift()) next();
  };
  // `drain()` runs everything at once, in one turn of the event loop: the turn's bound on
  // discards (256 MiB by default) is lifted, so that the inflation timed is the whole gigabyte.
  const balloon = new Balloon(
    { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0 },
    { metrics: BalloonDeviceMetrics.create(), maxDiscardBytesPerTurn: 2 ** 52 },
  );
  const guest: { driver?: SimulatedBalloonDriver } = {};
  const mmio = new MmioTransport(balloon, memory, {
    onInterrupt: () => {
      guest.driver?.handleInterrupt();
    },
  });
  const driver = (guest.driver = new SimulatedBalloonDriver({
    mmio,
    memory,
    features: { statsVq: false, deflateOnOom: false, freePageHint: false, pageReporting: false },
    schedule: (task) => work.push(task),
  }));
  driver.probe();
  drain();
  return { memory, balloon, driver, drain };
}

function touchFreePages(memory: GuestMemory, model: GuestMemoryModel): void {
  const one = new Uint8Array([1]);
  for (let pfn = 0; pfn < memory.size / PAGE_SIZE; pfn++) if (model.ownerOf(pfn) === 'free') memory.write(pfn * PAGE_SIZE, one);
}

/** Deflates, makes every free page resident, then times inflating the whole guest. */
function inflate(guest: Guest): { ms: number; pages: number; before: number; after: number } {
  const { memory, balloon, driver, drain } = guest;
  balloon.updateSize(0);
  drain();
  touchFreePages(memory, driver.model);
  globalThis.gc?.();
  const before = memory.residentBytes();
  const start = process.hrtime.bigint();
  balloon.updateSize(GUEST_MIB);
  drain();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, pages: driver.balloonPages, before, after: memory.residentBytes() };
}

/** Discards `pages` resident pages of `memory` one by one; returns the milliseconds it took. */
function discardDirectly(memory: GuestMemory, pages: number): number {
  const one = new Uint8Array([1]);
  for (let pfn = 0; pfn < pages; pfn++) memory.write(pfn * PAGE_SIZE, one);
  globalThis.gc?.();
  const start = process.hrtime.bigint();
  for (let pfn = 0; pfn < pages; pfn++) memory.discardRange(pfn * PAGE_SIZE, PAGE_SIZE);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (memory.residentBytes() !== 0) throw new Error('the direct discard left pages resident');
  return ms;
}

export function balloonInflation(): InflationResult {
  const guest = bootGuest();
  const direct = new GuestMemory(GUEST_MIB * 1024 * 1024);
  const subject: number[] = [];
  const baseline: number[] = [];
  let last = inflate(guest);
  discardDirectly(direct, last.pages);
  for (let run = 0; run < RUNS; run++) {
    last = inflate(guest);
    subject.push(last.ms);
    baseline.push(discardDirectly(direct, last.pages));
  }
  const subjectMs = median(subject);
  const baselineMs = median(baseline);
  return {
    name: 'inflate a 1 GiB guest by 1 GiB through the virtqueues ÷ discardRange per page',
    ratio: subjectMs / baselineMs,
    goal: 2,
    pages: last.pages,
    pagesPerSecond: (last.pages / subjectMs) * 1000,
    baselinePagesPerSecond: (last.pages / baselineMs) * 1000,
    residentBeforeBytes: last.before,
    residentAfterBytes: last.after,
  };
}
