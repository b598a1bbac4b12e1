/**
 * Linux's own virtio_balloon driver against our `Balloon`, in v86, through `vmm-metrics/v86`:
 * Debian's i386 kernel (the guest fixtures) boots once for the whole file, binds `virtio_pci` and
 * `virtio_balloon` to our PCI function, and the steps below run in order on that one guest,
 * checking what the guest says on its serial console (/init's `VMM-GUEST` reports: MemTotal,
 * /proc/vmstat's balloon counters) against what our device and its metrics say.
 *
 * The balloon offers statistics (every second), free page hinting and free page reporting, and
 * not VIRTIO_BALLOON_F_DEFLATE_ON_OOM: without it Linux takes inflated pages out of MemTotal
 * (`adjust_managed_page_count`), which is how the guest shows the balloon's size. The guest has
 * 256 MiB: Linux reports free pages in 4 MiB blocks (pageblock order 10 on a non-PAE i386 kernel)
 * only while a zone keeps 32 of them free above its low watermark (`PAGE_REPORTING_CAPACITY`), so
 * 128 MiB would never report.
 *
 * The last step resets the machine mid-inflation (`restart()`): the device is reset at once, and
 * writes nothing at the rings of the driver that was. v86 boots a bzImage from the RAM it loaded it
 * into, which the boot overwrote, so the guest does not come back.
 *
 * Every metric is in a `FirecrackerMetrics` document of the test's own, written once a second by
 * `Metrics` to a file that the real `vmm-metrics validate` checks at the end. Notifications are
 * counted on their way to the device by a pass-through `VirtioDevice` (no stand-in: the balloon
 * does the work), so "once per queue processing" is checked against the guest's actual kicks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { V86 } from 'v86';
import { FREE_PAGE_HINT_DONE, FREE_PAGE_HINT_STOP } from '../../src/devices/virtio/balloon/abi.js';
import { Balloon } from '../../src/devices/virtio/balloon/device.js';
import type { ActivationContext, VirtioDevice } from '../../src/devices/virtio/device.js';
import { FirecrackerMetrics } from '../../src/document/firecracker-metrics.js';
import { Metrics } from '../../src/metrics/writer.js';
import { attachVirtioPci, loadV86, SerialConsole, v86Cpu, type V86VirtioPci } from '../../src/v86/index.js';
import { runCli } from '../cli/helpers.js';
import { guestFixtures, guestOrSkip, parseGuestLine, v86Images } from '../support/guest-fixtures.js';

const MIB = 1024 * 1024;
const GUEST_MIB = 256;
const TARGET_MIB = 32;
const PAGES_PER_MIB = 256;
/** Linux sends at most this many frame numbers per inflate or deflate kick (VIRTIO_BALLOON_ARRAY_PFNS_MAX). */
const LINUX_PFNS_PER_KICK = 256;
/** The 4 MiB blocks Linux reports and hints on this kernel (order 10). */
const LINUX_BLOCK = 4 * MIB;
const QUEUE = { inflate: 0, deflate: 1, stats: 2 } as const;
/** Virtio balloon feature bits (virtio 1.2, 5.5.3). */
const F_STATS_VQ = 1n << 1n;
const F_FREE_PAGE_HINT = 1n << 3n;
const F_PAGE_REPORTING = 1n << 5n;

/** The real balloon, with the guest's notifications counted on their way in, per queue. */
class CountedDevice implements VirtioDevice {
  readonly notified = new Map<number, number>();
  constructor(readonly inner: Balloon) {}
  get deviceType(): number {
    return this.inner.deviceType;
  }
  get queueMaxSizes(): readonly number[] {
    return this.inner.queueMaxSizes;
  }
  get availableFeatures(): bigint {
    return this.inner.availableFeatures;
  }
  get activated(): boolean {
    return this.inner.activated;
  }
  ackFeatures(features: bigint): void {
    this.inner.ackFeatures(features);
  }
  readConfig(offset: number, data: Uint8Array): void {
    this.inner.readConfig(offset, data);
  }
  writeConfig(offset: number, data: Uint8Array): void {
    this.inner.writeConfig(offset, data);
  }
  activate(context: ActivationContext): void {
    this.inner.activate(context);
  }
  notifyQueue(index: number): void {
    this.notified.set(index, this.count(index) + 1);
    this.inner.notifyQueue(index);
  }
  reset(): void {
    this.inner.reset();
  }
  count(index: number): number {
    return this.notified.get(index) ?? 0;
  }
}

interface Guest {
  readonly emulator: V86;
  readonly serial: SerialConsole;
  readonly vm: FirecrackerMetrics;
  readonly writer: Metrics<FirecrackerMetrics>;
  readonly metricsPath: string;
  readonly dir: string;
  readonly balloon: Balloon;
  readonly device: CountedDevice;
  readonly pci: V86VirtioPci;
  readonly bootSeconds: number;
  /** MemTotal before the balloon took anything, in kB. */
  readonly memTotalKb: number;
}

/** Polls `condition` every 100 ms until it holds; fails after `timeoutMs`, naming `what` and the guest's last lines. */
async function until(guest: Guest, what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; the guest's last lines:\n${guest.serial.lines.slice(-8).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A `VMM-GUEST` memory report's fields by name (`mem_total_kb`, `balloon_inflate`, …), or undefined. */
function parseReport(line: string): Record<string, number> | undefined {
  const parsed = parseGuestLine(line);
  return parsed?.kind === 'memory' ? Object.fromEntries(parsed.fields) : undefined;
}

/** The next /init report that satisfies `accept`. */
async function nextReport(guest: Guest, accept: (report: Record<string, number>) => boolean, timeoutMs: number): Promise<Record<string, number>> {
  const line = await guest.serial.waitForLine(
    (l) => {
      const report = parseReport(l);
      return report !== undefined && accept(report);
    },
    { from: guest.serial.lineCount, timeoutMs },
  );
  return parseReport(line) ?? {};
}

/**
 * The report after the first that satisfies `reached`: /init reads /proc/meminfo before
 * /proc/vmstat, so the report in which the counter arrives may show MemTotal from just before.
 */
async function settledReport(guest: Guest, reached: (report: Record<string, number>) => boolean): Promise<Record<string, number>> {
  await nextReport(guest, reached, 10_000);
  const report = await nextReport(guest, () => true, 5_000);
  assert.ok(reached(report), JSON.stringify(report));
  return report;
}

const manifest = guestFixtures();

if (manifest === undefined) {
  test('Linux drives the balloon through vmm-metrics/v86', (t) => {
    // Skips loudly, or fails under VMM_METRICS_REQUIRE_GUEST=1 (CI, which fetches the guest).
    guestOrSkip(t);
  });
} else {
  const images = v86Images(manifest);
  describe('Linux drives the balloon through vmm-metrics/v86, one boot for every step', { timeout: 240_000 }, () => {
    let guest: Guest | undefined;
    const ready = (): Guest => {
      assert.ok(guest, 'the guest did not boot');
      return guest;
    };

    /** What the set-up created so far, stopped in `after` even if the boot failed. */
    const made: { emulator?: V86; serial?: SerialConsole; writer?: Metrics<FirecrackerMetrics>; balloon?: Balloon; dir?: string } = {};

    before(async () => {
      const started = Date.now();
      const dir = (made.dir = mkdtempSync(join(tmpdir(), 'vmm-metrics-v86-')));
      const vm = new FirecrackerMetrics();
      const balloon = (made.balloon = new Balloon(
        { amount_mib: 0, deflate_on_oom: false, stats_polling_interval_s: 1, free_page_hinting: true, free_page_reporting: true },
        { metrics: vm.balloon },
      ));
      const device = new CountedDevice(balloon);
      const emulator = (made.emulator = await loadV86({
        ...images,
        memory_size: GUEST_MIB * MIB,
        // v86's own balloon is off unless asked for (virtio_balloon: true).
        virtio_balloon: false,
      }));
      const pci = attachVirtioPci(emulator, device);
      const serial = (made.serial = new SerialConsole(emulator));
      const metricsPath = join(dir, 'metrics.json');
      const writer = (made.writer = new Metrics(vm));
      writer.init(metricsPath, { flushIntervalMs: 1000 });
      await emulator.run();
      const first = await serial.waitForLine(/^VMM-GUEST seq=/, { timeoutMs: 150_000 });
      guest = {
        emulator,
        serial,
        vm,
        writer,
        metricsPath,
        dir,
        balloon,
        device,
        pci,
        bootSeconds: (Date.now() - started) / 1000,
        memTotalKb: parseReport(first)?.['mem_total_kb'] ?? Number.NaN,
      };
    });

    after(async () => {
      made.writer?.close();
      made.serial?.close();
      made.balloon?.reset();
      await made.emulator?.destroy();
      if (made.dir !== undefined) rmSync(made.dir, { recursive: true, force: true });
    });

    test('boot: virtio_pci and virtio_balloon bind our function; the driver accepts statistics, hinting and reporting', () => {
      const g = ready();
      console.log(`# guest booted to its first report in ${g.bootSeconds.toFixed(1)} s`);
      const pciLine = g.serial.lines.find((l) => l.startsWith('VMM-GUEST-PCI ')) ?? '';
      assert.match(pciLine, new RegExp(`0000:00:0e\\.0=0x1af4:0x1045:virtio-pci`), pciLine);
      assert.match(g.serial.lines.find((l) => l.startsWith('VMM-GUEST-VIRTIO ')) ?? '', /=0x0005:virtio_balloon/);
      assert.equal(g.pci.transport.status, 0x0f, 'ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK');
      assert.equal(g.balloon.activated, true);
      const acked = g.balloon.ackedFeatures;
      assert.equal(acked & (F_STATS_VQ | F_FREE_PAGE_HINT | F_PAGE_REPORTING), F_STATS_VQ | F_FREE_PAGE_HINT | F_PAGE_REPORTING, acked.toString(2));
      assert.notEqual(g.pci.ioPort, 0x9000, 'the BIOS moved the I/O BAR');
      assert.ok(g.pci.interruptLine > 0 && g.pci.interruptLine < 16, `IRQ ${g.pci.interruptLine}`);
      assert.ok(Number.isInteger(g.memTotalKb) && g.memTotalKb > 200 * 1024, `MemTotal ${g.memTotalKb} kB`);
    });

    test('a 32 MiB target: actual_pages reaches 8,192, MemTotal falls by 32 MiB, inflate_count moves once per kick', async () => {
      const g = ready();
      const kicks = g.device.count(QUEUE.inflate);
      const counted = g.vm.balloon.inflate_count.count();
      g.balloon.updateSize(TARGET_MIB);
      await until(g, 'actual_pages 8192', () => g.balloon.actualPages === TARGET_MIB * PAGES_PER_MIB, 20_000);
      assert.equal(g.balloon.latestStats().actual_pages, 8192);
      const report = await settledReport(g, (r) => r['balloon_inflate'] === TARGET_MIB * PAGES_PER_MIB);
      assert.equal(report['mem_total_kb'], g.memTotalKb - TARGET_MIB * 1024, 'MemTotal fell by exactly 32 MiB');
      const processed = g.vm.balloon.inflate_count.count() - counted;
      assert.equal(processed, g.device.count(QUEUE.inflate) - kicks, 'one inflate_count per notification');
      assert.ok(processed >= (TARGET_MIB * PAGES_PER_MIB) / LINUX_PFNS_PER_KICK, `${processed} kicks for 8,192 pages`);
      assert.equal(g.vm.balloon.deflate_count.count(), 0);
      assert.equal(g.balloon.releasedBytes().inflate, TARGET_MIB * MIB, 'every page given was zeroed (nothing is released to the host in v86)');
      assert.equal(g.pci.memory.residentBytes(), GUEST_MIB * MIB);
    });

    test("latestStats() carries Linux's figures; stats_updates_count moves once per polling interval", async () => {
      const g = ready();
      const before = g.vm.balloon.stats_updates_count.count();
      const kicks = g.device.count(QUEUE.stats);
      const started = Date.now();
      const report = await nextReport(g, () => true, 5_000);
      await new Promise((resolve) => setTimeout(resolve, 3_200));
      const seconds = (Date.now() - started) / 1000;
      const moved = g.vm.balloon.stats_updates_count.count() - before;
      assert.equal(moved, g.device.count(QUEUE.stats) - kicks, 'one stats_updates_count per notification');
      assert.ok(moved >= Math.floor(seconds) - 1 && moved <= Math.ceil(seconds) + 1, `${moved} updates in ${seconds.toFixed(1)} s at 1 s`);
      const stats = g.balloon.latestStats();
      assert.equal(stats.total_memory, (report['mem_total_kb'] ?? 0) * 1024, "total_memory is the guest's MemTotal");
      for (const name of ['free_memory', 'available_memory', 'disk_caches', 'minor_faults', 'major_faults', 'swap_in', 'swap_out'] as const) {
        assert.equal(typeof stats[name], 'number', `${name}: ${String(stats[name])}`);
      }
      assert.ok(Number(stats.free_memory) > 0 && Number(stats.free_memory) < stats.total_memory);
      assert.ok(Number(stats.minor_faults) > 0, 'the guest has faulted pages in');
      assert.equal(stats.target_mib, TARGET_MIB);
      assert.equal(stats.actual_mib, TARGET_MIB);
      assert.equal(g.vm.balloon.stats_update_fails.count(), 0, 'every tag Linux 6.1 sends is known');
    });

    test('deflating to 0 restores MemTotal; deflate_count moves once per kick', async () => {
      const g = ready();
      const kicks = g.device.count(QUEUE.deflate);
      g.balloon.updateSize(0);
      await until(g, 'actual_pages 0', () => g.balloon.actualPages === 0, 20_000);
      const report = await settledReport(g, (r) => r['balloon_deflate'] === TARGET_MIB * PAGES_PER_MIB);
      assert.equal(report['mem_total_kb'], g.memTotalKb, 'MemTotal is back');
      const processed = g.vm.balloon.deflate_count.count();
      assert.equal(processed, g.device.count(QUEUE.deflate) - kicks);
      assert.ok(processed >= (TARGET_MIB * PAGES_PER_MIB) / LINUX_PFNS_PER_KICK, `${processed} kicks for 8,192 pages`);
    });

    test('free page reporting: the 4 MiB blocks Linux reports are discarded and counted', async () => {
      const g = ready();
      // Linux reports free 4 MiB blocks 2 s after one is freed; with 256 MiB that starts soon after
      // boot, and the deflated pages give it more.
      await until(g, 'a free page report', () => g.vm.balloon.free_page_report_count.count() > 0, 15_000);
      const count = g.vm.balloon.free_page_report_count.count();
      const freed = g.vm.balloon.free_page_report_freed.count();
      console.log(`# free page reporting: ${count} ranges, ${freed / MIB} MiB`);
      assert.equal(g.vm.balloon.free_page_report_fails.count(), 0);
      assert.equal(freed % LINUX_BLOCK, 0, `${freed} bytes: whole 4 MiB blocks`);
      assert.ok(freed >= count * LINUX_BLOCK, `${count} ranges, ${freed} bytes`);
      assert.ok(g.balloon.releasedBytes().reporting > 0);
    });

    test('free page hinting: a run the guest answers moves free_page_hint_*', async () => {
      const g = ready();
      g.balloon.startHinting();
      const run = g.balloon.hintingStatus().host_cmd;
      await until(g, "the guest's STOP and the host's DONE", () => {
        const status = g.balloon.hintingStatus();
        return status.guest_cmd === FREE_PAGE_HINT_STOP && status.host_cmd === FREE_PAGE_HINT_DONE;
      }, 15_000);
      const count = g.vm.balloon.free_page_hint_count.count();
      const freed = g.vm.balloon.free_page_hint_freed.count();
      console.log(`# free page hinting, run ${run}: the guest hinted ${count} ranges, ${freed / MIB} MiB`);
      assert.ok(count > 0, 'Linux 6.1 takes part in hinting');
      assert.equal(freed, count * LINUX_BLOCK, 'Linux hints whole 4 MiB blocks');
      assert.equal(g.vm.balloon.free_page_hint_fails.count(), 0);
      // The hinted pages are the guest's again after DONE: it keeps running and reporting.
      await nextReport(g, () => true, 5_000);
      assert.equal(g.balloon.needsReset, false);
      assert.equal(g.vm.balloon.event_fails.count(), 0);
    });

    test('the flushed lines — the whole Firecracker document — pass `vmm-metrics validate`', async () => {
      const g = ready();
      g.writer.write();
      // The last line: no timer flush between the reading below and the command's.
      g.writer.close();
      const text = readFileSync(g.metricsPath, 'utf8');
      const lines = text.trimEnd().split('\n');
      assert.ok(lines.length >= 10, `${lines.length} lines`);
      const total = (field: string): number =>
        lines.reduce((sum, line) => sum + Number((JSON.parse(line) as { balloon: Record<string, number> }).balloon[field]), 0);
      assert.equal(total('inflate_count'), g.vm.balloon.inflate_count.count(), 'the lines carry every inflate');
      assert.equal(total('free_page_hint_freed'), g.vm.balloon.free_page_hint_freed.count());
      const result = await runCli(['validate', g.metricsPath]);
      assert.equal(result.stderr, '');
      assert.equal(result.status, 0);
      assert.equal(result.stdout, `${g.metricsPath}: ${lines.length} lines, all valid\n`);
    });

    // Last: v86 boots a bzImage from the RAM it loaded it into, which this boot overwrote, so the
    // guest does not come back from a reset.
    test("a reset of the machine mid-inflation resets the device at once: nothing is written at the old driver's rings", async () => {
      const g = ready();
      g.balloon.updateSize(TARGET_MIB);
      const deadline = Date.now() + 20_000;
      while (g.balloon.actualPages === 0) {
        if (Date.now() > deadline) assert.fail(`the inflation did not start; the guest's last lines:\n${g.serial.lines.slice(-8).join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(g.balloon.actualPages < TARGET_MIB * PAGES_PER_MIB, `${g.balloon.actualPages} pages already: not mid-inflation`);
      // The rings of the driver that was: once the machine is reset, nothing may be written there.
      // Every write the device makes into v86's RAM is reported to v86's JIT (v86's own loading of
      // the BIOS too, elsewhere).
      const rings = g.pci.transport.queues.flatMap((queue) => [
        [Number(queue.descTable), Number(queue.descTable) + 16 * queue.size],
        [Number(queue.availRing), Number(queue.availRing) + 6 + 2 * queue.size],
        [Number(queue.usedRing), Number(queue.usedRing) + 6 + 8 * queue.size],
      ]);
      const cpu = v86Cpu(g.emulator);
      const jit = cpu as { jit_dirty_cache: (start: number, end: number) => void };
      const dirty = jit.jit_dirty_cache;
      const writes: string[] = [];
      jit.jit_dirty_cache = (start, end) => {
        if (rings.some(([from = 0, to = 0]) => start < to && end > from)) writes.push(`0x${start.toString(16)}–0x${end.toString(16)}`);
        dirty.call(cpu, start, end);
      };
      try {
        g.emulator.restart();
        assert.equal(g.balloon.activated, false, 'the device was reset with the machine');
        assert.equal(g.pci.transport.status, 0);
        // Longer than the statistics interval (1 s): the timer wrote used.idx within 0.2 s.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.deepEqual(writes, [], "the device wrote at the old driver's rings");
      } finally {
        jit.jit_dirty_cache = dirty;
      }
    });
  });
}
