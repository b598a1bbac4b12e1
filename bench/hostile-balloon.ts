/**
 * `npm run bench:hostile`: what a hostile guest costs its host through the balloon (issue 16 §3),
 * on both guest memories — v86's RAM (`FlatGuestMemory`, where a discard zeroes; the real v86
 * RAM and JIT when the guest fixtures are there) and the sparse `GuestMemory` — of 256 MiB each.
 *
 * 1. **The notification**: 256 chains × 256 descriptors, each naming the RAM above the rings, on
 *    the reporting queue. The host CPU time (`process.cpuUsage`) of the `notifyQueue` call and of
 *    each later turn that goes on with it; on the flat memory the first turns only (the whole
 *    queue zeroes 65,536 × 256 MiB). Beside it, one chain of 16 such ranges served with no bound
 *    per turn (as before the bound), per range: the time the whole notification took then.
 * 2. **A timer while the guest kicks in a loop**: a 10 ms `setInterval` runs for 3 s while, in
 *    every turn of the event loop, the guest gives back every chain it got and kicks 1,000 times;
 *    its worst lateness (time between two ticks, less 10 ms).
 *
 * Not a test: it prints figures and never fails on one.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { Balloon } from '../src/devices/virtio/balloon/device.js';
import { BalloonDeviceMetrics } from '../src/devices/virtio/balloon/metrics.js';
import type { InterruptLine } from '../src/devices/virtio/device.js';
import { FlatGuestMemory } from '../src/vstate/flat-memory.js';
import { GuestMemory, PAGE_SIZE, type GuestMemoryAccess } from '../src/vstate/memory.js';
import { loadV86, v86GuestMemory } from '../src/v86/index.js';
import { deviceQueue, layoutQueue, pushAvail, putChain, usedEntries, type QueueLayout } from '../test/devices/virtio/support/index.js';
import { guestFixtures, v86Images } from '../test/support/guest-fixtures.js';

const MIB = 1024 * 1024;
const GUEST_BYTES = 256 * MIB;
/** The rings live below this; the hostile ranges start here. */
const RINGS_END = 0x1_0000;
const REPORTING = 2;
/** Turns of the flat memory's notification measured (each zeroes up to 256 MiB). */
const FLAT_TURNS = 12;

const silentLine: InterruptLine = { raise: () => undefined, needsReset: () => undefined };

function cpuMs(body: () => void): number {
  const start = process.cpuUsage();
  body();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

interface Device {
  readonly balloon: Balloon;
  readonly layout: QueueLayout;
  readonly metrics: BalloonDeviceMetrics;
}

function device(memory: GuestMemoryAccess, queueSize: number, options: { unbounded?: boolean } = {}): Device {
  const metrics = BalloonDeviceMetrics.create();
  const balloon = new Balloon(
    { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 0, free_page_reporting: true },
    { metrics, ...(options.unbounded === true ? { maxDiscardBytesPerTurn: 2 ** 52 } : {}) },
  );
  const layouts = balloon.queueMaxSizes.map((_, i) => layoutQueue(memory, 0x1000 + i * 0x2000, queueSize));
  balloon.activate({ memory, queues: layouts.map((layout) => deviceQueue(layout)), interrupt: silentLine });
  const layout = layouts[REPORTING];
  if (layout === undefined) throw new Error('no reporting queue');
  return { balloon, layout, metrics };
}

/** `chains` chains of `ranges` ranges, each the RAM above the rings (one chain made available `chains` times when the table is full). */
function hostile(memory: GuestMemoryAccess, layout: QueueLayout, chains: number, ranges: number): void {
  const buffers = Array.from({ length: ranges }, () => ({ addr: RINGS_END, len: memory.size - RINGS_END, writeOnly: true }));
  const head = putChain(memory, layout, buffers);
  for (let i = 1; i < chains; i++) {
    if (chains * ranges <= layout.size) putChain(memory, layout, buffers);
    else pushAvail(memory, layout, head);
  }
}

async function notification(name: string, memory: GuestMemoryAccess, maxTurns: number): Promise<void> {
  const { balloon, layout, metrics } = device(memory, 256);
  hostile(memory, layout, 256, 256);
  const first = cpuMs(() => {
    balloon.notifyQueue(REPORTING);
  });
  const turns: number[] = [];
  let returned = usedEntries(memory, layout).length;
  while (returned < 256 && turns.length < maxTurns) {
    const start = process.cpuUsage();
    await nextTurn();
    const used = process.cpuUsage(start);
    turns.push((used.user + used.system) / 1000);
    returned += usedEntries(memory, layout).length;
  }
  const ranges = metrics.free_page_report_count.count();
  const worst = Math.max(...turns);
  const median = [...turns].sort((a, b) => a - b)[Math.floor(turns.length / 2)] ?? Number.NaN;
  console.log(
    `${name}: the notification ${first.toFixed(1)} ms of CPU; then ${turns.length} turns, median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms` +
      (returned < 256 ? ` (stopped there: ${ranges} of 65,536 ranges begun, ${returned} of 256 chains back)` : `; all 256 chains back, ${ranges} ranges`),
  );
  balloon.reset();
  // As before the bound: one chain of 16 such ranges, served before notifyQueue returns.
  const before = device(memory, 16, { unbounded: true });
  hostile(memory, before.layout, 1, 16);
  const ms = cpuMs(() => {
    before.balloon.notifyQueue(REPORTING);
  });
  console.log(`${name}, with no bound per turn: ${((ms / 16) * 1000).toFixed(0)} µs a range, so ${((ms / 16) * 65_536 / 1000).toFixed(1)} s of CPU for the notification, at once`);
  before.balloon.reset();
}

async function timerWhileKicking(name: string, memory: GuestMemoryAccess): Promise<void> {
  const { balloon, layout } = device(memory, 256);
  hostile(memory, layout, 256, 256);
  let stop = false;
  let kicks = 0;
  const guest = (async () => {
    while (!stop) {
      for (const element of usedEntries(memory, layout)) pushAvail(memory, layout, element.id);
      for (let i = 0; i < 1000; i++) balloon.notifyQueue(REPORTING);
      kicks += 1000;
      await nextTurn();
    }
  })();
  const lateness: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lateness.push(now - last - 10);
    last = now;
  }, 10);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  clearInterval(timer);
  stop = true;
  await guest;
  balloon.reset();
  lateness.sort((a, b) => a - b);
  const worst = lateness.at(-1) ?? Number.NaN;
  const p99 = lateness[Math.floor(lateness.length * 0.99)] ?? Number.NaN;
  console.log(`${name}: a 10 ms timer ticked ${lateness.length} times in 3 s while the guest kicked ${kicks} times; lateness worst ${worst.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
}

async function flatMemory(): Promise<{ name: string; memory: GuestMemoryAccess; close: () => Promise<void> }> {
  const manifest = guestFixtures();
  if (manifest === undefined) {
    const ram = new Uint8Array(GUEST_BYTES);
    return { name: 'flat RAM (a Uint8Array: no guest fixtures for v86)', memory: new FlatGuestMemory({ bytes: () => ram }), close: () => Promise.resolve() };
  }
  // v86 loaded, never run: its RAM and JIT are what the device writes through.
  const emulator = await loadV86({ ...v86Images(manifest), memory_size: GUEST_BYTES, virtio_balloon: false });
  const memory = v86GuestMemory(emulator);
  // Every page touched once, as a guest that ran has: the first zeroing is not the host's first
  // touch of the page.
  memory.write(0, new Uint8Array(GUEST_BYTES).fill(1));
  return { name: "v86's RAM", memory, close: () => emulator.destroy() };
}

async function main(): Promise<void> {
  const flat = await flatMemory();
  const sparse = new GuestMemory(GUEST_BYTES);
  // Resident, as a guest that has used its memory: the first range releases it all.
  for (let page = RINGS_END / PAGE_SIZE; page < GUEST_BYTES / PAGE_SIZE; page++) sparse.write(page * PAGE_SIZE, new Uint8Array([1]));
  console.log(`# issue 16 §3: 256 chains × 256 ranges of ${(GUEST_BYTES - RINGS_END) / MIB} MiB, guests of ${GUEST_BYTES / MIB} MiB`);
  await notification(flat.name, flat.memory, FLAT_TURNS);
  await notification('sparse GuestMemory', sparse, 10_000);
  await timerWhileKicking(flat.name, flat.memory);
  await timerWhileKicking('sparse GuestMemory', sparse);
  await flat.close();
}

await main();
